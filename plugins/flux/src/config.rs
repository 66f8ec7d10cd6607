//! The transformer's hyper-parameters: inferred from BFL or mflux shapes, or read from a
//! diffusers `transformer/config.json` (docs/checkpoint-layouts.md §5.2, §5.3, §5.5).

use std::fmt;
use std::path::Path;

use modelcache_backend::BackendError;
use serde::Deserialize;

use crate::error;
use crate::shapes::Shapes;

/// The FLUX.1 transformer's hyper-parameters (BFL `FluxParams`), as far as they shape tensors.
///
/// `axes_dim` and `theta` shape no tensor and cannot be recovered from weights, so they are not
/// here. FLUX.1 \[schnell\] is `hidden_size` 3072, 24 heads, 19 double and 38 single blocks,
/// MLP 12288, 64 input and output channels, `vec_in_dim` 768, `context_in_dim` 4096, no guidance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FluxConfig {
    /// Double-stream blocks (`depth`, diffusers `num_layers`).
    pub depth: u64,
    /// Single-stream blocks (`depth_single_blocks`, diffusers `num_single_layers`).
    pub depth_single_blocks: u64,
    /// `hidden_size` H = `num_heads` × head dim.
    pub hidden_size: u64,
    /// Attention heads.
    pub num_heads: u64,
    /// MLP width `int(H × mlp_ratio)` (diffusers hard-codes ratio 4).
    pub mlp_hidden: u64,
    /// Latent channels in (64 = 16 × 2 × 2 packed).
    pub in_channels: u64,
    /// Channels out of the final layer (patch² × `out_channels` for diffusers).
    pub out_channels: u64,
    /// Pooled text width (CLIP hidden size; diffusers `pooled_projection_dim`).
    pub vec_in_dim: u64,
    /// Text sequence width (T5 `d_model`; diffusers `joint_attention_dim`).
    pub context_in_dim: u64,
    /// Whether the guidance embedder exists (dev: yes, schnell: no).
    pub guidance_embed: bool,
    /// Whether the attention `qkv` projections have biases.
    pub qkv_bias: bool,
}

impl FluxConfig {
    /// Head dim `H / num_heads`.
    pub fn head_dim(&self) -> u64 {
        self.hidden_size / self.num_heads.max(1)
    }

    /// `mlp_hidden / hidden_size` (4.0 for FLUX.1).
    #[allow(clippy::cast_precision_loss)] // widths are far below 2^52
    pub fn mlp_ratio(&self) -> f64 {
        self.mlp_hidden as f64 / self.hidden_size.max(1) as f64
    }

    /// Infers the config of a BFL transformer whose keys start with `prefix`.
    pub(crate) fn from_bfl(s: &Shapes<'_>, prefix: &str) -> Result<Self, BackendError> {
        let k = |name: &str| format!("{prefix}{name}");
        let why = "to infer the transformer config from BFL shapes";
        let depth = s.count(&k("double_blocks."))?;
        let depth_single_blocks = s.count(&k("single_blocks."))?;
        let hidden_size = s.dim(&k("img_in.weight"), 0, why)?;
        let (norm, mlp) = if depth > 0 {
            (
                k("double_blocks.0.img_attn.norm.query_norm.scale"),
                s.dim(&k("double_blocks.0.img_mlp.0.weight"), 0, why)?,
            )
        } else {
            let linear1 = k("single_blocks.0.linear1.weight");
            let rows = s.dim(&linear1, 0, why)?;
            let mlp = rows
                .checked_sub(hidden_size.saturating_mul(3))
                .ok_or_else(|| {
                    error::tensor(
                        s.location(),
                        &linear1,
                        format!("{rows} rows is fewer than 3 × hidden {hidden_size}"),
                    )
                })?;
            (k("single_blocks.0.norm.query_norm.scale"), mlp)
        };
        let head_dim = s.dim(&norm, 0, why)?;
        let config = Self {
            depth,
            depth_single_blocks,
            hidden_size,
            num_heads: heads(s, &norm, hidden_size, head_dim)?,
            mlp_hidden: mlp,
            in_channels: s.dim(&k("img_in.weight"), 1, why)?,
            out_channels: s.dim(&k("final_layer.linear.weight"), 0, why)?,
            vec_in_dim: s.dim(&k("vector_in.in_layer.weight"), 1, why)?,
            context_in_dim: s.dim(&k("txt_in.weight"), 1, why)?,
            guidance_embed: s.has(&k("guidance_in.in_layer.weight")),
            qkv_bias: depth == 0 || s.has(&k("double_blocks.0.img_attn.qkv.bias")),
        };
        config.check_blocks(s, &k("double_blocks.0.img_attn.qkv.weight"))
    }

    /// Infers the config of a transformer in diffusers naming from its shapes (mflux trees,
    /// which carry no `config.json`; their MLP is `ff.linear1`).
    pub(crate) fn from_mflux(s: &Shapes<'_>) -> Result<Self, BackendError> {
        let why = "to infer the transformer config from mflux shapes";
        let depth = s.count("transformer_blocks.")?;
        let depth_single_blocks = s.count("single_transformer_blocks.")?;
        let (norm, mlp) = if depth > 0 {
            (
                "transformer_blocks.0.attn.norm_q.weight",
                "transformer_blocks.0.ff.linear1.weight",
            )
        } else {
            (
                "single_transformer_blocks.0.attn.norm_q.weight",
                "single_transformer_blocks.0.proj_mlp.weight",
            )
        };
        let hidden_size = s.dim("x_embedder.weight", 0, why)?;
        let head_dim = s.dim(norm, 0, why)?;
        let config = Self {
            depth,
            depth_single_blocks,
            hidden_size,
            num_heads: heads(s, norm, hidden_size, head_dim)?,
            mlp_hidden: s.dim(mlp, 0, why)?,
            in_channels: s.dim("x_embedder.weight", 1, why)?,
            out_channels: s.dim("proj_out.weight", 0, why)?,
            vec_in_dim: s.dim("time_text_embed.text_embedder.linear_1.weight", 1, why)?,
            context_in_dim: s.dim("context_embedder.weight", 1, why)?,
            guidance_embed: s.has("time_text_embed.guidance_embedder.linear_1.weight"),
            qkv_bias: true,
        };
        config.check_blocks(s, "transformer_blocks.0.norm1.linear.weight")
    }

