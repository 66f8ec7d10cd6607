//! diffusers names to the BFL names candle-transformers' FLUX.1 code reads
//! (docs/checkpoint-layouts.md §5.6 to §5.8): renames, the fused `qkv` and single-block
//! `linear1` (concatenated along the output rows), the swapped `norm_out` halves, the VAE's
//! linear attention as 1x1 convs, and its up blocks in reverse order.

use std::collections::HashMap;

use modelcache_weights::candle_core::{Result, Tensor};

type Tensors = HashMap<String, Tensor>;

/// Takes `from` out of `t` (a missing name is candle's "cannot find tensor" error, named).
fn take(t: &mut Tensors, from: &str) -> Result<Tensor> {
    t.remove(from).ok_or_else(
        || modelcache_weights::candle_core::Error::CannotFindTensor {
            path: from.to_owned(),
        },
    )
}

/// Moves `{from}.{weight,bias}` to `{to}.…`, each that exists.
fn linear(t: &mut Tensors, out: &mut Tensors, from: &str, to: &str) {
    for p in ["weight", "bias"] {
        if let Some(x) = t.remove(&format!("{from}.{p}")) {
            out.insert(format!("{to}.{p}"), x);
        }
    }
}

/// Concatenates the linears `parts` along the output rows into `{to}.…` (a bias only when
/// every part has one).
fn fuse(t: &mut Tensors, out: &mut Tensors, parts: &[String], to: &str) -> Result<()> {
    for p in ["weight", "bias"] {
        if p == "bias" && !parts.iter().all(|n| t.contains_key(&format!("{n}.bias"))) {
            continue;
        }
        let xs = parts
            .iter()
            .map(|n| take(t, &format!("{n}.{p}")))
            .collect::<Result<Vec<_>>>()?;
        out.insert(format!("{to}.{p}"), Tensor::cat(&xs, 0)?);
    }
    Ok(())
}

/// A diffusers `FluxTransformer2DModel` (`depth` double and `single` single blocks) in BFL
/// names. Names left over are kept as they are (candle ignores them).
pub(super) fn transformer(mut t: Tensors, depth: u64, single: u64) -> Result<Tensors> {
    let mut out = Tensors::with_capacity(t.len());
    for (from, to) in [
        (
            "time_text_embed.timestep_embedder.linear_1",
            "time_in.in_layer",
        ),
        (
            "time_text_embed.timestep_embedder.linear_2",
            "time_in.out_layer",
        ),
        (
            "time_text_embed.guidance_embedder.linear_1",
            "guidance_in.in_layer",
        ),
        (
            "time_text_embed.guidance_embedder.linear_2",
            "guidance_in.out_layer",
        ),
        (
            "time_text_embed.text_embedder.linear_1",
            "vector_in.in_layer",
        ),
        (
            "time_text_embed.text_embedder.linear_2",
            "vector_in.out_layer",
        ),
        ("context_embedder", "txt_in"),
        ("x_embedder", "img_in"),
        ("proj_out", "final_layer.linear"),
    ] {
        linear(&mut t, &mut out, from, to);
    }
    for i in 0..depth {
        let (d, b) = (
            format!("transformer_blocks.{i}."),
            format!("double_blocks.{i}."),
        );
        let pairs = [
            ("norm1.linear", "img_mod.lin"),
            ("norm1_context.linear", "txt_mod.lin"),
            ("attn.to_out.0", "img_attn.proj"),
            ("attn.to_add_out", "txt_attn.proj"),
            ("ff.net.0.proj", "img_mlp.0"),
            ("ff.net.2", "img_mlp.2"),
            ("ff_context.net.0.proj", "txt_mlp.0"),
            ("ff_context.net.2", "txt_mlp.2"),
        ];
        for (from, to) in pairs {
            linear(&mut t, &mut out, &format!("{d}{from}"), &format!("{b}{to}"));
        }
        let img = ["to_q", "to_k", "to_v"].map(|q| format!("{d}attn.{q}"));
        fuse(&mut t, &mut out, &img, &format!("{b}img_attn.qkv"))?;
        let txt = ["add_q_proj", "add_k_proj", "add_v_proj"].map(|q| format!("{d}attn.{q}"));
        fuse(&mut t, &mut out, &txt, &format!("{b}txt_attn.qkv"))?;
        for (from, to) in [
            ("norm_q", "img_attn.norm.query_norm"),
            ("norm_k", "img_attn.norm.key_norm"),
            ("norm_added_q", "txt_attn.norm.query_norm"),
            ("norm_added_k", "txt_attn.norm.key_norm"),
        ] {
            let x = take(&mut t, &format!("{d}attn.{from}.weight"))?;
            out.insert(format!("{b}{to}.scale"), x);
        }
    }
    for j in 0..single {
        let (d, b) = (
            format!("single_transformer_blocks.{j}."),
            format!("single_blocks.{j}."),
        );
        linear(
            &mut t,
            &mut out,
            &format!("{d}norm.linear"),
            &format!("{b}modulation.lin"),
        );
        linear(
            &mut t,
            &mut out,
            &format!("{d}proj_out"),
            &format!("{b}linear2"),
        );
        let parts = ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"].map(|q| format!("{d}{q}"));
        fuse(&mut t, &mut out, &parts, &format!("{b}linear1"))?;
        for (from, to) in [("norm_q", "norm.query_norm"), ("norm_k", "norm.key_norm")] {
            let x = take(&mut t, &format!("{d}attn.{from}.weight"))?;
            out.insert(format!("{b}{to}.scale"), x);
        }
    }
    // diffusers' AdaLayerNormContinuous emits (scale, shift); BFL's final layer (shift, scale).
    for p in ["weight", "bias"] {
        let x = take(&mut t, &format!("norm_out.linear.{p}"))?;
        let half = x.dim(0)? / 2;
        let swapped = Tensor::cat(&[x.narrow(0, half, half)?, x.narrow(0, 0, half)?], 0)?;
        out.insert(format!("final_layer.adaLN_modulation.1.{p}"), swapped);
    }
    out.extend(t);
    Ok(out)
}

