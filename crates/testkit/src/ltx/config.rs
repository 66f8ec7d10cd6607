//! LTX-Video hyper-parameters and their JSON forms (docs/checkpoint-layouts.md §7.3, §7.5): the original ("ours")
//! configs embedded in the single file's metadata and the diffusers `config.json` files.

use serde_json::{Value, json};

/// The video transformer (2B: 32 heads × 64, 28 layers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtxTransformerConfig {
    /// `in_channels` = VAE latent channels (128).
    pub in_channels: u64,
    /// `out_channels` (128).
    pub out_channels: u64,
    /// `num_attention_heads` (32).
    pub num_attention_heads: u64,
    /// `attention_head_dim` (64).
    pub attention_head_dim: u64,
    /// `num_layers` (28).
    pub num_layers: u64,
    /// `cross_attention_dim` (2048).
    pub cross_attention_dim: u64,
    /// `caption_channels` = T5 `d_model` (4096).
    pub caption_channels: u64,
    /// `attention_bias` (true).
    pub attention_bias: bool,
    /// `attention_out_bias` (true; diffusers config only, the original code always has the bias).
    pub attention_out_bias: bool,
}

impl LtxTransformerConfig {
    /// LTX-Video 2B (0.9.x).
    pub fn ltx_2b() -> Self {
        Self {
            in_channels: 128,
            out_channels: 128,
            num_attention_heads: 32,
            attention_head_dim: 64,
            num_layers: 28,
            cross_attention_dim: 2048,
            caption_channels: 4096,
            attention_bias: true,
            attention_out_bias: true,
        }
    }

    /// Tiny: 2 heads of 16 (inner dim 32), 2 layers, 8 latent channels, caption width 32 (the tiny T5).
    pub fn tiny() -> Self {
        Self {
            in_channels: 8,
            out_channels: 8,
            num_attention_heads: 2,
            attention_head_dim: 16,
            num_layers: 2,
            cross_attention_dim: 32,
            caption_channels: 32,
            ..Self::ltx_2b()
        }
    }

    /// `heads × head_dim`.
    pub fn inner_dim(&self) -> u64 {
        self.num_attention_heads * self.attention_head_dim
    }

    /// The original `Transformer3DModel` config (`OURS_TRANSFORMER_CONFIG` field set).
    pub fn original_json(&self) -> Value {
        json!({
            "_class_name": "Transformer3DModel",
            "_diffusers_version": "0.25.1",
            "_name_or_path": "PixArt-alpha/PixArt-XL-2-256x256",
            "activation_fn": "gelu-approximate",
            "attention_bias": self.attention_bias,
            "attention_head_dim": self.attention_head_dim,
            "attention_type": "default",
            "caption_channels": self.caption_channels,
            "cross_attention_dim": self.cross_attention_dim,
            "double_self_attention": false,
            "dropout": 0.0,
            "in_channels": self.in_channels,
            "norm_elementwise_affine": false,
            "norm_eps": 1e-06,
            "norm_num_groups": 32,
            "num_attention_heads": self.num_attention_heads,
            "num_embeds_ada_norm": 1000,
            "num_layers": self.num_layers,
            "num_vector_embeds": null,
            "only_cross_attention": false,
            "out_channels": self.out_channels,
            "project_to_2d_pos": true,
            "upcast_attention": false,
            "use_linear_projection": false,
            "qk_norm": "rms_norm",
            "standardization_norm": "rms_norm",
            "positional_embedding_type": "rope",
            "positional_embedding_theta": 10000.0,
            "positional_embedding_max_pos": [20, 2048, 2048],
            "timestep_scale_multiplier": 1000
        })
    }

    /// The diffusers `transformer/config.json` (`DIFFUSERS_TRANSFORMER_CONFIG` field set).
    pub fn diffusers_json(&self) -> Value {
        json!({
            "_class_name": "LTXVideoTransformer3DModel",
            "_diffusers_version": "0.32.0.dev0",
            "activation_fn": "gelu-approximate",
            "attention_bias": self.attention_bias,
            "attention_head_dim": self.attention_head_dim,
            "attention_out_bias": self.attention_out_bias,
            "caption_channels": self.caption_channels,
            "cross_attention_dim": self.cross_attention_dim,
            "in_channels": self.in_channels,
            "norm_elementwise_affine": false,
            "norm_eps": 1e-06,
            "num_attention_heads": self.num_attention_heads,
            "num_layers": self.num_layers,
            "out_channels": self.out_channels,
            "patch_size": 1,
            "patch_size_t": 1,
            "qk_norm": "rms_norm_across_heads"
        })
    }
}

/// The 0.9.0 causal video VAE, described the diffusers way; the original flat block list is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct LtxVaeConfig {
    /// `in_channels` (3).
    pub in_channels: u64,
    /// `out_channels` (3).
    pub out_channels: u64,
    /// `latent_channels` (128).
    pub latent_channels: u64,
    /// Spatial `patch_size` (4).
    pub patch_size: u64,
    /// `block_out_channels` (`[128, 256, 512, 512]`). Each step must keep or double the width (the original
    /// `res_x_y` block doubles).
    pub block_out_channels: Vec<u64>,
    /// `layers_per_block` (`[4, 3, 3, 3, 4]`), one more entry than `block_out_channels` (the mid block).
    pub layers_per_block: Vec<u64>,
    /// `spatio_temporal_scaling` (`[true, true, true, false]`).
    pub spatio_temporal_scaling: Vec<bool>,
    /// `scaling_factor` (1.0).
    pub scaling_factor: f64,
}

