//! Text encoders that other cache entries provide (the contract's components): which roles the
//! backend takes, and the check, from headers, that a given encoder fits the transformer.
//!
//! A given part is left out of the plan whatever the `components` option lists and whatever
//! the model folder holds: its bytes, files and tensors are the providing entry's. What is
//! checked is the width where the encoder meets the transformer: the T5's `d_model` against
//! the transformer's text-sequence input (BFL `txt_in.weight`, diffusers and mflux
//! `context_embedder.weight`), CLIP's `hidden_size` against its pooled-vector input (BFL
//! `vector_in.in_layer.weight`, diffusers and mflux
//! `time_text_embed.text_embedder.linear_1.weight`). The encoder's dtype is not checked: it is
//! loaded by its own entry, with that entry's options, and the caller hands its output to the
//! transformer in the transformer's dtype. BFL single files carry no text encoders, and taking
//! them from other entries is how a BFL transformer gets its text input.

use modelcache_backend::{BackendError, Component as Given};
use modelcache_weights::{EncoderKind, TextInput, encoder_width};

use crate::backend::NAME;
use crate::config::FluxConfig;
use crate::layout::Layout;
use crate::options::Component;
use crate::plan::Part;

/// The roles of [`Backend::components`](modelcache_backend::Backend::components): the two
/// text encoders, named as their diffusers folders.
pub(crate) const ROLES: &[&str] = &[
    Component::TextEncoder.as_str(),
    Component::TextEncoder2.as_str(),
];

/// The Flux component a role names, and which encoder it is.
///
/// # Errors
/// [`BackendError::Options`] naming the model and the entry when the role is not one of
/// [`ROLES`] (the erased layer refuses these before `open`; this keeps a direct caller honest).
pub(crate) fn role(id: &str, given: &Given) -> Result<(Component, EncoderKind), BackendError> {
    match given.role.as_str() {
        r if r == Component::TextEncoder.as_str() => {
            Ok((Component::TextEncoder, EncoderKind::Clip))
        }
        r if r == Component::TextEncoder2.as_str() => {
            Ok((Component::TextEncoder2, EncoderKind::T5))
        }
        other => Err(BackendError::Options {
            backend: NAME.to_owned(),
            reason: format!(
                "model {id:?}: no component {other:?} (from {:?}) can be given to this backend; \
                 it takes {}",
                given.id,
                ROLES.join(", ")
            ),
        }),
    }
}

/// Checks every given encoder against `transformer`, the model's validated transformer (loaded
/// or opened for this check only).
///
/// # Errors
/// The first given encoder whose folder cannot be read as that encoder (naming its entry and
/// file), or whose width is not the transformer's input width: a [`BackendError::Invalid`] on
/// the transformer's input tensor that names both models, both files and both widths.
pub(crate) fn check(
    id: &str,
    given: &[Given],
    layout: Layout,
    transformer: &Part,
) -> Result<(), BackendError> {
    let Some(config) = &transformer.checked.config else {
        return Ok(());
    };
    for g in given {
        let (component, kind) = role(id, g)?;
        let encoder = encoder_width(&g.id, &g.path, kind)?;
        let (tensor, width) = input(component, layout, transformer.checked.prefix, config);
        let file = transformer
            .checkpoint
            .get(&tensor)
            .map_or(transformer.checkpoint.location(), |(f, _)| f.path());
        encoder.fits(&TextInput {
            model: id,
            role: &g.role,
            file,
            tensor: &tensor,
            width,
        })?;
    }
    Ok(())
}

/// The transformer tensor a text encoder feeds, and its input width.
fn input(component: Component, layout: Layout, prefix: &str, config: &FluxConfig) -> (String, u64) {
    let bfl = layout == Layout::Bfl;
    match component {
        Component::TextEncoder if bfl => (
            format!("{prefix}vector_in.in_layer.weight"),
            config.vec_in_dim,
        ),
        Component::TextEncoder => (
            "time_text_embed.text_embedder.linear_1.weight".to_owned(),
            config.vec_in_dim,
        ),
        _ if bfl => (format!("{prefix}txt_in.weight"), config.context_in_dim),
        _ => ("context_embedder.weight".to_owned(), config.context_in_dim),
    }
}
