//! CLIP-L text and T5-XXL encoder: key tables and `config.json` (docs/checkpoint-layouts.md §6).

use serde_json::{Value, json};

use crate::{Dtype, KeyTable};

/// `CLIPTextModel` hyper-parameters (the fields of its `config.json` that shape tensors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipConfig {
    /// `vocab_size` (49408).
    pub vocab_size: u64,
    /// `hidden_size` (768). Flux's `pooled_projection_dim` equals it.
    pub hidden_size: u64,
    /// `intermediate_size` (3072).
    pub intermediate_size: u64,
    /// `num_hidden_layers` (12).
    pub num_hidden_layers: u64,
    /// `num_attention_heads` (12).
    pub num_attention_heads: u64,
    /// `max_position_embeddings` (77).
    pub max_position_embeddings: u64,
}

impl ClipConfig {
    /// `openai/clip-vit-large-patch14` text tower, as in the FLUX.1 repos.
    pub fn clip_l() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            max_position_embeddings: 77,
        }
    }

    /// Tiny dimensions, all multiples of 32 so the mflux fixture can quantize them with `group_size` 32.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 256,
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            max_position_embeddings: 77,
        }
    }

    /// Key table in transformers naming (`text_model.…`).
    pub fn keys(&self, dtype: Dtype) -> KeyTable {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let mut k = KeyTable::new(dtype);
        k.tensor(
            "text_model.embeddings.token_embedding.weight",
            [self.vocab_size, h],
        );
        k.tensor(
            "text_model.embeddings.position_embedding.weight",
            [self.max_position_embeddings, h],
        );
        for l in 0..self.num_hidden_layers {
            let p = format!("text_model.encoder.layers.{l}.");
            for q in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                k.linear(&format!("{p}self_attn.{q}"), h, h, true);
            }
            for ln in ["layer_norm1", "layer_norm2"] {
                k.norm(&format!("{p}{ln}"), h);
            }
            k.linear(&format!("{p}mlp.fc1"), h, i, true);
            k.linear(&format!("{p}mlp.fc2"), i, h, true);
        }
        k.norm("text_model.final_layer_norm", h);
        k
    }

    /// `text_encoder/config.json`. The full field list is from memory of `openai/clip-vit-large-patch14` (unverified,
    /// docs/checkpoint-layouts.md §6.1); `torch_dtype` "bfloat16" is what the FLUX repos are recalled to carry
    /// (unverified).
    pub fn config_json(&self) -> Value {
        json!({
            "_name_or_path": "openai/clip-vit-large-patch14",
            "architectures": ["CLIPTextModel"],
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "dropout": 0.0,
            "eos_token_id": 2,
            "hidden_act": "quick_gelu",
            "hidden_size": self.hidden_size,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": self.max_position_embeddings,
            "model_type": "clip_text_model",
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "pad_token_id": 1,
            "projection_dim": self.hidden_size,
            "torch_dtype": "bfloat16",
            "transformers_version": "4.43.3",
            "vocab_size": self.vocab_size,
        })
    }
}

/// `T5EncoderModel` hyper-parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct T5Config {
    /// `vocab_size` (32128).
    pub vocab_size: u64,
    /// `d_model` (4096). Flux's `joint_attention_dim` and LTX's `caption_channels` equal it.
    pub d_model: u64,
    /// `d_ff` (10240).
    pub d_ff: u64,
    /// `d_kv` (64).
    pub d_kv: u64,
    /// `num_heads` (64).
    pub num_heads: u64,
    /// `num_layers` (24).
    pub num_layers: u64,
    /// `relative_attention_num_buckets` (32).
    pub relative_attention_num_buckets: u64,
}

impl T5Config {
    /// `google/t5-v1_1-xxl` encoder, as in FLUX.1 `text_encoder_2/`.
    pub fn xxl() -> Self {
        Self {
            vocab_size: 32128,
            d_model: 4096,
            d_ff: 10240,
            d_kv: 64,
            num_heads: 64,
            num_layers: 24,
            relative_attention_num_buckets: 32,
        }
    }

    /// Tiny dimensions. `num_heads` is 32 because mflux quantizes `relative_attention_bias` (an `Embedding(buckets,
    /// heads)`) along the heads axis, which must be a multiple of the group size.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 256,
            d_model: 32,
            d_ff: 64,
            d_kv: 2,
            num_heads: 32,
            num_layers: 2,
            relative_attention_num_buckets: 32,
        }
    }

    /// Key table in transformers naming. `encoder.embed_tokens.weight` is tied to `shared.weight` and not stored;
    /// `relative_attention_bias` lives in block 0 only.
    pub fn keys(&self, dtype: Dtype) -> KeyTable {
        let (d, inner) = (self.d_model, self.num_heads * self.d_kv);
        let mut k = KeyTable::new(dtype);
        k.tensor("shared.weight", [self.vocab_size, d]);
        for i in 0..self.num_layers {
            let p = format!("encoder.block.{i}.layer.");
            for q in ["q", "k", "v", "o"] {
                let shape = if q == "o" { [d, inner] } else { [inner, d] };
                k.tensor(format!("{p}0.SelfAttention.{q}.weight"), shape);
            }
            if i == 0 {
                k.tensor(
                    format!("{p}0.SelfAttention.relative_attention_bias.weight"),
                    [self.relative_attention_num_buckets, self.num_heads],
                );
            }
            k.tensor(format!("{p}0.layer_norm.weight"), [d]);
            k.tensor(format!("{p}1.DenseReluDense.wi_0.weight"), [self.d_ff, d]);
            k.tensor(format!("{p}1.DenseReluDense.wi_1.weight"), [self.d_ff, d]);
            k.tensor(format!("{p}1.DenseReluDense.wo.weight"), [d, self.d_ff]);
            k.tensor(format!("{p}1.layer_norm.weight"), [d]);
        }
        k.tensor("encoder.final_layer_norm.weight", [d]);
        k
    }

    /// `config.json` with the field names of `google/t5-v1_1-xxl` (docs/checkpoint-layouts.md §6.2, which says which
    /// fields are read; the others are the standard transformers T5 fields, from memory).
    pub fn config_json(&self, torch_dtype: &str) -> Value {
        json!({
            "architectures": ["T5EncoderModel"],
            "classifier_dropout": 0.0,
            "d_ff": self.d_ff,
            "d_kv": self.d_kv,
            "d_model": self.d_model,
            "decoder_start_token_id": 0,
            "dense_act_fn": "gelu_new",
            "dropout_rate": 0.1,
            "eos_token_id": 1,
            "feed_forward_proj": "gated-gelu",
            "initializer_factor": 1.0,
            "is_encoder_decoder": true,
            "is_gated_act": true,
            "layer_norm_epsilon": 1e-06,
            "model_type": "t5",
            "num_decoder_layers": self.num_layers,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "output_past": true,
            "pad_token_id": 0,
            "relative_attention_max_distance": 128,
            "relative_attention_num_buckets": self.relative_attention_num_buckets,
            "tie_word_embeddings": false,
            "torch_dtype": torch_dtype,
            "transformers_version": "4.43.3",
            "use_cache": true,
            "vocab_size": self.vocab_size,
        })
    }
}
