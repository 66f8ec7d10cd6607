//! The JSON files of a FLUX.1 diffusers tree (docs/checkpoint-layouts.md §5.5).

use serde_json::{Value, json};

use super::{AeConfig, FluxConfig};

/// `model_index.json`, exactly as in the FLUX.1 repos (docs/checkpoint-layouts.md §5.5).
pub fn model_index() -> Value {
    json!({
        "_class_name": "FluxPipeline",
        "_diffusers_version": "0.30.0.dev0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"]
    })
}

/// `transformer/config.json`, the published 0.30 field set. `axes_dims_rope` is absent from the real configs (the
/// default `[16, 56, 56]` applies), so it is written only when the fixture's split differs from the default.
pub fn transformer_config(c: &FluxConfig) -> Value {
    let mut v = json!({
        "_class_name": "FluxTransformer2DModel",
        "_diffusers_version": "0.30.0.dev0",
        // The dev value is published; the schnell path is the same pattern (unverified).
        "_name_or_path": format!("../checkpoints/{}/transformer", if c.guidance_embed { "flux-dev" } else { "flux-schnell" }),
        "attention_head_dim": c.head_dim(),
        "guidance_embeds": c.guidance_embed,
        "in_channels": c.in_channels,
        "joint_attention_dim": c.context_in_dim,
        "num_attention_heads": c.num_heads,
        "num_layers": c.depth,
        "num_single_layers": c.depth_single_blocks,
        "patch_size": 1,
        "pooled_projection_dim": c.vec_in_dim,
    });
    if c.axes_dim != [16, 56, 56] {
        v["axes_dims_rope"] = json!(c.axes_dim);
    }
    if c.out_channels != c.in_channels {
        v["out_channels"] = json!(c.out_channels);
    }
    v
}

/// `vae/config.json` (`AutoencoderKL`), the FLUX.1 field set with the fixture's widths
/// (docs/checkpoint-layouts.md §5.5).
pub fn vae_config(c: &AeConfig) -> Value {
    let n = c.ch_mult.len();
    json!({
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.30.0.dev0",
        "act_fn": "silu",
        "block_out_channels": c.block_out_channels(),
        "down_block_types": vec!["DownEncoderBlock2D"; n],
        "force_upcast": true,
        "in_channels": c.in_channels,
        "latent_channels": c.z_channels,
        "latents_mean": null,
        "latents_std": null,
        "layers_per_block": c.num_res_blocks,
        "mid_block_add_attention": true,
        "norm_num_groups": 32,
        "out_channels": c.out_ch,
        "sample_size": 1024,
        "scaling_factor": c.scale_factor,
        "shift_factor": c.shift_factor,
        "up_block_types": vec!["UpDecoderBlock2D"; n],
        "use_post_quant_conv": false,
        "use_quant_conv": false
    })
}

/// `scheduler/scheduler_config.json`. dev values are published; schnell's `shift 1.0` and `use_dynamic_shifting false`
/// are from memory (unverified, docs/checkpoint-layouts.md §5.5), as is `_diffusers_version` here.
pub fn scheduler_config(c: &FluxConfig) -> Value {
    json!({
        "_class_name": "FlowMatchEulerDiscreteScheduler",
        "_diffusers_version": "0.30.0.dev0",
        "base_image_seq_len": 256,
        "base_shift": 0.5,
        "max_image_seq_len": 4096,
        "max_shift": 1.15,
        "num_train_timesteps": 1000,
        "shift": if c.guidance_embed { 3.0 } else { 1.0 },
        "use_dynamic_shifting": c.guidance_embed
    })
}
