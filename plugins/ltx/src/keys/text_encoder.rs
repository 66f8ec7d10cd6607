//! The T5 encoder's tensors in transformers naming (`encoder.embed_tokens` is tied to `shared`
//! and not stored; `relative_attention_bias` lives in block 0 only).

use modelcache_backend::BackendError;

use crate::TextEncoderConfig;
use crate::expect::Expect;

/// Checks the block count, then every tensor, in module order.
pub(crate) fn check(ex: &Expect<'_>, c: &TextEncoderConfig) -> Result<(), BackendError> {
    ex.block_count("encoder.block.", c.num_layers(), "num_layers", |i| {
        format!("encoder.block.{i}.layer.0.SelfAttention.q.weight")
    })?;
    let d = c.d_model();
    let inner = c.num_heads().saturating_mul(c.d_kv());
    ex.tensor("shared.weight", &[c.vocab_size(), d])?;
    for i in 0..c.num_layers() {
        let p = format!("encoder.block.{i}.layer.");
        for q in ["q", "k", "v"] {
            ex.tensor(&format!("{p}0.SelfAttention.{q}.weight"), &[inner, d])?;
        }
        ex.tensor(&format!("{p}0.SelfAttention.o.weight"), &[d, inner])?;
        if i == 0 {
            ex.tensor(
                &format!("{p}0.SelfAttention.relative_attention_bias.weight"),
                &[c.relative_attention_num_buckets(), c.num_heads()],
            )?;
        }
        ex.tensor(&format!("{p}0.layer_norm.weight"), &[d])?;
        let ff = format!("{p}1.DenseReluDense");
        if c.gated() {
            ex.tensor(&format!("{ff}.wi_0.weight"), &[c.d_ff(), d])?;
            ex.tensor(&format!("{ff}.wi_1.weight"), &[c.d_ff(), d])?;
        } else {
            ex.tensor(&format!("{ff}.wi.weight"), &[c.d_ff(), d])?;
        }
        ex.tensor(&format!("{ff}.wo.weight"), &[d, c.d_ff()])?;
        ex.tensor(&format!("{p}1.layer_norm.weight"), &[d])?;
    }
    ex.tensor("encoder.final_layer_norm.weight", &[d])
}
