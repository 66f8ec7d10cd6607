//! The LTX-Video single-file checkpoint (docs/checkpoint-layouts.md §7.2).

use std::io;
use std::path::Path;

use serde_json::json;

use crate::out::Out;
use crate::report::FixtureReport;
use crate::safetensors_writer::Metadata;
use crate::scale::file_len;
use crate::{Dtype, TensorSpec, json};

use super::{LtxNaming, LtxSpec, config, original_vae_keys, transformer_keys};

/// `__metadata__ = {"config": "{\"transformer\": …, \"vae\": …, \"scheduler\": …}"}`, the original configs.
pub fn single_file_metadata(spec: &LtxSpec) -> Metadata {
    let config = json!({
        "transformer": spec.transformer.original_json(),
        "vae": spec.vae.original_json(),
        "scheduler": config::original_scheduler_json(),
    });
    Metadata::from([("config".to_owned(), json::compact_sorted(&config))])
}

/// The two parts of the file: `model.diffusion_model.*` (BF16, original names) and `vae.*` (F32, flat blocks,
/// `per_channel_statistics`).
pub fn single_file_keys(spec: &LtxSpec) -> [(&'static str, Vec<TensorSpec>); 2] {
    let t = transformer_keys(&spec.transformer, LtxNaming::Original, Dtype::BF16)
        .with_prefix("model.diffusion_model.");
    let v = original_vae_keys(&spec.vae, Dtype::F32, spec.extra_statistics).with_prefix("vae.");
    [("transformer", t.into_tensors()), ("vae", v.into_tensors())]
}

fn layout_size(spec: &LtxSpec) -> u64 {
    let all: Vec<TensorSpec> = single_file_keys(spec)
        .into_iter()
        .flat_map(|(_, t)| t)
        .collect();
    file_len(&all, Some(&single_file_metadata(spec)))
}

/// Writes `dir/<file_name>` (default `ltx-video-2b-v0.9.safetensors`): the BF16 transformer under
/// `model.diffusion_model.` and the F32 VAE under `vae.` in one file, with the configs in `__metadata__["config"]`,
/// the way LTX's own `tests/conftest.py` builds its synthetic checkpoint.
///
/// # Errors
///
/// Any I/O error.
pub fn write_ltx_single_file(dir: &Path, spec: &LtxSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled(layout_size);
    let mut out = Out::new(dir, spec.seed)?;
    let meta = single_file_metadata(&spec);
    out.safetensors_multi(&spec.file_name, single_file_keys(&spec).into(), Some(&meta))?;
    Ok(out.finish())
}