/// A resnet block: `conv_shortcut` is BFL's `nin_shortcut`, the rest keep their names.
fn resnet(t: &mut Tensors, out: &mut Tensors, from: &str, to: &str) {
    for (a, b) in [
        ("norm1", "norm1"),
        ("conv1", "conv1"),
        ("norm2", "norm2"),
        ("conv2", "conv2"),
        ("conv_shortcut", "nin_shortcut"),
    ] {
        linear(t, out, &format!("{from}.{a}"), &format!("{to}.{b}"));
    }
}

/// The mid block's attention: diffusers' linear `to_q/to_k/to_v/to_out.0` are BFL's 1x1 convs.
fn attention(t: &mut Tensors, out: &mut Tensors, from: &str, to: &str) -> Result<()> {
    linear(t, out, &format!("{from}.group_norm"), &format!("{to}.norm"));
    for (a, b) in [
        ("to_q", "q"),
        ("to_k", "k"),
        ("to_v", "v"),
        ("to_out.0", "proj_out"),
    ] {
        let w = take(t, &format!("{from}.{a}.weight"))?;
        let (o, i) = w.dims2()?;
        out.insert(format!("{to}.{b}.weight"), w.reshape((o, i, 1, 1))?);
        linear(t, out, &format!("{from}.{a}"), &format!("{to}.{b}"));
    }
    Ok(())
}

/// One level of the U: `resnets` resnet blocks (`{d}.resnets.r` to `{b}.block.r`) and its
/// resampling conv (`{d}.{from}` to `{b}.{to}`, absent at the last level).
fn level(
    t: &mut Tensors,
    out: &mut Tensors,
    (d, b): (&str, &str),
    resnets: u64,
    (from, to): (&str, &str),
) {
    for r in 0..resnets {
        resnet(
            t,
            out,
            &format!("{d}.resnets.{r}"),
            &format!("{b}.block.{r}"),
        );
    }
    linear(t, out, &format!("{d}.{from}"), &format!("{b}.{to}"));
}

/// A diffusers `AutoencoderKL` with `levels` levels of `layers` resnets in BFL's
/// `ae.safetensors` names.
pub(super) fn vae(mut t: Tensors, levels: usize, layers: u64) -> Result<Tensors> {
    let mut out = Tensors::with_capacity(t.len());
    for side in ["encoder", "decoder"] {
        for name in ["conv_in", "conv_out"] {
            linear(
                &mut t,
                &mut out,
                &format!("{side}.{name}"),
                &format!("{side}.{name}"),
            );
        }
        let (n, m) = (format!("{side}.conv_norm_out"), format!("{side}.norm_out"));
        linear(&mut t, &mut out, &n, &m);
        let mid = format!("{side}.mid_block");
        resnet(
            &mut t,
            &mut out,
            &format!("{mid}.resnets.0"),
            &format!("{side}.mid.block_1"),
        );
        resnet(
            &mut t,
            &mut out,
            &format!("{mid}.resnets.1"),
            &format!("{side}.mid.block_2"),
        );
        attention(
            &mut t,
            &mut out,
            &format!("{mid}.attentions.0"),
            &format!("{side}.mid.attn_1"),
        )?;
    }
    for l in 0..levels {
        let (d, b) = (
            format!("encoder.down_blocks.{l}"),
            format!("encoder.down.{l}"),
        );
        let down = ("downsamplers.0.conv", "downsample.conv");
        level(&mut t, &mut out, (&d, &b), layers, down);
        // diffusers counts the decoder's up blocks from the bottom, BFL from the top.
        let (d, b) = (
            format!("decoder.up_blocks.{l}"),
            format!("decoder.up.{}", levels - 1 - l),
        );
        let up = ("upsamplers.0.conv", "upsample.conv");
        level(&mut t, &mut out, (&d, &b), layers + 1, up);
    }
    out.extend(t);
    Ok(out)
}
