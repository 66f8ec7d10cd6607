//! The VAE's tensors in the single files' naming (without the `vae.` prefix): flat
//! `down_blocks.{n}` / `up_blocks.{n}` lists, `res_blocks`, and `per_channel_statistics`.

use super::{conv, vae_edges};
use crate::{VaeBlock, VaeBlockLayout, VaeConfig};
use modelcache_weights::ExpectedTensors;

/// Checks every tensor of a 0.9.0 VAE (the edges only of a later one), then the latent
/// statistics.
pub(crate) fn expected(t: &mut ExpectedTensors, c: &VaeConfig) {
    match c.block_layout() {
        VaeBlockLayout::Flat {
            blocks,
            encoder_base_channels,
            decoder_base_channels,
        } => flat(t, c, blocks, *encoder_base_channels, *decoder_base_channels),
        _ => vae_edges(t, c),
    }
    let l = c.latent_channels();
    // LTX's loader needs `std-of-means`; `mean-of-means` defaults to zeros. The other two
    // statistics (`channel`, `mean-of-stds`) are unused and their shapes unverified.
    t.tensor("per_channel_statistics.std-of-means", [l]);
    t.optional("per_channel_statistics.mean-of-means", [l])
}

/// An original `ResnetBlock3D`: causal convs under `.conv`; when the width changes,
/// `norm3.norm.*` and a plain 1×1×1 `conv_shortcut.{weight,bias}`.
fn res(t: &mut ExpectedTensors, n: &str, i: u64, o: u64) {
    conv(t, &format!("{n}.conv1"), i, o, 3);
    conv(t, &format!("{n}.conv2"), o, o, 3);
    if i != o {
        t.tensor(format!("{n}.norm3.norm.weight"), [i]);
        t.tensor(format!("{n}.norm3.norm.bias"), [i]);
        t.tensor(format!("{n}.conv_shortcut.weight"), [o, i, 1, 1, 1]);
        t.tensor(format!("{n}.conv_shortcut.bias"), [o]);
    }
}

fn flat(
    t: &mut ExpectedTensors,
    c: &VaeConfig,
    blocks: &[VaeBlock],
    encoder_base: u64,
    decoder_base: u64,
) {
    let mut ch = encoder_base;
    conv(t, "encoder.conv_in", c.patched_in(), ch, 3);
    for (b, block) in blocks.iter().enumerate() {
        let p = format!("encoder.down_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                for j in 0..n {
                    if t.is_full() {
                        break;
                    }
                    res(t, &format!("{p}.res_blocks.{j}"), ch, ch);
                }
            }
            // `make_conv_nd(causal=True)` is itself the block: a CausalConv3d whose Conv3d is
            // `.conv`.
            VaeBlock::CompressAll => conv(t, &p, ch, ch, 3),
            VaeBlock::ResXY => {
                res(t, &p, ch, ch.saturating_mul(2));
                ch = ch.saturating_mul(2);
            }
        }
    }
    conv(t, "encoder.conv_out", ch, c.encoder_out_channels(), 3);

    let mut ch = decoder_base;
    for _ in blocks.iter().filter(|b| **b == VaeBlock::ResXY) {
        ch = ch.saturating_mul(2);
    }
    conv(t, "decoder.conv_in", c.latent_channels(), ch, 3);
    for (b, block) in blocks.iter().rev().enumerate() {
        let p = format!("decoder.up_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                for j in 0..n {
                    if t.is_full() {
                        break;
                    }
                    res(t, &format!("{p}.res_blocks.{j}"), ch, ch);
                }
            }
            // DepthToSpaceUpsample: its causal conv is `.conv`, whose Conv3d is `.conv` again.
            VaeBlock::CompressAll => {
                conv(t, &format!("{p}.conv"), ch, ch.saturating_mul(8), 3);
            }
            VaeBlock::ResXY => {
                res(t, &p, ch, ch / 2);
                ch /= 2;
            }
        }
    }
    conv(t, "decoder.conv_out", ch, c.patched_out(), 3)
}
