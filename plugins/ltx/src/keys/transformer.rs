//! The video transformer's tensors (docs/checkpoint-layouts.md §7.4), in either naming.

use modelcache_backend::BackendError;

use super::linear;
use crate::expect::Expect;
use crate::{Naming, TransformerConfig};

/// The stored name of the input projection's weight (the first tensor of the table).
pub(crate) fn proj_in_weight(naming: Naming) -> &'static str {
    match naming {
        Naming::Original => "patchify_proj.weight",
        Naming::Diffusers => "proj_in.weight",
    }
}

/// Checks the block count, then every tensor, in module order.
pub(crate) fn check(
    ex: &Expect<'_>,
    c: &TransformerConfig,
    naming: Naming,
) -> Result<(), BackendError> {
    let (proj_in, time_embed, norm_q, norm_k) = match naming {
        Naming::Original => ("patchify_proj", "adaln_single", "q_norm", "k_norm"),
        Naming::Diffusers => ("proj_in", "time_embed", "norm_q", "norm_k"),
    };
    let first_of_block = |i: u64| {
        if c.qk_norm() {
            format!("transformer_blocks.{i}.attn1.{norm_q}.weight")
        } else {
            format!("transformer_blocks.{i}.attn1.to_q.weight")
        }
    };
    ex.block_count(
        "transformer_blocks.",
        c.num_layers(),
        "num_layers",
        first_of_block,
    )?;

    // `inner_dim × 8` is checked not to overflow when the config is parsed.
    let d = c.inner_dim();
    linear(ex, proj_in, c.in_channels(), d, true)?;
    ex.tensor("scale_shift_table", &[2, d])?;
    let t = format!("{time_embed}.emb.timestep_embedder");
    linear(ex, &format!("{t}.linear_1"), 256, d, true)?;
    linear(ex, &format!("{t}.linear_2"), d, d, true)?;
    linear(ex, &format!("{time_embed}.linear"), d, 6 * d, true)?;
    linear(
        ex,
        "caption_projection.linear_1",
        c.caption_channels(),
        d,
        true,
    )?;
    linear(ex, "caption_projection.linear_2", d, d, true)?;
    for i in 0..c.num_layers() {
        let p = format!("transformer_blocks.{i}.");
        for (a, kv_in) in [("attn1", d), ("attn2", c.cross_attention_dim())] {
            if c.qk_norm() {
                ex.tensor(&format!("{p}{a}.{norm_q}.weight"), &[d])?;
                ex.tensor(&format!("{p}{a}.{norm_k}.weight"), &[d])?;
            }
            let bias = c.attention_bias();
            linear(ex, &format!("{p}{a}.to_q"), d, d, bias)?;
            linear(ex, &format!("{p}{a}.to_k"), kv_in, d, bias)?;
            linear(ex, &format!("{p}{a}.to_v"), kv_in, d, bias)?;
            linear(
                ex,
                &format!("{p}{a}.to_out.0"),
                d,
                d,
                c.attention_out_bias(),
            )?;
        }
        linear(ex, &format!("{p}ff.net.0.proj"), d, 4 * d, true)?;
        linear(ex, &format!("{p}ff.net.2"), 4 * d, d, true)?;
        ex.tensor(&format!("{p}scale_shift_table"), &[6, d])?;
    }
    linear(ex, "proj_out", d, c.out_channels(), true)
}
