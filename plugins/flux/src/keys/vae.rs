//! The autoencoder: BFL `ae.safetensors` naming, diffusers `AutoencoderKL` naming, and mflux's
//! variant of the latter (docs/checkpoint-layouts.md §5.4, §5.7, §5.9): config inference and
//! required tensors.

use std::path::Path;

use modelcache_backend::BackendError;
use serde::Deserialize;

use crate::error;
use crate::shapes::Shapes;
use modelcache_weights::ExpectedTensors;

/// The shape-relevant autoencoder config (BFL `AutoEncoderParams` / diffusers `AutoencoderKL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VaeConfig {
    pub in_channels: u64,
    pub out_channels: u64,
    /// `conv_in`'s output width (BFL `ch`; diffusers `block_out_channels[0]`).
    pub base_channels: u64,
    /// Output width of each level (BFL `ch × ch_mult`).
    pub block_out: Vec<u64>,
    /// Res blocks per encoder level (the decoder has one more).
    pub layers_per_block: u64,
    pub latent_channels: u64,
}

impl VaeConfig {
    /// Infers the config of a BFL `ae.safetensors`.
    pub(crate) fn from_bfl(s: &Shapes<'_>) -> Result<Self, BackendError> {
        let why = "to infer the autoencoder config from BFL shapes";
        let levels = s.count("encoder.down.")?;
        let block_out = (0..levels)
            .map(|l| s.dim(&format!("encoder.down.{l}.block.0.conv1.weight"), 0, why))
            .collect::<Result<Vec<_>, _>>()?;
        Self {
            in_channels: s.dim("encoder.conv_in.weight", 1, why)?,
            out_channels: s.dim("decoder.conv_out.weight", 0, why)?,
            base_channels: s.dim("encoder.conv_in.weight", 0, why)?,
            block_out,
            layers_per_block: s.count("encoder.down.0.block.")?,
            latent_channels: s.dim("decoder.conv_in.weight", 1, why)?,
        }
        .nonempty(s, "encoder.down.0.block.0.conv1.weight")
    }

