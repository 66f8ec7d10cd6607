//! LTX-Video 0.9.0 VAE keys: diffusers naming (docs/checkpoint-layouts.md §7.6) and the original flat-block naming of
//! the single files, walked the way `causal_video_autoencoder.py` builds modules (§7.7).

use crate::{Dtype, KeyTable};

use super::{LtxVaeConfig, VaeBlock};

/// A causal 3-D conv as diffusers stores it: `<n>.conv.weight [o, i, k, k, k]`, `<n>.conv.bias`.
fn cc(k: &mut KeyTable, n: &str, i: u64, o: u64, ks: u64) {
    k.tensor(format!("{n}.conv.weight"), [o, i, ks, ks, ks]);
    k.tensor(format!("{n}.conv.bias"), [o]);
}

fn diffusers_res(k: &mut KeyTable, n: &str, i: u64, o: u64) {
    cc(k, &format!("{n}.conv1"), i, o, 3);
    cc(k, &format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.norm(&format!("{n}.norm3"), i);
        cc(k, &format!("{n}.conv_shortcut"), i, o, 1);
    }
}

/// Every key of the diffusers `AutoencoderKLLTXVideo` (0.9.0 layout: 190 tensors for the real config), including
/// the `latents_mean`/`latents_std` buffers.
pub fn diffusers_vae_keys(c: &LtxVaeConfig, dtype: Dtype) -> KeyTable {
    let boc = &c.block_out_channels;
    let levels = boc.len();
    let lpb = |i: usize| c.layers_per_block.get(i).copied().unwrap_or(1);
    let sts = |i: usize| c.spatio_temporal_scaling.get(i).copied().unwrap_or(false);
    let mut k = KeyTable::new(dtype);
    let p2 = c.patch_size * c.patch_size;
    cc(
        &mut k,
        "encoder.conv_in",
        c.in_channels * p2,
        c.base_channels(),
        3,
    );
    let mut oc = c.base_channels();
    for i in 0..levels {
        let ic = oc;
        oc = boc.get(i + 1).copied().unwrap_or(boc[i]);
        for j in 0..lpb(i) {
            diffusers_res(
                &mut k,
                &format!("encoder.down_blocks.{i}.resnets.{j}"),
                ic,
                ic,
            );
        }
        if sts(i) {
            cc(
                &mut k,
                &format!("encoder.down_blocks.{i}.downsamplers.0"),
                ic,
                ic,
                3,
            );
        }
        if ic != oc {
            diffusers_res(&mut k, &format!("encoder.down_blocks.{i}.conv_out"), ic, oc);
        }
    }
    for j in 0..lpb(levels) {
        diffusers_res(&mut k, &format!("encoder.mid_block.resnets.{j}"), oc, oc);
    }
    cc(&mut k, "encoder.conv_out", oc, c.latent_channels + 1, 3);

    let rb: Vec<u64> = boc.iter().rev().copied().collect();
    let mut oc = rb.first().copied().unwrap_or(128);
    cc(&mut k, "decoder.conv_in", c.latent_channels, oc, 3);
    for j in 0..lpb(levels) {
        diffusers_res(&mut k, &format!("decoder.mid_block.resnets.{j}"), oc, oc);
    }
    for (i, &b) in rb.iter().enumerate() {
        let level = levels - 1 - i;
        let ic = oc;
        oc = b;
        if ic != oc {
            diffusers_res(&mut k, &format!("decoder.up_blocks.{i}.conv_in"), ic, oc);
        }
        if sts(level) {
            // The upsampler wraps a causal conv, so its keys end `.conv.conv.*`.
            cc(
                &mut k,
                &format!("decoder.up_blocks.{i}.upsamplers.0.conv"),
                oc,
                oc * 8,
                3,
            );
        }
        for j in 0..lpb(level) {
            diffusers_res(
                &mut k,
                &format!("decoder.up_blocks.{i}.resnets.{j}"),
                oc,
                oc,
            );
        }
    }
    cc(&mut k, "decoder.conv_out", oc, c.out_channels * p2, 3);
    k.tensor("latents_mean", [c.latent_channels]);
    k.tensor("latents_std", [c.latent_channels]);
    k
}

