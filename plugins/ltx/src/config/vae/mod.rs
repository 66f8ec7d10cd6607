//! The causal video VAE's config: the original `CausalVideoAutoencoder` form (a flat block list)
//! and the diffusers `AutoencoderKLLTXVideo` form (levels).

mod diffusers;
mod original;

/// The fields of the VAE config that shape its tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaeConfig {
    in_channels: u64,
    out_channels: u64,
    latent_channels: u64,
    patch_size: u64,
    patch_size_t: u64,
    encoder_out_channels: u64,
    layout: VaeBlockLayout,
}

/// How the VAE's blocks are described, and so how closely its tensors can be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaeBlockLayout {
    /// The original 0.9.0 form: one flat `blocks` list shared by the encoder and (reversed) the
    /// decoder. Every tensor of it is checked.
    Flat {
        /// The blocks, in encoder order.
        blocks: Vec<VaeBlock>,
        /// `encoder_base_channels` (128).
        encoder_base_channels: u64,
        /// `decoder_base_channels` (128).
        decoder_base_channels: u64,
    },
    /// The diffusers 0.9.0 form. Every tensor of it is checked.
    Levels {
        /// `block_out_channels` (`[128, 256, 512, 512]`).
        block_out_channels: Vec<u64>,
        /// `layers_per_block` (`[4, 3, 3, 3, 4]`, the last for the mid block).
        layers_per_block: Vec<u64>,
        /// `spatio_temporal_scaling` (`[true, true, true, false]`).
        spatio_temporal_scaling: Vec<bool>,
    },
    /// A later VAE (0.9.1 and up: separate encoder and decoder blocks, timestep conditioning,
    /// new down-block types). Only the tensors at its edges are checked: the input and output
    /// convolutions and the latent statistics.
    Other {
        /// What makes it a later VAE, in words.
        reason: String,
    },
}

/// One entry of the original VAE's flat `blocks` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaeBlock {
    /// `["res_x", n]`: `n` resnets at constant width.
    ResX(u64),
    /// `["compress_all", 1]`: a stride-2 causal conv (a depth-to-space upsampler in the decoder).
    CompressAll,
    /// `["res_x_y", 1]`: one resnet doubling the width (halving it in the decoder).
    ResXY,
}

impl VaeConfig {
    /// `latent_channels` (128): the transformer's `in_channels`.
    pub fn latent_channels(&self) -> u64 {
        self.latent_channels
    }

    /// `in_channels` (3).
    pub fn in_channels(&self) -> u64 {
        self.in_channels
    }

    /// `out_channels` (3).
    pub fn out_channels(&self) -> u64 {
        self.out_channels
    }

    /// The spatial `patch_size` (4).
    pub fn patch_size(&self) -> u64 {
        self.patch_size
    }

    /// The block layout.
    pub fn block_layout(&self) -> &VaeBlockLayout {
        &self.layout
    }

    /// Channels into the encoder's first conv: `in_channels × patch_size² × patch_size_t`.
    pub(crate) fn patched_in(&self) -> u64 {
        self.in_channels
            .saturating_mul(self.patch_size.saturating_mul(self.patch_size))
            .saturating_mul(self.patch_size_t)
    }

    /// Channels out of the decoder's last conv.
    pub(crate) fn patched_out(&self) -> u64 {
        self.out_channels
            .saturating_mul(self.patch_size.saturating_mul(self.patch_size))
            .saturating_mul(self.patch_size_t)
    }

    /// Channels out of the encoder: the latents plus their log-variance channels.
    pub(crate) fn encoder_out_channels(&self) -> u64 {
        self.encoder_out_channels
    }

    /// The values the expected shapes derive from, for error messages.
    pub(crate) fn summary(&self) -> String {
        let layout = match &self.layout {
            VaeBlockLayout::Flat {
                blocks,
                encoder_base_channels,
                ..
            } => format!(
                "{} blocks, base channels {encoder_base_channels}",
                blocks.len()
            ),
            VaeBlockLayout::Levels {
                block_out_channels,
                layers_per_block,
                ..
            } => format!(
                "block_out_channels {block_out_channels:?}, layers_per_block {layers_per_block:?}"
            ),
            VaeBlockLayout::Other { reason } => format!("a later VAE ({reason})"),
        };
        format!(
            "latent_channels {}, in_channels {}, out_channels {}, patch_size {}, {layout}",
            self.latent_channels, self.in_channels, self.out_channels, self.patch_size
        )
    }
}