    /// Infers the config of an mflux `vae/` (diffusers names, MLX conv layout `[O, kH, kW, I]`).
    pub(crate) fn from_mflux(s: &Shapes<'_>) -> Result<Self, BackendError> {
        let why = "to infer the autoencoder config from mflux shapes";
        let levels = s.count("encoder.down_blocks.")?;
        let block_out = (0..levels)
            .map(|l| {
                let name = format!("encoder.down_blocks.{l}.resnets.0.conv1.weight");
                s.dim(&name, 0, why)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self {
            in_channels: s.dim("encoder.conv_in.conv2d.weight", 3, why)?,
            out_channels: s.dim("decoder.conv_out.conv2d.weight", 0, why)?,
            base_channels: s.dim("encoder.conv_in.conv2d.weight", 0, why)?,
            block_out,
            layers_per_block: s.count("encoder.down_blocks.0.resnets.")?,
            latent_channels: s.dim("decoder.conv_in.conv2d.weight", 3, why)?,
        }
        .nonempty(s, "encoder.down_blocks.0.resnets.0.conv1.weight")
    }

    /// Reads a diffusers `vae/config.json`; absent fields take `AutoencoderKL`'s defaults.
    pub(crate) fn from_diffusers_json(path: &Path) -> Result<Self, BackendError> {
        let c: DiffusersVae = modelcache_weights::read_config_json(path)
            .map_err(|e| e.into_backend_error("the diffusers VAE config"))?;
        let Some(&base_channels) = c.block_out_channels.first() else {
            return Err(BackendError::invalid(path, "block_out_channels is empty"));
        };
        Ok(Self {
            in_channels: c.in_channels,
            out_channels: c.out_channels,
            base_channels,
            block_out: c.block_out_channels,
            layers_per_block: c.layers_per_block,
            latent_channels: c.latent_channels,
        })
    }

    fn nonempty(self, s: &Shapes<'_>, first: &str) -> Result<Self, BackendError> {
        if self.block_out.is_empty() || self.layers_per_block == 0 {
            return Err(error::tensor(
                s.location(),
                first,
                "missing: the encoder holds no res blocks",
            ));
        }
        Ok(self)
    }

    /// A one-line summary for error messages.
    pub(crate) fn describe(&self, source: &str) -> String {
        format!(
            "autoencoder with levels {:?}, {} res blocks per level, {} latent channels, {source}",
            self.block_out, self.layers_per_block, self.latent_channels
        )
    }
}

fn res_bfl(k: &mut ExpectedTensors, n: &str, i: u64, o: u64) {
    k.norm(&format!("{n}.norm1"), i);
    k.conv2d(&format!("{n}.conv1"), i, o, 3);
    k.norm(&format!("{n}.norm2"), o);
    k.conv2d(&format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.conv2d(&format!("{n}.nin_shortcut"), i, o, 1);
    }
}

fn attn_bfl(k: &mut ExpectedTensors, n: &str, c: u64) {
    k.norm(&format!("{n}.norm"), c);
    for q in ["q", "k", "v", "proj_out"] {
        k.conv2d(&format!("{n}.{q}"), c, c, 1); // 1x1 convs in BFL's code
    }
}

/// Every tensor of BFL's `ae.safetensors` (244 for the real config).
pub(crate) fn bfl(c: &VaeConfig) -> ExpectedTensors {
    let mut k = ExpectedTensors::new();
    let levels = c.block_out.len();
    k.conv2d("encoder.conv_in", c.in_channels, c.base_channels, 3);
    let mut bi = c.base_channels;
    for (l, &bo) in c.block_out.iter().enumerate() {
        for b in 0..c.layers_per_block {
            res_bfl(&mut k, &format!("encoder.down.{l}.block.{b}"), bi, bo);
            bi = bo;
        }
        if l + 1 != levels {
            k.conv2d(&format!("encoder.down.{l}.downsample.conv"), bi, bi, 3);
        }
    }
    res_bfl(&mut k, "encoder.mid.block_1", bi, bi);
    attn_bfl(&mut k, "encoder.mid.attn_1", bi);
    res_bfl(&mut k, "encoder.mid.block_2", bi, bi);
    k.norm("encoder.norm_out", bi);
    k.conv2d(
        "encoder.conv_out",
        bi,
        c.latent_channels.saturating_mul(2),
        3,
    );

    let mut bi = c.block_out.last().copied().unwrap_or(c.base_channels);
    k.conv2d("decoder.conv_in", c.latent_channels, bi, 3);
    res_bfl(&mut k, "decoder.mid.block_1", bi, bi);
    attn_bfl(&mut k, "decoder.mid.attn_1", bi);
    res_bfl(&mut k, "decoder.mid.block_2", bi, bi);
    for (l, &bo) in c.block_out.iter().enumerate().rev() {
        for b in 0..=c.layers_per_block {
            res_bfl(&mut k, &format!("decoder.up.{l}.block.{b}"), bi, bo);
            bi = bo;
        }
        if l != 0 {
            k.conv2d(&format!("decoder.up.{l}.upsample.conv"), bi, bi, 3);
        }
    }
    k.norm("decoder.norm_out", bi);
    k.conv2d("decoder.conv_out", bi, c.out_channels, 3);
    k
}

fn res(k: &mut ExpectedTensors, n: &str, i: u64, o: u64) {
    k.norm(&format!("{n}.norm1"), i);
    k.conv2d(&format!("{n}.conv1"), i, o, 3);
    k.norm(&format!("{n}.norm2"), o);
    k.conv2d(&format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.conv2d(&format!("{n}.conv_shortcut"), i, o, 1);
    }
}

fn attn(k: &mut ExpectedTensors, n: &str, c: u64) {
    k.norm(&format!("{n}.group_norm"), c);
    for q in ["to_q", "to_k", "to_v", "to_out.0"] {
        k.linear(format!("{n}.{q}"), c, c, true);
    }
}

/// Every tensor of an `AutoencoderKL` without quant convs; `mflux` selects mflux's names for
/// `conv_in`/`conv_out`/`conv_norm_out` and MLX's conv layout.
pub(crate) fn diffusers(c: &VaeConfig, mflux: bool) -> ExpectedTensors {
    let (conv_in, conv_out, norm_out) = if mflux {
        ("conv_in.conv2d", "conv_out.conv2d", "conv_norm_out.norm")
    } else {
        ("conv_in", "conv_out", "conv_norm_out")
    };
    let mut k = ExpectedTensors::new().with_channels_last_convs(mflux);
    let boc = &c.block_out;
    let lpb = c.layers_per_block;
    k.conv2d(
        &format!("encoder.{conv_in}"),
        c.in_channels,
        c.base_channels,
        3,
    );
    let mut oc = c.base_channels;
    for (i, &b) in boc.iter().enumerate() {
        let ic = oc;
        oc = b;
        for j in 0..lpb {
            let n = format!("encoder.down_blocks.{i}.resnets.{j}");
            res(&mut k, &n, if j == 0 { ic } else { oc }, oc);
        }
        if i + 1 != boc.len() {
            let n = format!("encoder.down_blocks.{i}.downsamplers.0.conv");
            k.conv2d(&n, oc, oc, 3);
        }
    }
    res(&mut k, "encoder.mid_block.resnets.0", oc, oc);
    attn(&mut k, "encoder.mid_block.attentions.0", oc);
    res(&mut k, "encoder.mid_block.resnets.1", oc, oc);
    k.norm(&format!("encoder.{norm_out}"), oc);
    let latent2 = c.latent_channels.saturating_mul(2);
    k.conv2d(&format!("encoder.{conv_out}"), oc, latent2, 3);

    let mut oc = boc.last().copied().unwrap_or(c.base_channels);
    k.conv2d(&format!("decoder.{conv_in}"), c.latent_channels, oc, 3);
    res(&mut k, "decoder.mid_block.resnets.0", oc, oc);
    attn(&mut k, "decoder.mid_block.attentions.0", oc);
    res(&mut k, "decoder.mid_block.resnets.1", oc, oc);
    for (i, &b) in boc.iter().rev().enumerate() {
        let ic = oc;
        oc = b;
        for j in 0..=lpb {
            let n = format!("decoder.up_blocks.{i}.resnets.{j}");
            res(&mut k, &n, if j == 0 { ic } else { oc }, oc);
        }
        if i + 1 != boc.len() {
            let n = format!("decoder.up_blocks.{i}.upsamplers.0.conv");
            k.conv2d(&n, oc, oc, 3);
        }
    }
    k.norm(&format!("decoder.{norm_out}"), oc);
    k.conv2d(&format!("decoder.{conv_out}"), oc, c.out_channels, 3);
    k
}

/// The shape-relevant fields of `AutoencoderKL`'s config, with its defaults.
#[derive(Deserialize)]
#[serde(default)]
struct DiffusersVae {
    in_channels: u64,
    out_channels: u64,
    block_out_channels: Vec<u64>,
    layers_per_block: u64,
    latent_channels: u64,
}

impl Default for DiffusersVae {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![64],
            layers_per_block: 1,
            latent_channels: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_key_counts() {
        let flux = VaeConfig {
            in_channels: 3,
            out_channels: 3,
            base_channels: 128,
            block_out: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 16,
        };
        // docs/checkpoint-layouts.md §5.4, §5.7: 244 tensors in both namings.
        assert_eq!(bfl(&flux).len(), 244);
        assert_eq!(diffusers(&flux, false).len(), 244);
        assert_eq!(diffusers(&flux, true).len(), 244);
    }
}
