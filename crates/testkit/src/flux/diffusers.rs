//! The FLUX.1 diffusers tree (docs/checkpoint-layouts.md §5.5).

use std::io;
use std::path::Path;

use crate::out::Out;
use crate::report::FixtureReport;
use crate::safetensors_writer::Metadata;
use crate::scale::file_len;
use crate::{Dtype, tokenizers};

use super::diffusers_keys::{transformer_keys, vae_keys};
use super::{FluxSpec, configs};

/// `{"format": "pt"}`, which `save_pretrained` (diffusers and transformers) writes into every shard.
pub(crate) fn format_pt() -> Metadata {
    Metadata::from([("format".to_owned(), "pt".to_owned())])
}

/// Bytes the diffusers tree of `spec` takes (weights only; the JSON files add a few KiB).
pub(crate) fn layout_size(spec: &FluxSpec) -> u64 {
    let m = Some(format_pt());
    file_len(transformer_keys(&spec.transformer).tensors(), m.as_ref())
        + file_len(vae_keys(&spec.ae).tensors(), m.as_ref())
        + file_len(spec.clip.keys(Dtype::BF16).tensors(), m.as_ref())
        + file_len(spec.t5.keys(Dtype::BF16).tensors(), m.as_ref())
}

pub(crate) fn write_into(out: &mut Out, spec: &FluxSpec) -> io::Result<()> {
    let pt = format_pt();
    out.json("model_index.json", &configs::model_index())?;
    out.json(
        "scheduler/scheduler_config.json",
        &configs::scheduler_config(&spec.transformer),
    )?;

    let t = transformer_keys(&spec.transformer);
    let limit = spec.transformer_shard_limit(t.byte_len());
    out.json(
        "transformer/config.json",
        &configs::transformer_config(&spec.transformer),
    )?;
    out.hf_sharded(
        "transformer",
        "transformer",
        "diffusion_pytorch_model",
        t.into_tensors(),
        limit,
        Some(&pt),
    )?;

    out.json("vae/config.json", &configs::vae_config(&spec.ae))?;
    out.safetensors(
        "vae",
        "vae/diffusion_pytorch_model.safetensors",
        vae_keys(&spec.ae).into_tensors(),
        Some(&pt),
    )?;

    out.json("text_encoder/config.json", &spec.clip.config_json())?;
    out.safetensors(
        "text_encoder",
        "text_encoder/model.safetensors",
        spec.clip.keys(Dtype::BF16).into_tensors(),
        Some(&pt),
    )?;

    let t5 = spec.t5.keys(Dtype::BF16);
    let limit = spec.t5_shard_limit(t5.byte_len());
    out.json(
        "text_encoder_2/config.json",
        &spec.t5.config_json("bfloat16"),
    )?;
    out.hf_sharded(
        "text_encoder_2",
        "text_encoder_2",
        "model",
        t5.into_tensors(),
        limit,
        Some(&pt),
    )?;

    tokenizers::write_clip(out, "tokenizer", spec.clip.max_position_embeddings)?;
    // BFL's CLI uses 256 tokens for schnell and 512 for dev (from memory, unverified); diffusers' default is 512
    // (docs/checkpoint-layouts.md §9).
    tokenizers::write_t5_fast(out, "tokenizer_2", 512)
}

/// Writes the FLUX.1 diffusers tree into `dir`: `model_index.json`, `transformer/` (config + sharded BF16 weights +
/// index), `vae/` (config + one BF16 file), `text_encoder/` (CLIP config + `model.safetensors`), `text_encoder_2/`
/// (T5 config + `model-0000k-of-0000n.safetensors` + index), `scheduler/`, `tokenizer/`, `tokenizer_2/`. Every
/// weight file carries `{"format": "pt"}`.
///
/// # Errors
///
/// Any I/O error.
pub fn write_flux_diffusers(dir: &Path, spec: &FluxSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled(32, layout_size);
    let mut out = Out::new(dir, spec.seed)?;
    write_into(&mut out, &spec)?;
    Ok(out.finish())
}
