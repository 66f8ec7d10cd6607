//! mflux saved/quantized Flux trees (docs/checkpoint-layouts.md §5.9, §5.10).
//!
//! `mflux-save --quantize {4,8}` writes one folder per component (`transformer/`, `vae/`, `text_encoder/`,
//! `text_encoder_2/`, plus the tokenizers) of numbered shards `0.safetensors`, `1.safetensors`, ... and, since
//! mflux 0.13.0, `model.safetensors.index.json`. Keys are mflux's own module paths; every `Linear` and `Embedding`
//! is MLX-affine-quantized (`weight` U32 packed codes, `scales` and `biases` BF16); convs are BF16 in MLX's
//! channels-last layout.

use std::io;
use std::path::Path;

use crate::out::Out;
use crate::report::FixtureReport;
use crate::safetensors_writer::Metadata;
use crate::scale::file_len;
use crate::text_encoders::{ClipConfig, T5Config};
use crate::{Dtype, TensorSpec, tokenizers};

use super::diffusers_keys;
use super::{AeConfig, FluxConfig, FluxSpec};

/// mflux's shard limit (`_split_weights(max_file_size_gb=2)`).
const MFLUX_SHARD_BYTES: u64 = 2 << 30;

/// An mflux fixture: a Flux spec plus the quantization settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MfluxSpec {
    /// The model (its `scale` applies to the whole mflux tree; `prefix`, `bfl_metadata` and the diffusers shard
    /// sizes are not used).
    pub flux: FluxSpec,
    /// `quantization_level`: 2, 3, 4, 5, 6 or 8 bits.
    pub bits: u8,
    /// MLX `group_size`: 32, 64 (MLX's default) or 128. Every quantized input width must be a multiple of it.
    pub group_size: u64,
    /// The `mflux_version` metadata string.
    pub mflux_version: String,
    /// Max data bytes per shard; `None` gives the transformer three or four shards (capped at mflux's 2 GiB) and
    /// the other components mflux's 2 GiB.
    pub max_shard_bytes: Option<u64>,
}

impl MfluxSpec {
    /// Tiny 4-bit schnell with `group_size` 32 (all tiny input widths are multiples of 32).
    pub fn tiny() -> Self {
        Self {
            flux: FluxSpec::tiny(),
            bits: 4,
            group_size: 32,
            mflux_version: "0.13.0".into(),
            max_shard_bytes: None,
        }
    }

    /// The real schnell dimensions at `bits`, group 64, 2 GiB shards: for counting, not for writing.
    pub fn real_schnell(bits: u8) -> Self {
        Self {
            flux: FluxSpec::real_schnell(),
            bits,
            group_size: 64,
            max_shard_bytes: Some(MFLUX_SHARD_BYTES),
            ..Self::tiny()
        }
    }

    /// The same spec with another seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.flux.seed = seed;
        self
    }

    /// The same spec with a target size in bytes.
    #[must_use]
    pub fn with_scale(mut self, bytes: u64) -> Self {
        self.flux.scale = Some(bytes);
        self
    }

    /// The shard metadata: `{"quantization_level": "<bits>", "mflux_version": "<version>"}`.
    pub fn metadata(&self) -> Metadata {
        Metadata::from([
            ("quantization_level".to_owned(), self.bits.to_string()),
            ("mflux_version".to_owned(), self.mflux_version.clone()),
        ])
    }

    /// Every component's key table, in the order written: `transformer`, `vae`, `text_encoder`, `text_encoder_2`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a quantized input width is not a multiple of `group_size` or `bits` is unsupported.
    pub fn components(&self) -> io::Result<Vec<(&'static str, Vec<TensorSpec>)>> {
        let (b, g) = (self.bits, self.group_size);
        Ok(vec![
            (
                "transformer",
                quantize(transformer_keys(&self.flux.transformer), b, g)?,
            ),
            ("vae", quantize(vae_keys(&self.flux.ae), b, g)?),
            ("text_encoder", quantize(clip_keys(&self.flux.clip), b, g)?),
            ("text_encoder_2", quantize(t5_keys(&self.flux.t5), b, g)?),
        ])
    }

    fn size(&self) -> u64 {
        let meta = self.metadata();
        self.components()
            .map(|cs| cs.iter().map(|(_, t)| file_len(t, Some(&meta))).sum())
            .unwrap_or(u64::MAX)
    }
}

/// Transformer: diffusers names except `ff[_context].net.0.proj` → `linear1` and `ff[_context].net.2` → `linear2`.
pub fn transformer_keys(c: &FluxConfig) -> Vec<TensorSpec> {
    diffusers_keys::transformer_keys(c)
        .rename(|n| {
            n.replace(".net.0.proj.", ".linear1.")
                .replace(".net.2.", ".linear2.")
        })
        .into_tensors()
}

/// VAE: diffusers names with `conv_in`/`conv_out` → `.conv2d.` and `conv_norm_out` → `.norm.`, every conv weight
/// transposed to MLX `[O, kH, kW, I]`. BF16.
pub fn vae_keys(c: &AeConfig) -> Vec<TensorSpec> {
    let mut out = diffusers_keys::vae_keys(c).into_tensors();
    for t in &mut out {
        for part in ["encoder", "decoder"] {
            for (from, to) in [
                ("conv_in.", "conv_in.conv2d."),
                ("conv_out.", "conv_out.conv2d."),
                ("conv_norm_out.", "conv_norm_out.norm."),
            ] {
                if let Some(rest) = t.name.strip_prefix(&format!("{part}.{from}")) {
                    t.name = format!("{part}.{to}{rest}");
                }
            }
        }
        if let [o, i, kh, kw] = t.shape[..] {
            t.shape = vec![o, kh, kw, i];
        }
    }
    out
}

