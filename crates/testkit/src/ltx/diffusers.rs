//! The LTX-Video diffusers tree (docs/checkpoint-layouts.md §7.8).
//!
//! Shard names and counts of `Lightricks/LTX-Video` are not verified. This follows the converter
//! (`scripts/convert_ltx_to_diffusers.py`): F32 by default, `max_shard_size="5GB"`, so the transformer comes in two
//! shards and the VAE in one file. The text encoder (T5-XXL, dtype unverified) is written F32 in two shards.

use std::io;
use std::path::Path;

use crate::out::Out;
use crate::report::FixtureReport;
use crate::safetensors_writer::Metadata;
use crate::scale::file_len;
use crate::{Dtype, tokenizers};

use super::{LtxNaming, LtxSpec, config, diffusers_vae_keys, transformer_keys};

fn format_pt() -> Metadata {
    Metadata::from([("format".to_owned(), "pt".to_owned())])
}

fn layout_size(spec: &LtxSpec) -> u64 {
    let m = format_pt();
    file_len(
        transformer_keys(&spec.transformer, LtxNaming::Diffusers, Dtype::F32).tensors(),
        Some(&m),
    ) + file_len(
        diffusers_vae_keys(&spec.vae, Dtype::F32).tensors(),
        Some(&m),
    ) + file_len(spec.t5.keys(Dtype::F32).tensors(), Some(&m))
}

/// Writes the diffusers tree into `dir`: `model_index.json`, `scheduler/`, `text_encoder/` (T5 config + shards +
/// index), `tokenizer/` (`T5Tokenizer` files), `transformer/` (config + F32 shards + index), `vae/` (config + one F32
/// file). Every weight file carries `{"format": "pt"}`.
///
/// # Errors
///
/// Any I/O error.
pub fn write_ltx_diffusers(dir: &Path, spec: &LtxSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled(layout_size);
    let pt = format_pt();
    let mut out = Out::new(dir, spec.seed)?;
    out.json("model_index.json", &config::model_index())?;
    out.json(
        "scheduler/scheduler_config.json",
        &config::diffusers_scheduler_json(),
    )?;

    let t5 = spec.t5.keys(Dtype::F32);
    let limit = spec.t5_shard_limit(t5.byte_len());
    out.json("text_encoder/config.json", &spec.t5.config_json("float32"))?;
    out.hf_sharded(
        "text_encoder",
        "text_encoder",
        "model",
        t5.into_tensors(),
        limit,
        Some(&pt),
    )?;
    // `tokenizer_max_length` falls back to 128 in `pipeline_ltx.py`.
    tokenizers::write_t5_slow(&mut out, "tokenizer", 128)?;

    let t = transformer_keys(&spec.transformer, LtxNaming::Diffusers, Dtype::F32);
    let limit = spec.transformer_shard_limit(t.byte_len());
    out.json(
        "transformer/config.json",
        &spec.transformer.diffusers_json(),
    )?;
    out.hf_sharded(
        "transformer",
        "transformer",
        "diffusion_pytorch_model",
        t.into_tensors(),
        limit,
        Some(&pt),
    )?;

    out.json("vae/config.json", &spec.vae.diffusers_json())?;
    let v = diffusers_vae_keys(&spec.vae, Dtype::F32).into_tensors();
    out.safetensors(
        "vae",
        "vae/diffusion_pytorch_model.safetensors",
        v,
        Some(&pt),
    )?;
    Ok(out.finish())
}
