//! The diffusers `AutoencoderKLLTXVideo` tensors (0.9.0 layout), including the
//! `latents_mean` / `latents_std` buffers.

use super::{conv, vae_edges};
use crate::{VaeBlockLayout, VaeConfig};
use modelcache_weights::ExpectedTensors;

/// Checks every tensor of a 0.9.0 VAE (the edges only of a later one), then the latent
/// statistics.
pub(crate) fn expected(t: &mut ExpectedTensors, c: &VaeConfig) {
    match c.block_layout() {
        VaeBlockLayout::Levels {
            block_out_channels,
            layers_per_block,
            spatio_temporal_scaling,
        } => levels(
            t,
            c,
            block_out_channels,
            layers_per_block,
            spatio_temporal_scaling,
        ),
        _ => vae_edges(t, c),
    }
    let l = c.latent_channels();
    t.tensor("latents_mean", [l]);
    t.tensor("latents_std", [l])
}

/// A diffusers `LTXVideoResnetBlock3d`: when the width changes, `norm3.*` and a causal 1×1×1
/// `conv_shortcut.conv.*`.
fn res(t: &mut ExpectedTensors, n: &str, i: u64, o: u64) {
    conv(t, &format!("{n}.conv1"), i, o, 3);
    conv(t, &format!("{n}.conv2"), o, o, 3);
    if i != o {
        t.tensor(format!("{n}.norm3.weight"), [i]);
        t.tensor(format!("{n}.norm3.bias"), [i]);
        conv(t, &format!("{n}.conv_shortcut"), i, o, 1);
    }
}

/// `layers_per_block` has one entry more than `boc` and `scaling` as many (checked when the
/// config is parsed); `boc` is not empty.
fn levels(t: &mut ExpectedTensors, c: &VaeConfig, boc: &[u64], layers: &[u64], scaling: &[bool]) {
    let lpb = |i: usize| layers.get(i).copied().unwrap_or(0);
    let scales = |i: usize| scaling.get(i).copied().unwrap_or(false);
    let levels = boc.len();
    let base = boc.first().copied().unwrap_or(0);

    conv(t, "encoder.conv_in", c.patched_in(), base, 3);
    let mut oc = base;
    for (i, &width) in boc.iter().enumerate() {
        let ic = oc;
        oc = boc.get(i + 1).copied().unwrap_or(width);
        let p = format!("encoder.down_blocks.{i}");
        for j in 0..lpb(i) {
            if t.is_full() {
                break;
            }
            res(t, &format!("{p}.resnets.{j}"), ic, ic);
        }
        if scales(i) {
            conv(t, &format!("{p}.downsamplers.0"), ic, ic, 3);
        }
        if ic != oc {
            res(t, &format!("{p}.conv_out"), ic, oc);
        }
    }
    for j in 0..lpb(levels) {
        if t.is_full() {
            break;
        }
        res(t, &format!("encoder.mid_block.resnets.{j}"), oc, oc);
    }
    conv(t, "encoder.conv_out", oc, c.encoder_out_channels(), 3);

    let mut oc = boc.last().copied().unwrap_or(0);
    conv(t, "decoder.conv_in", c.latent_channels(), oc, 3);
    for j in 0..lpb(levels) {
        if t.is_full() {
            break;
        }
        res(t, &format!("decoder.mid_block.resnets.{j}"), oc, oc);
    }
    for (i, &width) in boc.iter().rev().enumerate() {
        let level = levels - 1 - i;
        let ic = oc;
        oc = width;
        let p = format!("decoder.up_blocks.{i}");
        if ic != oc {
            res(t, &format!("{p}.conv_in"), ic, oc);
        }
        if scales(level) {
            // The upsampler wraps a causal conv, so its keys end `.conv.conv.*`.
            conv(
                t,
                &format!("{p}.upsamplers.0.conv"),
                oc,
                oc.saturating_mul(8),
                3,
            );
        }
        for j in 0..lpb(level) {
            if t.is_full() {
                break;
            }
            res(t, &format!("{p}.resnets.{j}"), oc, oc);
        }
    }
    conv(t, "decoder.conv_out", oc, c.patched_out(), 3)
}
