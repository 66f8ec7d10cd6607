//! Checking a weights inventory against the layout its `config.json` implies: headers only.

use std::collections::HashSet;
use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::{Checkpoint, Dtype, ExpectedTensors};

/// Tensors some conversions keep that Kokoro does not use; they are skipped, not loaded
/// (`bert.embeddings.position_ids`, a buffer of the `.pth`).
pub(crate) fn is_ignored(name: &str) -> bool {
    name.contains("position_ids")
}

/// The first problem of `weights` (the inventory of `file`) against `layout`, in module order:
/// a missing tensor, a shape the config contradicts, a dtype that is not a float; then a tensor
/// the layout does not have (a config whose block counts differ from the checkpoint's).
pub(crate) fn check_weights(
    weights: &Checkpoint,
    layout: &ExpectedTensors,
    file: &Path,
) -> Result<(), BackendError> {
    layout.check_with(weights, |want, _, found| {
        check_float(found.dtype()).map_err(|reason| want.invalid(file, reason))
    })?;
    let known: HashSet<&str> = layout.iter().map(|t| t.name()).collect();
    if let Some(extra) = weights.names().find(|n| !known.contains(n)) {
        return Err(BackendError::Invalid {
            path: file.to_path_buf(),
            tensor: Some(extra.to_owned()),
            reason: "not part of Kokoro's layout for this config.json: do its block counts \
                     (n_layer, istftnet.upsample_rates, istftnet.resblock_kernel_sizes) match \
                     the checkpoint?"
                .to_owned(),
        });
    }
    Ok(())
}

/// Kokoro's tensors are floating point; anything else is a quantized or foreign checkpoint.
pub(crate) fn check_float(dtype: Dtype) -> Result<(), String> {
    if dtype.is_convertible_float() {
        Ok(())
    } else {
        Err(format!(
            "dtype {dtype}, expected a float (F32, BF16, F16 or F64): quantized checkpoints are not supported"
        ))
    }
}
