//! Flux hyper-parameters: BFL `FluxParams` and `AutoEncoderParams` (docs/checkpoint-layouts.md §5.2, §5.4).

/// BFL `FluxParams` (`src/flux/util.py`). The diffusers config is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxConfig {
    /// `in_channels` (64 = 4 × 16 latent channels; 2×2 packing happens in the pipeline).
    pub in_channels: u64,
    /// `out_channels` (64).
    pub out_channels: u64,
    /// `vec_in_dim` = CLIP hidden size (768); diffusers `pooled_projection_dim`.
    pub vec_in_dim: u64,
    /// `context_in_dim` = T5 `d_model` (4096); diffusers `joint_attention_dim`.
    pub context_in_dim: u64,
    /// `hidden_size` H (3072).
    pub hidden_size: u64,
    /// `mlp_ratio` (4.0). diffusers hard-codes 4.0, so the diffusers layout needs exactly 4.0.
    pub mlp_ratio: f64,
    /// `num_heads` (24).
    pub num_heads: u64,
    /// `depth`: double-stream blocks (19).
    pub depth: u64,
    /// `depth_single_blocks` (38).
    pub depth_single_blocks: u64,
    /// `axes_dim` (`[16, 56, 56]`): sums to the head dim, each part even. Not recoverable from weights.
    pub axes_dim: [u64; 3],
    /// `theta` (10 000).
    pub theta: u64,
    /// `qkv_bias` (true).
    pub qkv_bias: bool,
    /// `guidance_embed`: true for dev, false for schnell.
    pub guidance_embed: bool,
}

impl FluxConfig {
    /// FLUX.1 [schnell].
    pub fn schnell() -> Self {
        Self {
            in_channels: 64,
            out_channels: 64,
            vec_in_dim: 768,
            context_in_dim: 4096,
            hidden_size: 3072,
            mlp_ratio: 4.0,
            num_heads: 24,
            depth: 19,
            depth_single_blocks: 38,
            axes_dim: [16, 56, 56],
            theta: 10_000,
            qkv_bias: true,
            guidance_embed: false,
        }
    }

    /// FLUX.1 [dev]: schnell plus the guidance embedder.
    pub fn dev() -> Self {
        Self {
            guidance_embed: true,
            ..Self::schnell()
        }
    }

    /// Tiny schnell: H = 32 (2 heads of 16, `axes_dim` `[4, 6, 6]`), 2 double and 4 single blocks (the real 1:2
    /// ratio), 16 latent channels as in the real model. Input widths are multiples of 32 for mflux.
    pub fn tiny() -> Self {
        Self {
            vec_in_dim: 32,
            context_in_dim: 32,
            hidden_size: 32,
            num_heads: 2,
            depth: 2,
            depth_single_blocks: 4,
            axes_dim: [4, 6, 6],
            ..Self::schnell()
        }
    }

    /// Head dim `H / num_heads`.
    pub fn head_dim(&self) -> u64 {
        self.hidden_size / self.num_heads.max(1)
    }

    /// MLP width `int(H * mlp_ratio)`.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    pub fn mlp_hidden(&self) -> u64 {
        // Python's `int(H * mlp_ratio)`: truncation toward zero of a non-negative product.
        (self.hidden_size as f64 * self.mlp_ratio) as u64
    }

    /// The file stem BFL uses: `flux1-dev` with guidance, `flux1-schnell` without.
    pub fn file_stem(&self) -> &'static str {
        if self.guidance_embed {
            "flux1-dev"
        } else {
            "flux1-schnell"
        }
    }
}

/// BFL `AutoEncoderParams`. The diffusers `AutoencoderKL` config is derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct AeConfig {
    /// `resolution` (256).
    pub resolution: u64,
    /// `in_channels` (3).
    pub in_channels: u64,
    /// `ch` (128). BFL hard-codes 32 GroupNorm groups, so keep it a multiple of 32.
    pub ch: u64,
    /// `out_ch` (3).
    pub out_ch: u64,
    /// `ch_mult` (`[1, 2, 4, 4]`).
    pub ch_mult: Vec<u64>,
    /// `num_res_blocks` (2).
    pub num_res_blocks: u64,
    /// `z_channels` (16).
    pub z_channels: u64,
    /// `scale_factor` (0.3611).
    pub scale_factor: f64,
    /// `shift_factor` (0.1159).
    pub shift_factor: f64,
}

impl AeConfig {
    /// The FLUX.1 autoencoder.
    pub fn flux() -> Self {
        Self {
            resolution: 256,
            in_channels: 3,
            ch: 128,
            out_ch: 3,
            ch_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            z_channels: 16,
            scale_factor: 0.3611,
            shift_factor: 0.1159,
        }
    }

    /// Tiny: `ch` 32 (the smallest BFL's 32 groups allow), two levels, one res block, 16 latent channels.
    pub fn tiny() -> Self {
        Self {
            ch: 32,
            ch_mult: vec![1, 1],
            num_res_blocks: 1,
            ..Self::flux()
        }
    }

    /// diffusers `block_out_channels` = `ch * ch_mult`.
    pub fn block_out_channels(&self) -> Vec<u64> {
        self.ch_mult.iter().map(|m| m * self.ch).collect()
    }
}
