//! The text encoders (docs/checkpoint-layouts.md §6, §5.9): CLIP-L (`CLIPTextModel`, the same names
//! in transformers and mflux) and the T5 encoder (transformers names, or mflux's `t5_blocks`).

use std::path::Path;

use modelcache_backend::BackendError;
use serde::Deserialize;

use crate::error;
use crate::shapes::Shapes;
use modelcache_weights::ExpectedTensors;

/// The shape-relevant `CLIPTextConfig` fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct ClipConfig {
    pub vocab_size: u64,
    pub hidden_size: u64,
    pub intermediate_size: u64,
    pub num_hidden_layers: u64,
    pub max_position_embeddings: u64,
}

impl Default for ClipConfig {
    /// `CLIPTextConfig`'s defaults.
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            max_position_embeddings: 77,
        }
    }
}

/// The prefix of CLIP's encoder layers.
pub(crate) const CLIP_LAYERS: &str = "text_model.encoder.layers.";

impl ClipConfig {
    /// Infers the config from shapes.
    pub(crate) fn from_shapes(s: &Shapes<'_>) -> Result<Self, BackendError> {
        let why = "to infer the CLIP config from shapes";
        let embedding = "text_model.embeddings.token_embedding.weight";
        let layers = s.count(CLIP_LAYERS)?;
        if layers == 0 {
            let first = format!("{CLIP_LAYERS}0.self_attn.q_proj.weight");
            return Err(error::tensor(
                s.location(),
                first,
                "missing: no encoder layers",
            ));
        }
        Ok(Self {
            vocab_size: s.dim(embedding, 0, why)?,
            hidden_size: s.dim(embedding, 1, why)?,
            intermediate_size: s.dim(&format!("{CLIP_LAYERS}0.mlp.fc1.weight"), 0, why)?,
            num_hidden_layers: layers,
            max_position_embeddings: s.dim(
                "text_model.embeddings.position_embedding.weight",
                0,
                why,
            )?,
        })
    }

    /// Reads `text_encoder/config.json`.
    pub(crate) fn from_json(path: &Path) -> Result<Self, BackendError> {
        modelcache_weights::read_config_json(path)
            .map_err(|e| e.into_backend_error("the CLIP text config"))
    }

    /// Every tensor of `CLIPTextModel`.
    pub(crate) fn expected(&self) -> ExpectedTensors {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let mut k = ExpectedTensors::new();
        k.tensor(
            "text_model.embeddings.token_embedding.weight",
            [self.vocab_size, h],
        );
        k.tensor(
            "text_model.embeddings.position_embedding.weight",
            [self.max_position_embeddings, h],
        );
        for l in 0..self.num_hidden_layers {
            let p = format!("{CLIP_LAYERS}{l}.");
            for q in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                k.linear(format!("{p}self_attn.{q}"), h, h, true);
            }
            k.norm(&format!("{p}layer_norm1"), h);
            k.norm(&format!("{p}layer_norm2"), h);
            k.linear(format!("{p}mlp.fc1"), h, i, true);
            k.linear(format!("{p}mlp.fc2"), i, h, true);
        }
        k.norm("text_model.final_layer_norm", h);
        k
    }

    /// A one-line summary for error messages.
    pub(crate) fn describe(&self, source: &str) -> String {
        format!(
            "CLIP with hidden {}, {} layers, MLP {}, vocab {}, {source}",
            self.hidden_size, self.num_hidden_layers, self.intermediate_size, self.vocab_size
        )
    }
}

/// The shape-relevant `T5Config` fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct T5Config {
    pub vocab_size: u64,
    pub d_model: u64,
    pub d_ff: u64,
    pub d_kv: u64,
    pub num_heads: u64,
    pub num_layers: u64,
    pub relative_attention_num_buckets: u64,
    /// `"gated-gelu"` (T5 v1.1, FLUX's T5-XXL: `wi_0` and `wi_1`) or `"relu"` (`wi`).
    pub feed_forward_proj: String,
}

impl Default for T5Config {
    /// `T5Config`'s defaults.
    fn default() -> Self {
        Self {
            vocab_size: 32128,
            d_model: 512,
            d_ff: 2048,
            d_kv: 64,
            num_heads: 8,
            num_layers: 6,
            relative_attention_num_buckets: 32,
            feed_forward_proj: "relu".to_owned(),
        }
    }
}

/// T5 naming: transformers' or mflux's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct T5Names {
    mflux: bool,
}

impl T5Names {
    pub(crate) const HF: T5Names = T5Names { mflux: false };
    pub(crate) const MFLUX: T5Names = T5Names { mflux: true };

    /// The prefix of the numbered blocks.
    pub(crate) fn blocks(self) -> &'static str {
        if self.mflux {
            "t5_blocks."
        } else {
            "encoder.block."
        }
    }

    /// Block `i`'s attention (`layer.0`) and feed-forward (`layer.1`) prefixes.
    fn parts(self, i: u64) -> (String, String) {
        let b = self.blocks();
        if self.mflux {
            (format!("{b}{i}.attention."), format!("{b}{i}.ff."))
        } else {
            (format!("{b}{i}.layer.0."), format!("{b}{i}.layer.1."))
        }
    }

    fn final_norm(self) -> &'static str {
        if self.mflux {
            "final_layer_norm.weight"
        } else {
            "encoder.final_layer_norm.weight"
        }
    }
}

