//! A header-only view of one checkpoint for inferring configs: logical shapes (packed MLX
//! weights unpacked), block counts, and errors that name the file and the tensor.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::{Checkpoint, Dtype, FileInventory, TensorInfo};

use crate::error;

/// One checkpoint's tensor table, seen through an optional MLX quantization.
pub(crate) struct Shapes<'a> {
    ck: &'a Checkpoint,
    bits: Option<u8>,
    location: PathBuf,
}

impl<'a> Shapes<'a> {
    /// A view of `ck`; `bits` is the MLX quantization level of its packed `U32` weights.
    pub(crate) fn new(ck: &'a Checkpoint, bits: Option<u8>) -> Self {
        Self {
            ck,
            bits,
            location: ck.location().to_path_buf(),
        }
    }

    /// Where a missing tensor is reported: the single file, the index, or the folder.
    pub(crate) fn location(&self) -> &Path {
        &self.location
    }

    /// The checkpoint viewed.
    pub(crate) fn checkpoint(&self) -> &'a Checkpoint {
        self.ck
    }

    /// The quantization level the view unpacks with.
    pub(crate) fn bits(&self) -> Option<u8> {
        self.bits
    }

    /// Whether the checkpoint holds `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.ck.tensor(name).is_some()
    }

    /// The tensor `name` with its file.
    pub(crate) fn get(&self, name: &str) -> Option<(&'a FileInventory, &'a TensorInfo)> {
        self.ck.get(name)
    }

    /// The shape of `name` as the model sees it: a packed `U32` weight `[o, p]` is `[o, p·32/bits]`.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] when the tensor is missing (`why` says what it was needed for)
    /// or its packed width does not unpack to whole elements.
    pub(crate) fn logical(&self, name: &str, why: &str) -> Result<Vec<u64>, BackendError> {
        let Some((file, t)) = self.get(name) else {
            return Err(error::tensor(
                &self.location,
                name,
                format!("missing ({why})"),
            ));
        };
        let mut shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        if let (Some(bits), Dtype::U32, [_, packed]) = (self.bits, t.dtype(), &mut shape[..]) {
            let bits = u64::from(bits);
            let total = packed.saturating_mul(32);
            if total % bits != 0 {
                return Err(error::tensor(
                    file.path(),
                    name,
                    format!("packed width {packed} does not hold whole {bits}-bit values"),
                ));
            }
            *packed = total / bits;
        }
        Ok(shape)
    }

    /// Axis `axis` of [`logical`](Self::logical).
    ///
    /// # Errors
    /// As [`logical`](Self::logical), and when the tensor has fewer axes.
    pub(crate) fn dim(&self, name: &str, axis: usize, why: &str) -> Result<u64, BackendError> {
        let shape = self.logical(name, why)?;
        shape.get(axis).copied().ok_or_else(|| {
            let path = self.get(name).map_or(self.location(), |(f, _)| f.path());
            error::tensor(
                path,
                name,
                format!("shape {shape:?} has no axis {axis} ({why})"),
            )
        })
    }

    /// The number of numbered blocks under `prefix` (`"double_blocks."`): one more than the
    /// largest index, so a missing block in between is reported by the key check.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] for an index larger than the checkpoint's tensor count, which
    /// no real checkpoint has (and which would make the expected key table absurdly long).
    pub(crate) fn count(&self, prefix: &str) -> Result<u64, BackendError> {
        Ok(modelcache_weights::count_blocks(self.ck, prefix)?)
    }
}
