//! The video transformer's config (`Transformer3DModel` / `LTXVideoTransformer3DModel`).

use serde_json::Value;

use crate::Naming;
use modelcache_weights::Fields;

/// The fields of the transformer config that shape its tensors. Both the original config (in
/// the single file's metadata) and the diffusers `transformer/config.json` use these names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformerConfig {
    num_layers: u64,
    num_attention_heads: u64,
    attention_head_dim: u64,
    inner_dim: u64,
    in_channels: u64,
    out_channels: u64,
    cross_attention_dim: u64,
    caption_channels: u64,
    attention_bias: bool,
    attention_out_bias: bool,
    qk_norm: bool,
}

impl TransformerConfig {
    /// Parses a transformer config; `origin` names where it came from, for the message.
    pub(crate) fn from_json(value: &Value, naming: Naming, origin: &str) -> Result<Self, String> {
        let f = Fields::new(value, origin)?;
        let num_attention_heads = f.u64("num_attention_heads")?;
        let attention_head_dim = f.u64("attention_head_dim")?;
        let in_channels = f.u64("in_channels")?;
        let inner_dim = num_attention_heads
            .checked_mul(attention_head_dim)
            .filter(|d| d.checked_mul(8).is_some())
            .ok_or_else(|| {
                format!(
                    "{origin}: num_attention_heads {num_attention_heads} × attention_head_dim \
                     {attention_head_dim} is too large"
                )
            })?;
        let qk_norm = match naming {
            // The original code builds the norms only when `qk_norm` is set
            // (`"rms_norm"`, or `null` for none).
            Naming::Original => f.opt_str("qk_norm")?.is_some(),
            // diffusers always builds them (`rms_norm_across_heads` is the only kind).
            Naming::Diffusers => true,
        };
        Ok(Self {
            num_layers: f.u64("num_layers")?,
            num_attention_heads,
            attention_head_dim,
            inner_dim,
            in_channels,
            out_channels: f.opt_u64("out_channels")?.unwrap_or(in_channels),
            cross_attention_dim: f.u64("cross_attention_dim")?,
            caption_channels: f.u64("caption_channels")?,
            attention_bias: f.bool_or("attention_bias", true)?,
            // The original attention always has an output bias.
            attention_out_bias: naming == Naming::Original
                || f.bool_or("attention_out_bias", true)?,
            qk_norm,
        })
    }

    /// `num_layers`: the number of transformer blocks (28 for 2B, 48 for 13B).
    pub fn num_layers(&self) -> u64 {
        self.num_layers
    }

    /// `num_attention_heads` (32).
    pub fn num_attention_heads(&self) -> u64 {
        self.num_attention_heads
    }

    /// `attention_head_dim` (64 for 2B, 128 for 13B).
    pub fn attention_head_dim(&self) -> u64 {
        self.attention_head_dim
    }

    /// The model width, `num_attention_heads × attention_head_dim` (2048 for 2B).
    pub fn inner_dim(&self) -> u64 {
        self.inner_dim
    }

    /// `in_channels`: the VAE's latent channels (128).
    pub fn in_channels(&self) -> u64 {
        self.in_channels
    }

    /// `out_channels` (`in_channels` when unset).
    pub fn out_channels(&self) -> u64 {
        self.out_channels
    }

    /// `cross_attention_dim` (2048 for 2B).
    pub fn cross_attention_dim(&self) -> u64 {
        self.cross_attention_dim
    }

    /// `caption_channels`: the text encoder's width (T5-XXL `d_model`, 4096).
    pub fn caption_channels(&self) -> u64 {
        self.caption_channels
    }

    /// `attention_bias`: whether `to_q`, `to_k` and `to_v` have biases.
    pub fn attention_bias(&self) -> bool {
        self.attention_bias
    }

    /// Whether `to_out.0` has a bias (always, in the original code).
    pub fn attention_out_bias(&self) -> bool {
        self.attention_out_bias
    }

    /// Whether the attention has query/key RMS norms (with weights).
    pub fn qk_norm(&self) -> bool {
        self.qk_norm
    }

    /// The values the expected shapes derive from, for error messages.
    pub(crate) fn summary(&self) -> String {
        format!(
            "num_layers {}, num_attention_heads {} × attention_head_dim {} = inner dim {}, \
             in_channels {}, out_channels {}, cross_attention_dim {}, caption_channels {}",
            self.num_layers,
            self.num_attention_heads,
            self.attention_head_dim,
            self.inner_dim,
            self.in_channels,
            self.out_channels,
            self.cross_attention_dim,
            self.caption_channels
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_reports_missing_fields() {
        let v = json!({"num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 16,
            "in_channels": 8, "cross_attention_dim": 32, "caption_channels": 32,
            "qk_norm": "rms_norm", "unrelated": [1, 2]});
        let c = TransformerConfig::from_json(&v, Naming::Original, "x").unwrap();
        assert_eq!((c.inner_dim(), c.out_channels()), (32, 8));
        assert!(c.qk_norm() && c.attention_out_bias());

        let v = json!({"num_attention_heads": 2});
        let e = TransformerConfig::from_json(&v, Naming::Original, "metadata").unwrap_err();
        assert_eq!(e, "metadata: missing field `attention_head_dim`");
        let v = json!({"num_layers": -1, "num_attention_heads": 2, "attention_head_dim": 16,
            "in_channels": 8, "cross_attention_dim": 32, "caption_channels": 32});
        let e = TransformerConfig::from_json(&v, Naming::Diffusers, "x").unwrap_err();
        assert!(e.contains("`num_layers` is -1"), "{e}");
        let v = json!({"num_layers": 2, "num_attention_heads": u64::MAX, "attention_head_dim": 16,
            "in_channels": 8, "cross_attention_dim": 32, "caption_channels": 32});
        let e = TransformerConfig::from_json(&v, Naming::Diffusers, "x").unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }
}