impl T5Config {
    fn gated(&self) -> bool {
        self.feed_forward_proj.starts_with("gated-")
    }

    /// Infers the config from shapes.
    pub(crate) fn from_shapes(s: &Shapes<'_>, names: T5Names) -> Result<Self, BackendError> {
        let why = "to infer the T5 config from shapes";
        let layers = s.count(names.blocks())?;
        let (attn, ff) = names.parts(0);
        if layers == 0 {
            let first = format!("{attn}SelfAttention.q.weight");
            return Err(error::tensor(
                s.location(),
                first,
                "missing: no encoder blocks",
            ));
        }
        let bias = format!("{attn}SelfAttention.relative_attention_bias.weight");
        let num_heads = s.dim(&bias, 1, why)?;
        let q = format!("{attn}SelfAttention.q.weight");
        let inner = s.dim(&q, 0, why)?;
        if num_heads == 0 || inner % num_heads != 0 {
            let path = s.get(&q).map_or(s.location(), |(f, _)| f.path());
            return Err(error::tensor(
                path,
                q,
                format!("{inner} rows do not split into {num_heads} heads"),
            ));
        }
        let gated = s.has(&format!("{ff}DenseReluDense.wi_0.weight"));
        let wi = if gated { "wi_0" } else { "wi" };
        Ok(Self {
            vocab_size: s.dim("shared.weight", 0, why)?,
            d_model: s.dim("shared.weight", 1, why)?,
            d_ff: s.dim(&format!("{ff}DenseReluDense.{wi}.weight"), 0, why)?,
            d_kv: inner / num_heads,
            num_heads,
            num_layers: layers,
            relative_attention_num_buckets: s.dim(&bias, 0, why)?,
            feed_forward_proj: if gated { "gated-gelu" } else { "relu" }.to_owned(),
        })
    }

    /// Reads `text_encoder_2/config.json`.
    pub(crate) fn from_json(path: &Path) -> Result<Self, BackendError> {
        modelcache_weights::read_config_json(path)
            .map_err(|e| e.into_backend_error("the T5 config"))
    }

    /// Every tensor of the T5 encoder. `shared.weight` holds the (tied) embeddings; mflux copies
    /// `relative_attention_bias` into every block, transformers keeps it in block 0.
    pub(crate) fn expected(&self, names: T5Names) -> ExpectedTensors {
        let d = self.d_model;
        let inner = self.num_heads.saturating_mul(self.d_kv);
        let mut k = ExpectedTensors::new();
        k.tensor("shared.weight", [self.vocab_size, d]);
        for i in 0..self.num_layers {
            let (attn, ff) = names.parts(i);
            for q in ["q", "k", "v"] {
                k.tensor(format!("{attn}SelfAttention.{q}.weight"), [inner, d]);
            }
            k.tensor(format!("{attn}SelfAttention.o.weight"), [d, inner]);
            if i == 0 || names.mflux {
                k.tensor(
                    format!("{attn}SelfAttention.relative_attention_bias.weight"),
                    [self.relative_attention_num_buckets, self.num_heads],
                );
            }
            k.tensor(format!("{attn}layer_norm.weight"), [d]);
            let wis: &[&str] = if self.gated() {
                &["wi_0", "wi_1"]
            } else {
                &["wi"]
            };
            for wi in wis {
                k.tensor(format!("{ff}DenseReluDense.{wi}.weight"), [self.d_ff, d]);
            }
            k.tensor(format!("{ff}DenseReluDense.wo.weight"), [d, self.d_ff]);
            k.tensor(format!("{ff}layer_norm.weight"), [d]);
        }
        k.tensor(names.final_norm(), [d]);
        k
    }

    /// A one-line summary for error messages.
    pub(crate) fn describe(&self, source: &str) -> String {
        format!(
            "T5 with d_model {}, {} blocks, {} heads × {}, d_ff {}, {source}",
            self.d_model, self.num_layers, self.num_heads, self.d_kv, self.d_ff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_key_counts() {
        let clip = ClipConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            ..ClipConfig::default()
        };
        let t5 = T5Config {
            d_model: 4096,
            d_ff: 10240,
            num_heads: 64,
            num_layers: 24,
            feed_forward_proj: "gated-gelu".into(),
            ..T5Config::default()
        };
        // docs/checkpoint-layouts.md §6: 196 CLIP tensors, 219 T5 tensors; mflux copies the bias
        // into all 24.
        assert_eq!(clip.expected().len(), 196);
        assert_eq!(t5.expected(T5Names::HF).len(), 219);
        assert_eq!(t5.expected(T5Names::MFLUX).len(), 219 + 23);
    }
}
