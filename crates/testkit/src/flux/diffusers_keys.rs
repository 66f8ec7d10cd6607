//! diffusers key tables for Flux: `FluxTransformer2DModel` (docs/checkpoint-layouts.md §5.6) and `AutoencoderKL`
//! (§5.7).

use crate::{Dtype, KeyTable};

use super::{AeConfig, FluxConfig};

/// Every key of `transformer/diffusion_pytorch_model*.safetensors`, BF16 (1156 for schnell, 1160 for dev).
///
/// diffusers hard-codes `mlp_ratio = 4.0`, so the MLP width here is always `4 * H`.
pub fn transformer_keys(c: &FluxConfig) -> KeyTable {
    let hd = c.head_dim();
    let d = hd * c.num_heads;
    let m = 4 * d;
    let mut k = KeyTable::new(Dtype::BF16);
    k.linear("time_text_embed.timestep_embedder.linear_1", 256, d, true);
    k.linear("time_text_embed.timestep_embedder.linear_2", d, d, true);
    if c.guidance_embed {
        k.linear("time_text_embed.guidance_embedder.linear_1", 256, d, true);
        k.linear("time_text_embed.guidance_embedder.linear_2", d, d, true);
    }
    k.linear(
        "time_text_embed.text_embedder.linear_1",
        c.vec_in_dim,
        d,
        true,
    );
    k.linear("time_text_embed.text_embedder.linear_2", d, d, true);
    k.linear("context_embedder", c.context_in_dim, d, true);
    k.linear("x_embedder", c.in_channels, d, true);
    for i in 0..c.depth {
        let p = format!("transformer_blocks.{i}.");
        k.linear(&format!("{p}norm1.linear"), d, 6 * d, true);
        k.linear(&format!("{p}norm1_context.linear"), d, 6 * d, true);
        for q in [
            "to_q",
            "to_k",
            "to_v",
            "add_q_proj",
            "add_k_proj",
            "add_v_proj",
        ] {
            k.linear(&format!("{p}attn.{q}"), d, d, true);
        }
        for q in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"] {
            k.tensor(format!("{p}attn.{q}.weight"), [hd]);
        }
        k.linear(&format!("{p}attn.to_out.0"), d, d, true);
        k.linear(&format!("{p}attn.to_add_out"), d, d, true);
        for f in ["ff", "ff_context"] {
            k.linear(&format!("{p}{f}.net.0.proj"), d, m, true);
            k.linear(&format!("{p}{f}.net.2"), m, d, true);
        }
    }
    for j in 0..c.depth_single_blocks {
        let p = format!("single_transformer_blocks.{j}.");
        k.linear(&format!("{p}norm.linear"), d, 3 * d, true);
        for q in ["to_q", "to_k", "to_v"] {
            k.linear(&format!("{p}attn.{q}"), d, d, true);
        }
        k.tensor(format!("{p}attn.norm_q.weight"), [hd]);
        k.tensor(format!("{p}attn.norm_k.weight"), [hd]);
        k.linear(&format!("{p}proj_mlp"), d, m, true);
        k.linear(&format!("{p}proj_out"), d + m, d, true);
    }
    k.linear("norm_out.linear", d, 2 * d, true);
    k.linear("proj_out", d, c.out_channels, true);
    k
}

fn res(k: &mut KeyTable, n: &str, i: u64, o: u64) {
    k.norm(&format!("{n}.norm1"), i);
    k.conv2d(&format!("{n}.conv1"), i, o, 3);
    k.norm(&format!("{n}.norm2"), o);
    k.conv2d(&format!("{n}.conv2"), o, o, 3);
    if i != o {
        k.conv2d(&format!("{n}.conv_shortcut"), i, o, 1);
    }
}

fn attn(k: &mut KeyTable, n: &str, c: u64) {
    k.norm(&format!("{n}.group_norm"), c);
    for q in ["to_q", "to_k", "to_v", "to_out.0"] {
        // Linear in diffusers: the converter drops the BFL 1x1 conv's trailing dims.
        k.linear(&format!("{n}.{q}"), c, c, true);
    }
}

/// Every key of `vae/diffusion_pytorch_model.safetensors` (`AutoencoderKL`, no quant convs), BF16.
pub fn vae_keys(c: &AeConfig) -> KeyTable {
    let boc = c.block_out_channels();
    let lpb = c.num_res_blocks;
    let latent = c.z_channels;
    let mut k = KeyTable::new(Dtype::BF16);
    let first = boc.first().copied().unwrap_or(c.ch);
    k.conv2d("encoder.conv_in", c.in_channels, first, 3);
    let mut oc = first;
    for (i, &b) in boc.iter().enumerate() {
        let ic = oc;
        oc = b;
        for j in 0..lpb {
            res(
                &mut k,
                &format!("encoder.down_blocks.{i}.resnets.{j}"),
                if j == 0 { ic } else { oc },
                oc,
            );
        }
        if i + 1 != boc.len() {
            k.conv2d(
                &format!("encoder.down_blocks.{i}.downsamplers.0.conv"),
                oc,
                oc,
                3,
            );
        }
    }
    res(&mut k, "encoder.mid_block.resnets.0", oc, oc);
    attn(&mut k, "encoder.mid_block.attentions.0", oc);
    res(&mut k, "encoder.mid_block.resnets.1", oc, oc);
    k.norm("encoder.conv_norm_out", oc);
    k.conv2d("encoder.conv_out", oc, 2 * latent, 3);

    let rb: Vec<u64> = boc.iter().rev().copied().collect();
    let mut oc = rb.first().copied().unwrap_or(c.ch);
    k.conv2d("decoder.conv_in", latent, oc, 3);
    res(&mut k, "decoder.mid_block.resnets.0", oc, oc);
    attn(&mut k, "decoder.mid_block.attentions.0", oc);
    res(&mut k, "decoder.mid_block.resnets.1", oc, oc);
    for (i, &b) in rb.iter().enumerate() {
        let ic = oc;
        oc = b;
        for j in 0..=lpb {
            res(
                &mut k,
                &format!("decoder.up_blocks.{i}.resnets.{j}"),
                if j == 0 { ic } else { oc },
                oc,
            );
        }
        if i + 1 != rb.len() {
            k.conv2d(
                &format!("decoder.up_blocks.{i}.upsamplers.0.conv"),
                oc,
                oc,
                3,
            );
        }
    }
    k.norm("decoder.conv_norm_out", oc);
    k.conv2d("decoder.conv_out", oc, c.out_ch, 3);
    k
}