/// CLIP: the transformers names, BF16.
pub fn clip_keys(c: &ClipConfig) -> Vec<TensorSpec> {
    c.keys(Dtype::BF16).into_tensors()
}

/// T5: `encoder.block.{i}.layer.0` → `t5_blocks.{i}.attention`, `layer.1` → `t5_blocks.{i}.ff`,
/// `encoder.final_layer_norm` → `final_layer_norm`; `relative_attention_bias` copied into every block. BF16.
pub fn t5_keys(c: &T5Config) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    for t in c.keys(Dtype::BF16).into_tensors() {
        if t.name.contains("relative_attention_bias") {
            continue;
        }
        let name = if let Some(rest) = t.name.strip_prefix("encoder.block.") {
            let (block, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let tail = tail
                .replacen("layer.0.", "attention.", 1)
                .replacen("layer.1.", "ff.", 1);
            if tail.starts_with("attention.SelfAttention.q.") {
                out.push(TensorSpec::new(
                    format!(
                        "t5_blocks.{block}.attention.SelfAttention.relative_attention_bias.weight"
                    ),
                    Dtype::BF16,
                    [c.relative_attention_num_buckets, c.num_heads],
                ));
            }
            format!("t5_blocks.{block}.{tail}")
        } else if let Some(rest) = t.name.strip_prefix("encoder.") {
            rest.to_owned()
        } else {
            t.name.clone()
        };
        out.push(TensorSpec { name, ..t });
    }
    out
}

/// MLX affine quantization of every 2-D `*.weight` (the `Linear` and `Embedding` weights of these components):
/// `weight [o, i]` becomes `weight` U32 `[o, i·bits/32]`, `scales` and `biases` `[o, i/group_size]` in the
/// original dtype. Everything else is kept.
///
/// # Errors
///
/// `InvalidInput` when `bits` is not one of 2, 3, 4, 5, 6, 8 or an input width is not a multiple of `group_size`.
pub fn quantize(
    tensors: Vec<TensorSpec>,
    bits: u8,
    group_size: u64,
) -> io::Result<Vec<TensorSpec>> {
    if ![2, 3, 4, 5, 6, 8].contains(&bits) || group_size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported MLX quantization: {bits} bits, group {group_size}"),
        ));
    }
    let mut out = Vec::with_capacity(tensors.len() * 3);
    for t in tensors {
        let (Some(base), &[o, i]) = (t.name.strip_suffix(".weight"), &t.shape[..]) else {
            out.push(t);
            continue;
        };
        let base = base.to_owned();
        if i % group_size != 0 || (i * u64::from(bits)) % 32 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}`: input width {i} is not a multiple of group size {group_size}",
                    t.name
                ),
            ));
        }
        out.push(TensorSpec::new(
            t.name.clone(),
            Dtype::U32,
            [o, i * u64::from(bits) / 32],
        ));
        out.push(TensorSpec::new(
            format!("{base}.scales"),
            t.dtype,
            [o, i / group_size],
        ));
        out.push(TensorSpec::new(
            format!("{base}.biases"),
            t.dtype,
            [o, i / group_size],
        ));
    }
    Ok(out)
}

/// Writes an mflux tree into `dir`: `transformer/`, `vae/`, `text_encoder/`, `text_encoder_2/` (each `0.safetensors`,
/// ... + `model.safetensors.index.json`, shard metadata `quantization_level`/`mflux_version`) and the
/// `tokenizer/`, `tokenizer_2/` folders.
///
/// # Errors
///
/// Any I/O error, or `InvalidInput` for widths the quantization cannot take.
pub fn write_flux_mflux(dir: &Path, spec: &MfluxSpec) -> io::Result<FixtureReport> {
    let unit = spec.group_size.max(1);
    let flux = spec.flux.scaled(unit, |f| {
        MfluxSpec {
            flux: f.clone(),
            ..spec.clone()
        }
        .size()
    });
    let spec = MfluxSpec {
        flux,
        ..spec.clone()
    };
    let meta = spec.metadata();
    let components = spec.components()?;
    let mut out = Out::new(dir, spec.flux.seed)?;
    for (name, tensors) in components {
        let limit = spec.max_shard_bytes.unwrap_or(match name {
            // Three or four shards at any scale, as the real 4-bit transformer (6.7 GB / 2 GiB) has.
            "transformer" => (crate::tensor::total_bytes(&tensors) / 3 + 1).min(MFLUX_SHARD_BYTES),
            _ => MFLUX_SHARD_BYTES,
        });
        out.mflux_sharded(name, name, tensors, limit, &meta)?;
    }
    tokenizers::write_clip(
        &mut out,
        "tokenizer",
        spec.flux.clip.max_position_embeddings,
    )?;
    tokenizers::write_t5_fast(&mut out, "tokenizer_2", 512)?;
    Ok(out.finish())
}
