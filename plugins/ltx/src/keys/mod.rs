//! The tensors each config implies, checked against a header: one function per key table,
//! written in module order (docs/checkpoint-layouts.md §7.4 to §7.7).

pub(crate) mod text_encoder;
pub(crate) mod transformer;
pub(crate) mod vae_diffusers;
pub(crate) mod vae_original;

use modelcache_weights::ExpectedTensors;

/// A causal 3-D conv with its `Conv3d` under `.conv`: `weight [o, i, k, k, k]`, `bias [o]`.
fn conv(t: &mut ExpectedTensors, name: &str, i: u64, o: u64, k: u64) {
    t.tensor(format!("{name}.conv.weight"), [o, i, k, k, k]);
    t.tensor(format!("{name}.conv.bias"), [o]);
}

/// The four convolutions at the edges of any LTX VAE (both namings agree on these): what is
/// checked of a later VAE whose block layout is not described here.
fn vae_edges(t: &mut ExpectedTensors, c: &crate::VaeConfig) {
    t.axis(
        "encoder.conv_in.conv.weight",
        1,
        c.patched_in(),
        "in_channels × patch_size²",
    );
    t.axis(
        "encoder.conv_out.conv.weight",
        0,
        c.encoder_out_channels(),
        "latent_channels plus the log-variance channels",
    );
    t.axis(
        "decoder.conv_in.conv.weight",
        1,
        c.latent_channels(),
        "latent_channels",
    );
    t.axis(
        "decoder.conv_out.conv.weight",
        0,
        c.patched_out(),
        "out_channels × patch_size²",
    );
}
