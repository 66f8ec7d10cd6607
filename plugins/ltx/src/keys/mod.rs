//! The tensors each config implies, checked against a header: one function per key table,
//! written in module order (docs/checkpoint-layouts.md §7.4 to §7.7).

pub(crate) mod text_encoder;
pub(crate) mod transformer;
pub(crate) mod vae_diffusers;
pub(crate) mod vae_original;

use modelcache_backend::BackendError;

use crate::expect::Expect;

/// A `Linear(i, o)`: `weight [o, i]` and, with `bias`, `bias [o]`.
fn linear(ex: &Expect<'_>, name: &str, i: u64, o: u64, bias: bool) -> Result<(), BackendError> {
    ex.tensor(&format!("{name}.weight"), &[o, i])?;
    if bias {
        ex.tensor(&format!("{name}.bias"), &[o])?;
    }
    Ok(())
}

/// A causal 3-D conv with its `Conv3d` under `.conv`: `weight [o, i, k, k, k]`, `bias [o]`.
fn conv(ex: &Expect<'_>, name: &str, i: u64, o: u64, k: u64) -> Result<(), BackendError> {
    ex.tensor(&format!("{name}.conv.weight"), &[o, i, k, k, k])?;
    ex.tensor(&format!("{name}.conv.bias"), &[o])
}

/// The four convolutions at the edges of any LTX VAE (both namings agree on these): what is
/// checked of a later VAE whose block layout is not described here.
fn vae_edges(ex: &Expect<'_>, c: &crate::VaeConfig) -> Result<(), BackendError> {
    ex.dim(
        "encoder.conv_in.conv.weight",
        1,
        c.patched_in(),
        "in_channels × patch_size²",
    )?;
    ex.dim(
        "encoder.conv_out.conv.weight",
        0,
        c.encoder_out_channels(),
        "latent_channels plus the log-variance channels",
    )?;
    ex.dim(
        "decoder.conv_in.conv.weight",
        1,
        c.latent_channels(),
        "latent_channels",
    )?;
    ex.dim(
        "decoder.conv_out.conv.weight",
        0,
        c.patched_out(),
        "out_channels × patch_size²",
    )
}
