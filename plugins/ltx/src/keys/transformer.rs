//! The video transformer's tensors (docs/checkpoint-layouts.md §7.4), in either naming.

use crate::{Naming, TransformerConfig};
use modelcache_weights::{Blocks, ExpectedTensors};

/// The stored name of the input projection's weight (the first tensor of the table).
pub(crate) fn proj_in_weight(naming: Naming) -> &'static str {
    match naming {
        Naming::Original => "patchify_proj.weight",
        Naming::Diffusers => "proj_in.weight",
    }
}

/// The numbered blocks, relative to the component's prefix; `first` is the first tensor of
/// each, which names a missing one (its query norm, or its query projection without norms).
pub(crate) fn blocks(c: &TransformerConfig, naming: Naming) -> Blocks<'static> {
    let first = match (c.qk_norm(), naming) {
        (true, Naming::Original) => "attn1.q_norm.weight",
        (true, Naming::Diffusers) => "attn1.norm_q.weight",
        (false, _) => "attn1.to_q.weight",
    };
    Blocks {
        prefix: "transformer_blocks.",
        first,
        field: "num_layers",
        configured: c.num_layers(),
    }
}

/// Every tensor, in module order (the block count is checked first, see [`blocks`]).
pub(crate) fn expected(t: &mut ExpectedTensors, c: &TransformerConfig, naming: Naming) {
    let (proj_in, time_embed, norm_q, norm_k) = match naming {
        Naming::Original => ("patchify_proj", "adaln_single", "q_norm", "k_norm"),
        Naming::Diffusers => ("proj_in", "time_embed", "norm_q", "norm_k"),
    };
    // `inner_dim × 8` is checked not to overflow when the config is parsed.
    let d = c.inner_dim();
    t.linear(proj_in, c.in_channels(), d, true);
    t.tensor("scale_shift_table", [2, d]);
    let te = format!("{time_embed}.emb.timestep_embedder");
    t.linear(format!("{te}.linear_1"), 256, d, true);
    t.linear(format!("{te}.linear_2"), d, d, true);
    t.linear(format!("{time_embed}.linear"), d, 6 * d, true);
    t.linear("caption_projection.linear_1", c.caption_channels(), d, true);
    t.linear("caption_projection.linear_2", d, d, true);
    for i in 0..c.num_layers() {
        if t.is_full() {
            break;
        }
        let p = format!("transformer_blocks.{i}.");
        for (a, kv_in) in [("attn1", d), ("attn2", c.cross_attention_dim())] {
            if c.qk_norm() {
                t.tensor(format!("{p}{a}.{norm_q}.weight"), [d]);
                t.tensor(format!("{p}{a}.{norm_k}.weight"), [d]);
            }
            let bias = c.attention_bias();
            t.linear(format!("{p}{a}.to_q"), d, d, bias);
            t.linear(format!("{p}{a}.to_k"), kv_in, d, bias);
            t.linear(format!("{p}{a}.to_v"), kv_in, d, bias);
            t.linear(format!("{p}{a}.to_out.0"), d, d, c.attention_out_bias());
        }
        t.linear(format!("{p}ff.net.0.proj"), d, 4 * d, true);
        t.linear(format!("{p}ff.net.2"), 4 * d, d, true);
        t.tensor(format!("{p}scale_shift_table"), [6, d]);
    }
    t.linear("proj_out", d, c.out_channels(), true)
}