/// One entry of the original VAE's flat `blocks` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaeBlock {
    /// `["res_x", n]`: n resnets at constant width.
    ResX(u64),
    /// `["compress_all", 1]`: a stride-2 causal conv (encoder) / depth-to-space upsampler (decoder).
    CompressAll,
    /// `["res_x_y", 1]`: one resnet doubling the width (halving it in the decoder).
    ResXY,
}

impl LtxVaeConfig {
    /// The LTX-Video 0.9.0 VAE.
    pub fn v0_9_0() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            latent_channels: 128,
            patch_size: 4,
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: vec![4, 3, 3, 3, 4],
            spatio_temporal_scaling: vec![true, true, true, false],
            scaling_factor: 1.0,
        }
    }

    /// Tiny: widths `[4, 8, 16, 16]` (the real ×1/×2 pattern), one resnet per block, 8 latent channels.
    pub fn tiny() -> Self {
        Self {
            latent_channels: 8,
            block_out_channels: vec![4, 8, 16, 16],
            layers_per_block: vec![1; 5],
            ..Self::v0_9_0()
        }
    }

    /// The encoder's (and decoder's) base width: `block_out_channels[0]`.
    pub fn base_channels(&self) -> u64 {
        self.block_out_channels.first().copied().unwrap_or(128)
    }

    /// The original flat block list (`OURS_VAE_CONFIG["blocks"]`): per level `res_x`, then `compress_all` when the
    /// level scales, then `res_x_y` when the next level is wider; finally the mid `res_x`.
    pub fn blocks(&self) -> Vec<VaeBlock> {
        let boc = &self.block_out_channels;
        let mut v = Vec::new();
        for (i, &c) in boc.iter().enumerate() {
            v.push(VaeBlock::ResX(
                self.layers_per_block.get(i).copied().unwrap_or(1),
            ));
            if self
                .spatio_temporal_scaling
                .get(i)
                .copied()
                .unwrap_or(false)
            {
                v.push(VaeBlock::CompressAll);
            }
            if boc.get(i + 1).is_some_and(|&next| next != c) {
                v.push(VaeBlock::ResXY);
            }
        }
        v.push(VaeBlock::ResX(
            self.layers_per_block.get(boc.len()).copied().unwrap_or(1),
        ));
        v
    }

    /// The original `CausalVideoAutoencoder` config (`OURS_VAE_CONFIG` field set). `encoder_base_channels` and
    /// `decoder_base_channels` (read by `from_config`, default 128) are written only when they differ from 128.
    pub fn original_json(&self) -> Value {
        let blocks: Vec<Value> = self
            .blocks()
            .iter()
            .map(|b| match b {
                VaeBlock::ResX(n) => json!(["res_x", n]),
                VaeBlock::CompressAll => json!(["compress_all", 1]),
                VaeBlock::ResXY => json!(["res_x_y", 1]),
            })
            .collect();
        let mut v = json!({
            "_class_name": "CausalVideoAutoencoder",
            "dims": 3,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "latent_channels": self.latent_channels,
            "blocks": blocks,
            "scaling_factor": self.scaling_factor,
            "norm_layer": "pixel_norm",
            "patch_size": self.patch_size,
            "latent_log_var": "uniform",
            "use_quant_conv": false,
            "causal_decoder": false
        });
        if self.base_channels() != 128 {
            v["encoder_base_channels"] = json!(self.base_channels());
            v["decoder_base_channels"] = json!(self.base_channels());
        }
        v
    }

    /// The diffusers `vae/config.json` (`DIFFUSERS_VAE_CONFIG` field set).
    pub fn diffusers_json(&self) -> Value {
        json!({
            "_class_name": "AutoencoderKLLTXVideo",
            "_diffusers_version": "0.32.0.dev0",
            "block_out_channels": self.block_out_channels,
            "decoder_causal": false,
            "encoder_causal": true,
            "in_channels": self.in_channels,
            "latent_channels": self.latent_channels,
            "layers_per_block": self.layers_per_block,
            "out_channels": self.out_channels,
            "patch_size": self.patch_size,
            "patch_size_t": 1,
            "resnet_norm_eps": 1e-06,
            "scaling_factor": self.scaling_factor,
            "spatio_temporal_scaling": self.spatio_temporal_scaling
        })
    }
}

/// The original `RectifiedFlowScheduler` config (`OURS_SCHEDULER_CONFIG`).
pub fn original_scheduler_json() -> Value {
    json!({
        "_class_name": "RectifiedFlowScheduler",
        "_diffusers_version": "0.25.1",
        "num_train_timesteps": 1000,
        "shifting": "SD3",
        "base_resolution": null,
        "target_shift_terminal": 0.1
    })
}

/// The diffusers `scheduler/scheduler_config.json` (`DIFFUSERS_SCHEDULER_CONFIG`).
pub fn diffusers_scheduler_json() -> Value {
    json!({
        "_class_name": "FlowMatchEulerDiscreteScheduler",
        "_diffusers_version": "0.32.0.dev0",
        "base_image_seq_len": 1024,
        "base_shift": 0.95,
        "invert_sigmas": false,
        "max_image_seq_len": 4096,
        "max_shift": 2.05,
        "num_train_timesteps": 1000,
        "shift": 1.0,
        "shift_terminal": 0.1,
        "use_beta_sigmas": false,
        "use_dynamic_shifting": true,
        "use_exponential_sigmas": false,
        "use_karras_sigmas": false
    })
}

/// `model_index.json` of `Lightricks/LTX-Video` (docs/checkpoint-layouts.md §7.8).
pub fn model_index() -> Value {
    json!({
        "_class_name": "LTXPipeline",
        "_diffusers_version": "0.32.0.dev0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "T5Tokenizer"],
        "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLLTXVideo"]
    })
}