    /// Reads a diffusers `transformer/config.json`; absent fields take the
    /// `FluxTransformer2DModel` constructor defaults.
    pub(crate) fn from_diffusers_json(path: &Path) -> Result<Self, BackendError> {
        let c: DiffusersConfig = modelcache_weights::read_config_json(path)
            .map_err(|e| e.into_backend_error("the diffusers transformer config"))?;
        let hidden_size = c.attention_head_dim.saturating_mul(c.num_attention_heads);
        if hidden_size == 0 {
            return Err(BackendError::invalid(
                path,
                "attention_head_dim × num_attention_heads is 0",
            ));
        }
        let out = c.out_channels.unwrap_or(c.in_channels);
        Ok(Self {
            depth: c.num_layers,
            depth_single_blocks: c.num_single_layers,
            hidden_size,
            num_heads: c.num_attention_heads,
            mlp_hidden: hidden_size.saturating_mul(4),
            in_channels: c.in_channels,
            out_channels: c
                .patch_size
                .saturating_mul(c.patch_size)
                .saturating_mul(out),
            vec_in_dim: c.pooled_projection_dim,
            context_in_dim: c.joint_attention_dim,
            guidance_embed: c.guidance_embeds,
            qkv_bias: true,
        })
    }

    fn check_blocks(self, s: &Shapes<'_>, first: &str) -> Result<Self, BackendError> {
        if self.depth == 0 && self.depth_single_blocks == 0 {
            return Err(error::tensor(
                s.location(),
                first,
                "missing: the transformer holds no blocks",
            ));
        }
        Ok(self)
    }
}

/// `hidden / head_dim`, which must divide evenly.
fn heads(s: &Shapes<'_>, norm: &str, hidden: u64, head_dim: u64) -> Result<u64, BackendError> {
    if head_dim == 0 || hidden % head_dim != 0 {
        let path = s.get(norm).map_or(s.location(), |(f, _)| f.path());
        return Err(error::tensor(
            path,
            norm,
            format!("head dim {head_dim} does not divide hidden size {hidden}"),
        ));
    }
    Ok(hidden / head_dim)
}

impl fmt::Display for FluxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hidden {} = {} heads × {}, {} double + {} single blocks, mlp {}, in {}, out {}, \
             vec {}, context {}, guidance {}",
            self.hidden_size,
            self.num_heads,
            self.head_dim(),
            self.depth,
            self.depth_single_blocks,
            self.mlp_hidden,
            self.in_channels,
            self.out_channels,
            self.vec_in_dim,
            self.context_in_dim,
            if self.guidance_embed { "yes" } else { "no" },
        )
    }
}

/// The shape-relevant fields of `FluxTransformer2DModel`'s config, with its defaults.
#[derive(Deserialize)]
#[serde(default)]
struct DiffusersConfig {
    patch_size: u64,
    in_channels: u64,
    out_channels: Option<u64>,
    num_layers: u64,
    num_single_layers: u64,
    attention_head_dim: u64,
    num_attention_heads: u64,
    joint_attention_dim: u64,
    pooled_projection_dim: u64,
    guidance_embeds: bool,
}

impl Default for DiffusersConfig {
    fn default() -> Self {
        Self {
            patch_size: 1,
            in_channels: 64,
            out_channels: None,
            num_layers: 19,
            num_single_layers: 38,
            attention_head_dim: 128,
            num_attention_heads: 24,
            joint_attention_dim: 4096,
            pooled_projection_dim: 768,
            guidance_embeds: false,
        }
    }
}

#[cfg(test)]
impl FluxConfig {
    /// FLUX.1 [schnell] (docs/checkpoint-layouts.md §5.2).
    pub(crate) fn schnell() -> Self {
        Self {
            depth: 19,
            depth_single_blocks: 38,
            hidden_size: 3072,
            num_heads: 24,
            mlp_hidden: 12288,
            in_channels: 64,
            out_channels: 64,
            vec_in_dim: 768,
            context_in_dim: 4096,
            guidance_embed: false,
            qkv_bias: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusers_defaults_are_flux_schnell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"_class_name": "FluxTransformer2DModel"}"#).unwrap();
        let c = FluxConfig::from_diffusers_json(&path).unwrap();
        assert_eq!(c, FluxConfig::schnell());
        assert_eq!(c.head_dim(), 128);
        assert!((c.mlp_ratio() - 4.0).abs() < f64::EPSILON);
        std::fs::write(&path, r#"{"num_layers": -1}"#).unwrap();
        let err = FluxConfig::from_diffusers_json(&path).unwrap_err();
        assert!(matches!(err, BackendError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
        let err = FluxConfig::from_diffusers_json(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(err, BackendError::Missing { .. }), "{err}");
    }
}
