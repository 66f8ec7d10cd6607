//! The transformer's required tensors: BFL naming (docs/checkpoint-layouts.md §5.3, 776 keys for
//! schnell) and diffusers naming (§5.6, 1156 keys; mflux renames the MLPs to `ff.linear1` /
//! `ff.linear2`, §5.9).

use crate::config::FluxConfig;
use modelcache_weights::ExpectedTensors;

/// Every tensor of a BFL transformer with config `c`, keys under `prefix`.
pub(crate) fn bfl(c: &FluxConfig, prefix: &str) -> ExpectedTensors {
    let (h, hd, m) = (c.hidden_size, c.head_dim(), c.mlp_hidden);
    let mut k = ExpectedTensors::new();
    let mut lin = |name: &str, i, o, bias| k.linear(format!("{prefix}{name}"), i, o, bias);
    lin("img_in", c.in_channels, h, true);
    lin("time_in.in_layer", 256, h, true);
    lin("time_in.out_layer", h, h, true);
    lin("vector_in.in_layer", c.vec_in_dim, h, true);
    lin("vector_in.out_layer", h, h, true);
    if c.guidance_embed {
        lin("guidance_in.in_layer", 256, h, true);
        lin("guidance_in.out_layer", h, h, true);
    }
    lin("txt_in", c.context_in_dim, h, true);
    for i in 0..c.depth {
        let p = format!("{prefix}double_blocks.{i}.");
        for s in ["img", "txt"] {
            k.linear(format!("{p}{s}_mod.lin"), h, h.saturating_mul(6), true);
            k.linear(
                format!("{p}{s}_attn.qkv"),
                h,
                h.saturating_mul(3),
                c.qkv_bias,
            );
            k.tensor(format!("{p}{s}_attn.norm.query_norm.scale"), [hd]);
            k.tensor(format!("{p}{s}_attn.norm.key_norm.scale"), [hd]);
            k.linear(format!("{p}{s}_attn.proj"), h, h, true);
            k.linear(format!("{p}{s}_mlp.0"), h, m, true);
            k.linear(format!("{p}{s}_mlp.2"), m, h, true);
        }
    }
    for j in 0..c.depth_single_blocks {
        let p = format!("{prefix}single_blocks.{j}.");
        let fused = h.saturating_mul(3).saturating_add(m);
        k.linear(format!("{p}linear1"), h, fused, true);
        k.linear(format!("{p}linear2"), h.saturating_add(m), h, true);
        k.tensor(format!("{p}norm.query_norm.scale"), [hd]);
        k.tensor(format!("{p}norm.key_norm.scale"), [hd]);
        k.linear(format!("{p}modulation.lin"), h, h.saturating_mul(3), true);
    }
    let p = prefix;
    k.linear(format!("{p}final_layer.linear"), h, c.out_channels, true);
    k.linear(
        format!("{p}final_layer.adaLN_modulation.1"),
        h,
        h.saturating_mul(2),
        true,
    );
    k
}

/// Every tensor of a `FluxTransformer2DModel` with config `c`; `mflux` selects mflux's MLP
/// names (`ff.linear1`/`ff.linear2` for `ff.net.0.proj`/`ff.net.2`).
pub(crate) fn diffusers(c: &FluxConfig, mflux: bool) -> ExpectedTensors {
    let (d, hd, m) = (c.hidden_size, c.head_dim(), c.mlp_hidden);
    let (ff1, ff2) = if mflux {
        ("linear1", "linear2")
    } else {
        ("net.0.proj", "net.2")
    };
    let mut k = ExpectedTensors::new();
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
        k.linear(format!("{p}norm1.linear"), d, d.saturating_mul(6), true);
        k.linear(
            format!("{p}norm1_context.linear"),
            d,
            d.saturating_mul(6),
            true,
        );
        for q in [
            "to_q",
            "to_k",
            "to_v",
            "add_q_proj",
            "add_k_proj",
            "add_v_proj",
        ] {
            k.linear(format!("{p}attn.{q}"), d, d, c.qkv_bias);
        }
        for q in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"] {
            k.tensor(format!("{p}attn.{q}.weight"), [hd]);
        }
        k.linear(format!("{p}attn.to_out.0"), d, d, true);
        k.linear(format!("{p}attn.to_add_out"), d, d, true);
        for f in ["ff", "ff_context"] {
            k.linear(format!("{p}{f}.{ff1}"), d, m, true);
            k.linear(format!("{p}{f}.{ff2}"), m, d, true);
        }
    }
    for j in 0..c.depth_single_blocks {
        let p = format!("single_transformer_blocks.{j}.");
        k.linear(format!("{p}norm.linear"), d, d.saturating_mul(3), true);
        for q in ["to_q", "to_k", "to_v"] {
            k.linear(format!("{p}attn.{q}"), d, d, c.qkv_bias);
        }
        k.tensor(format!("{p}attn.norm_q.weight"), [hd]);
        k.tensor(format!("{p}attn.norm_k.weight"), [hd]);
        k.linear(format!("{p}proj_mlp"), d, m, true);
        k.linear(format!("{p}proj_out"), d.saturating_add(m), d, true);
    }
    k.linear("norm_out.linear", d, d.saturating_mul(2), true);
    k.linear("proj_out", d, c.out_channels, true);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_key_counts() {
        let schnell = FluxConfig::schnell();
        let dev = FluxConfig {
            guidance_embed: true,
            ..FluxConfig::schnell()
        };
        // docs/checkpoint-layouts.md §5.3, §5.6: 776 / 780 BFL keys, 1156 / 1160 diffusers keys.
        assert_eq!(bfl(&schnell, "").len(), 776);
        assert_eq!(bfl(&dev, "").len(), 780);
        assert_eq!(diffusers(&schnell, false).len(), 1156);
        assert_eq!(diffusers(&dev, true).len(), 1160);
    }
}
