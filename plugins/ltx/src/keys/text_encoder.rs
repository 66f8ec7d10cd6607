//! The T5 encoder's tensors in transformers naming (`encoder.embed_tokens` is tied to `shared`
//! and not stored; `relative_attention_bias` lives in block 0 only).

use crate::TextEncoderConfig;
use modelcache_weights::{Blocks, ExpectedTensors};

/// The numbered blocks, with the first tensor of each.
pub(crate) fn blocks(c: &TextEncoderConfig) -> Blocks<'static> {
    Blocks {
        prefix: "encoder.block.",
        first: "layer.0.SelfAttention.q.weight",
        field: "num_layers",
        configured: c.num_layers(),
    }
}

/// Every tensor, in module order (the block count is checked first, see [`blocks`]).
pub(crate) fn expected(t: &mut ExpectedTensors, c: &TextEncoderConfig) {
    let d = c.d_model();
    let inner = c.num_heads().saturating_mul(c.d_kv());
    t.tensor("shared.weight", [c.vocab_size(), d]);
    for i in 0..c.num_layers() {
        if t.is_full() {
            break;
        }
        let p = format!("encoder.block.{i}.layer.");
        for q in ["q", "k", "v"] {
            t.tensor(format!("{p}0.SelfAttention.{q}.weight"), [inner, d]);
        }
        t.tensor(format!("{p}0.SelfAttention.o.weight"), [d, inner]);
        if i == 0 {
            t.tensor(
                format!("{p}0.SelfAttention.relative_attention_bias.weight"),
                [c.relative_attention_num_buckets(), c.num_heads()],
            );
        }
        t.tensor(format!("{p}0.layer_norm.weight"), [d]);
        let ff = format!("{p}1.DenseReluDense");
        if c.gated() {
            t.tensor(format!("{ff}.wi_0.weight"), [c.d_ff(), d]);
            t.tensor(format!("{ff}.wi_1.weight"), [c.d_ff(), d]);
        } else {
            t.tensor(format!("{ff}.wi.weight"), [c.d_ff(), d]);
        }
        t.tensor(format!("{ff}.wo.weight"), [d, c.d_ff()]);
        t.tensor(format!("{p}1.layer_norm.weight"), [d]);
    }
    t.tensor("encoder.final_layer_norm.weight", [d])
}