/// An original `ResnetBlock3D`: causal convs under `.conv.`; when the width changes, `norm3.norm.*` (LayerNorm
/// wrapper) and a plain 1×1×1 `conv_shortcut.{weight,bias}` (`make_linear_nd`).
fn original_res(k: &mut KeyTable, n: &str, i: u64, o: u64) {
    cc(k, &format!("{n}.conv1"), i, o, 3);
    cc(k, &format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.norm(&format!("{n}.norm3.norm"), i);
        k.tensor(format!("{n}.conv_shortcut.weight"), [o, i, 1, 1, 1]);
        k.tensor(format!("{n}.conv_shortcut.bias"), [o]);
    }
}

/// Every VAE key in the single files' naming (without the `vae.` prefix): flat `down_blocks.{0..}` /
/// `up_blocks.{0..}` lists, `res_blocks`, and `per_channel_statistics.{mean-of-means,std-of-means}`. With
/// `extra_statistics`, also `per_channel_statistics.{channel,mean-of-stds}`: diffusers' converter drops those two,
/// which implies real files carry them, but their shapes are not verified (written here as `[latent_channels]`).
/// `norm_layer` is `pixel_norm`, which has no weights.
pub fn original_vae_keys(c: &LtxVaeConfig, dtype: Dtype, extra_statistics: bool) -> KeyTable {
    let blocks = c.blocks();
    let mut k = KeyTable::new(dtype);
    let p2 = c.patch_size * c.patch_size;
    let mut ch = c.base_channels();
    cc(&mut k, "encoder.conv_in", c.in_channels * p2, ch, 3);
    for (b, block) in blocks.iter().enumerate() {
        let p = format!("encoder.down_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                (0..n).for_each(|j| original_res(&mut k, &format!("{p}.res_blocks.{j}"), ch, ch))
            }
            // `make_conv_nd(causal=True)` is itself the block: a CausalConv3d whose Conv3d is `.conv`.
            VaeBlock::CompressAll => cc(&mut k, &p, ch, ch, 3),
            VaeBlock::ResXY => {
                original_res(&mut k, &p, ch, 2 * ch);
                ch *= 2;
            }
        }
    }
    // latent_log_var "uniform": one extra channel.
    cc(&mut k, "encoder.conv_out", ch, c.latent_channels + 1, 3);

    let doublings = blocks.iter().filter(|b| **b == VaeBlock::ResXY).count();
    let mut ch = c.base_channels() << doublings;
    cc(&mut k, "decoder.conv_in", c.latent_channels, ch, 3);
    for (b, block) in blocks.iter().rev().enumerate() {
        let p = format!("decoder.up_blocks.{b}");
        match *block {
            VaeBlock::ResX(n) => {
                (0..n).for_each(|j| original_res(&mut k, &format!("{p}.res_blocks.{j}"), ch, ch))
            }
            // DepthToSpaceUpsample: its causal conv is `.conv`, whose Conv3d is `.conv` again.
            VaeBlock::CompressAll => cc(&mut k, &format!("{p}.conv"), ch, 8 * ch, 3),
            VaeBlock::ResXY => {
                original_res(&mut k, &p, ch, ch / 2);
                ch /= 2;
            }
        }
    }
    cc(&mut k, "decoder.conv_out", ch, c.out_channels * p2, 3);
    let l = c.latent_channels;
    k.tensor("per_channel_statistics.mean-of-means", [l]);
    k.tensor("per_channel_statistics.std-of-means", [l]);
    if extra_statistics {
        k.tensor("per_channel_statistics.channel", [l]);
        k.tensor("per_channel_statistics.mean-of-stds", [l]);
    }
    k
}
