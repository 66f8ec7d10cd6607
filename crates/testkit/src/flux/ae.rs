//! BFL autoencoder keys (`ae.safetensors`, docs/checkpoint-layouts.md §5.4).

use crate::{Dtype, KeyTable};

use super::AeConfig;

fn res(k: &mut KeyTable, n: &str, i: u64, o: u64) {
    k.norm(&format!("{n}.norm1"), i);
    k.conv2d(&format!("{n}.conv1"), i, o, 3);
    k.norm(&format!("{n}.norm2"), o);
    k.conv2d(&format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.conv2d(&format!("{n}.nin_shortcut"), i, o, 1);
    }
}

fn attn(k: &mut KeyTable, n: &str, c: u64) {
    k.norm(&format!("{n}.norm"), c);
    for q in ["q", "k", "v", "proj_out"] {
        // 1x1 Conv2d in BFL's code (diffusers turns these into Linear).
        k.conv2d(&format!("{n}.{q}"), c, c, 1);
    }
}

/// Every key and shape of BFL's `ae.safetensors`, F32 (docs/checkpoint-layouts.md §5.4: 244 tensors for the real
/// config). No `quant_conv`/`post_quant_conv`; `down.{l}.attn` is an empty list and stores nothing.
pub fn ae_keys(c: &AeConfig) -> KeyTable {
    let mut k = KeyTable::new(Dtype::F32);
    let ch = c.ch;
    let levels = c.ch_mult.len();
    k.conv2d("encoder.conv_in", c.in_channels, ch, 3);
    let mut bi = ch;
    for l in 0..levels {
        let in_mult = if l == 0 { 1 } else { c.ch_mult[l - 1] };
        bi = ch * in_mult;
        let bo = ch * c.ch_mult[l];
        for b in 0..c.num_res_blocks {
            res(&mut k, &format!("encoder.down.{l}.block.{b}"), bi, bo);
            bi = bo;
        }
        if l + 1 != levels {
            k.conv2d(&format!("encoder.down.{l}.downsample.conv"), bi, bi, 3);
        }
    }
    res(&mut k, "encoder.mid.block_1", bi, bi);
    attn(&mut k, "encoder.mid.attn_1", bi);
    res(&mut k, "encoder.mid.block_2", bi, bi);
    k.norm("encoder.norm_out", bi);
    k.conv2d("encoder.conv_out", bi, 2 * c.z_channels, 3);

    let mut bi = ch * c.ch_mult.last().copied().unwrap_or(1);
    k.conv2d("decoder.conv_in", c.z_channels, bi, 3);
    res(&mut k, "decoder.mid.block_1", bi, bi);
    attn(&mut k, "decoder.mid.attn_1", bi);
    res(&mut k, "decoder.mid.block_2", bi, bi);
    for l in (0..levels).rev() {
        let bo = ch * c.ch_mult[l];
        for b in 0..=c.num_res_blocks {
            res(&mut k, &format!("decoder.up.{l}.block.{b}"), bi, bo);
            bi = bo;
        }
        if l != 0 {
            k.conv2d(&format!("decoder.up.{l}.upsample.conv"), bi, bi, 3);
        }
    }
    k.norm("decoder.norm_out", bi);
    k.conv2d("decoder.conv_out", bi, c.out_ch, 3);
    k
}
