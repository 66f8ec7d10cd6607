//! LTX-Video transformer keys, in either naming (docs/checkpoint-layouts.md §7.4).

use crate::{Dtype, KeyTable};

use super::LtxTransformerConfig;

/// Which naming a key table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LtxNaming {
    /// The single-file (Lightricks) names: `patchify_proj`, `adaln_single`, `q_norm`, `k_norm`.
    Original,
    /// diffusers `LTXVideoTransformer3DModel` names: `proj_in`, `time_embed`, `norm_q`, `norm_k`.
    Diffusers,
}

/// Every transformer key and shape (715 tensors for 2B), in `dtype`, without the `model.diffusion_model.` prefix.
pub fn transformer_keys(c: &LtxTransformerConfig, naming: LtxNaming, dtype: Dtype) -> KeyTable {
    let d = c.inner_dim();
    let mut k = KeyTable::new(dtype);
    k.linear("proj_in", c.in_channels, d, true);
    k.tensor("scale_shift_table", [2, d]);
    k.linear("time_embed.emb.timestep_embedder.linear_1", 256, d, true);
    k.linear("time_embed.emb.timestep_embedder.linear_2", d, d, true);
    k.linear("time_embed.linear", d, 6 * d, true);
    k.linear("caption_projection.linear_1", c.caption_channels, d, true);
    k.linear("caption_projection.linear_2", d, d, true);
    for i in 0..c.num_layers {
        let p = format!("transformer_blocks.{i}.");
        for (a, kv_in) in [("attn1", d), ("attn2", c.cross_attention_dim)] {
            k.tensor(format!("{p}{a}.norm_q.weight"), [d]);
            k.tensor(format!("{p}{a}.norm_k.weight"), [d]);
            k.linear(&format!("{p}{a}.to_q"), d, d, c.attention_bias);
            k.linear(&format!("{p}{a}.to_k"), kv_in, d, c.attention_bias);
            k.linear(&format!("{p}{a}.to_v"), kv_in, d, c.attention_bias);
            k.linear(&format!("{p}{a}.to_out.0"), d, d, c.attention_out_bias);
        }
        k.linear(&format!("{p}ff.net.0.proj"), d, 4 * d, true);
        k.linear(&format!("{p}ff.net.2"), 4 * d, d, true);
        k.tensor(format!("{p}scale_shift_table"), [6, d]);
    }
    k.linear("proj_out", d, c.out_channels, true);
    match naming {
        LtxNaming::Diffusers => k,
        LtxNaming::Original => k.rename(original_name),
    }
}

/// diffusers → original rename (LTX `TRANSFORMER_KEYS_RENAME_DICT`, inverted).
fn original_name(n: &str) -> String {
    let n = if let Some(rest) = n.strip_prefix("proj_in.") {
        format!("patchify_proj.{rest}")
    } else if let Some(rest) = n.strip_prefix("time_embed.") {
        format!("adaln_single.{rest}")
    } else {
        n.to_owned()
    };
    n.replace(".norm_q.", ".q_norm.")
        .replace(".norm_k.", ".k_norm.")
}
