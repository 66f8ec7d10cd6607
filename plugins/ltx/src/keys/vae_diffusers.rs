//! The diffusers `AutoencoderKLLTXVideo` tensors (0.9.0 layout), including the
//! `latents_mean` / `latents_std` buffers.

use modelcache_backend::BackendError;

use super::{conv, vae_edges};
use crate::expect::Expect;
use crate::{VaeBlockLayout, VaeConfig};

/// Checks every tensor of a 0.9.0 VAE (the edges only of a later one), then the latent
/// statistics.
pub(crate) fn check(ex: &Expect<'_>, c: &VaeConfig) -> Result<(), BackendError> {
    match c.block_layout() {
        VaeBlockLayout::Levels {
            block_out_channels,
            layers_per_block,
            spatio_temporal_scaling,
        } => levels(
            ex,
            c,
            block_out_channels,
            layers_per_block,
            spatio_temporal_scaling,
        )?,
        _ => vae_edges(ex, c)?,
    }
    let l = c.latent_channels();
    ex.tensor("latents_mean", &[l])?;
    ex.tensor("latents_std", &[l])
}

/// A diffusers `LTXVideoResnetBlock3d`: when the width changes, `norm3.*` and a causal 1×1×1
/// `conv_shortcut.conv.*`.
fn res(ex: &Expect<'_>, n: &str, i: u64, o: u64) -> Result<(), BackendError> {
    conv(ex, &format!("{n}.conv1"), i, o, 3)?;
    conv(ex, &format!("{n}.conv2"), o, o, 3)?;
    if i != o {
        ex.tensor(&format!("{n}.norm3.weight"), &[i])?;
        ex.tensor(&format!("{n}.norm3.bias"), &[i])?;
        conv(ex, &format!("{n}.conv_shortcut"), i, o, 1)?;
    }
    Ok(())
}

/// `layers_per_block` has one entry more than `boc` and `scaling` as many (checked when the
/// config is parsed); `boc` is not empty.
fn levels(
    ex: &Expect<'_>,
    c: &VaeConfig,
    boc: &[u64],
    layers: &[u64],
    scaling: &[bool],
) -> Result<(), BackendError> {
    let lpb = |i: usize| layers.get(i).copied().unwrap_or(0);
    let scales = |i: usize| scaling.get(i).copied().unwrap_or(false);
    let levels = boc.len();
    let base = boc.first().copied().unwrap_or(0);

    conv(ex, "encoder.conv_in", c.patched_in(), base, 3)?;
    let mut oc = base;
    for (i, &width) in boc.iter().enumerate() {
        let ic = oc;
        oc = boc.get(i + 1).copied().unwrap_or(width);
        let p = format!("encoder.down_blocks.{i}");
        for j in 0..lpb(i) {
            res(ex, &format!("{p}.resnets.{j}"), ic, ic)?;
        }
        if scales(i) {
            conv(ex, &format!("{p}.downsamplers.0"), ic, ic, 3)?;
        }
        if ic != oc {
            res(ex, &format!("{p}.conv_out"), ic, oc)?;
        }
    }
    for j in 0..lpb(levels) {
        res(ex, &format!("encoder.mid_block.resnets.{j}"), oc, oc)?;
    }
    conv(ex, "encoder.conv_out", oc, c.encoder_out_channels(), 3)?;

    let mut oc = boc.last().copied().unwrap_or(0);
    conv(ex, "decoder.conv_in", c.latent_channels(), oc, 3)?;
    for j in 0..lpb(levels) {
        res(ex, &format!("decoder.mid_block.resnets.{j}"), oc, oc)?;
    }
    for (i, &width) in boc.iter().rev().enumerate() {
        let level = levels - 1 - i;
        let ic = oc;
        oc = width;
        let p = format!("decoder.up_blocks.{i}");
        if ic != oc {
            res(ex, &format!("{p}.conv_in"), ic, oc)?;
        }
        if scales(level) {
            // The upsampler wraps a causal conv, so its keys end `.conv.conv.*`.
            conv(
                ex,
                &format!("{p}.upsamplers.0.conv"),
                oc,
                oc.saturating_mul(8),
                3,
            )?;
        }
        for j in 0..lpb(level) {
            res(ex, &format!("{p}.resnets.{j}"), oc, oc)?;
        }
    }
    conv(ex, "decoder.conv_out", oc, c.patched_out(), 3)
}
