//! The VAE's tensors in the single files' naming (without the `vae.` prefix): flat
//! `down_blocks.{n}` / `up_blocks.{n}` lists, `res_blocks`, and `per_channel_statistics`.

use modelcache_backend::BackendError;

use super::{conv, vae_edges};
use crate::expect::Expect;
use crate::{VaeBlock, VaeBlockLayout, VaeConfig};

/// Checks every tensor of a 0.9.0 VAE (the edges only of a later one), then the latent
/// statistics.
pub(crate) fn check(ex: &Expect<'_>, c: &VaeConfig) -> Result<(), BackendError> {
    match c.block_layout() {
        VaeBlockLayout::Flat {
            blocks,
            encoder_base_channels,
            decoder_base_channels,
        } => flat(
            ex,
            c,
            blocks,
            *encoder_base_channels,
            *decoder_base_channels,
        )?,
        _ => vae_edges(ex, c)?,
    }
    let l = c.latent_channels();
    // LTX's loader needs `std-of-means`; `mean-of-means` defaults to zeros. The other two
    // statistics (`channel`, `mean-of-stds`) are unused and their shapes unverified.
    ex.tensor("per_channel_statistics.std-of-means", &[l])?;
    ex.optional("per_channel_statistics.mean-of-means", &[l])
}

/// An original `ResnetBlock3D`: causal convs under `.conv`; when the width changes,
/// `norm3.norm.*` and a plain 1×1×1 `conv_shortcut.{weight,bias}`.
fn res(ex: &Expect<'_>, n: &str, i: u64, o: u64) -> Result<(), BackendError> {
    conv(ex, &format!("{n}.conv1"), i, o, 3)?;
    conv(ex, &format!("{n}.conv2"), o, o, 3)?;
    if i != o {
        ex.tensor(&format!("{n}.norm3.norm.weight"), &[i])?;
        ex.tensor(&format!("{n}.norm3.norm.bias"), &[i])?;
        ex.tensor(&format!("{n}.conv_shortcut.weight"), &[o, i, 1, 1, 1])?;
        ex.tensor(&format!("{n}.conv_shortcut.bias"), &[o])?;
    }
    Ok(())
}

fn flat(
    ex: &Expect<'_>,
    c: &VaeConfig,
    blocks: &[VaeBlock],
    encoder_base: u64,
    decoder_base: u64,
) -> Result<(), BackendError> {
    let mut ch = encoder_base;
    conv(ex, "encoder.conv_in", c.patched_in(), ch, 3)?;
    for (b, block) in blocks.iter().enumerate() {
        let p = format!("encoder.down_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                for j in 0..n {
                    res(ex, &format!("{p}.res_blocks.{j}"), ch, ch)?;
                }
            }
            // `make_conv_nd(causal=True)` is itself the block: a CausalConv3d whose Conv3d is
            // `.conv`.
            VaeBlock::CompressAll => conv(ex, &p, ch, ch, 3)?,
            VaeBlock::ResXY => {
                res(ex, &p, ch, ch.saturating_mul(2))?;
                ch = ch.saturating_mul(2);
            }
        }
    }
    conv(ex, "encoder.conv_out", ch, c.encoder_out_channels(), 3)?;

    let mut ch = decoder_base;
    for _ in blocks.iter().filter(|b| **b == VaeBlock::ResXY) {
        ch = ch.saturating_mul(2);
    }
    conv(ex, "decoder.conv_in", c.latent_channels(), ch, 3)?;
    for (b, block) in blocks.iter().rev().enumerate() {
        let p = format!("decoder.up_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                for j in 0..n {
                    res(ex, &format!("{p}.res_blocks.{j}"), ch, ch)?;
                }
            }
            // DepthToSpaceUpsample: its causal conv is `.conv`, whose Conv3d is `.conv` again.
            VaeBlock::CompressAll => {
                conv(ex, &format!("{p}.conv"), ch, ch.saturating_mul(8), 3)?;
            }
            VaeBlock::ResXY => {
                res(ex, &p, ch, ch / 2)?;
                ch /= 2;
            }
        }
    }
    conv(ex, "decoder.conv_out", ch, c.patched_out(), 3)
}
