//! The T5 encoder another cache entry provides (the contract's components): the one role this
//! backend takes, and the check, from headers, that the encoder fits the transformer.
//!
//! A given T5 is left out of the plan whatever the `components` option lists and whatever the
//! tree holds: its bytes, files and tensors are the providing entry's. What is checked is the
//! width where it meets the transformer: the T5's `d_model` (its token embedding's width, and
//! its `config.json` when there is one) against the transformer's `caption_channels`, the
//! `in_features` of `caption_projection.linear_1.weight`. The encoder's dtype is not checked:
//! its own entry loads it with its own options, and the caller hands its output to the
//! transformer in the transformer's dtype. A single file, which holds no text encoder, may take
//! one too.

use modelcache_backend::{BackendError, Component as Given, ModelSource};
use modelcache_weights::{EncoderKind, TextInput, encoder_width};

use crate::NAME;
use crate::config::LtxConfig;
use crate::options::{Component, LtxOptions};
use crate::plan::Part;

/// The roles of [`Backend::components`](modelcache_backend::Backend::components): the T5
/// encoder, named as its diffusers folder.
pub(crate) const ROLES: &[&str] = &[Component::TextEncoder.as_str()];

/// The T5 the source's components provide, if any.
///
/// # Errors
/// [`BackendError::Options`] naming the model and the entry when a component's role is not
/// `text_encoder` (the erased layer refuses these before `open`; this keeps a direct caller
/// honest).
pub(crate) fn encoder<'a>(
    source: &ModelSource<'a, LtxOptions>,
) -> Result<Option<&'a Given>, BackendError> {
    match source
        .components
        .iter()
        .find(|g| !ROLES.contains(&g.role.as_str()))
    {
        Some(g) => Err(BackendError::Options {
            backend: NAME.to_owned(),
            reason: format!(
                "model {:?}: no component {:?} (from {:?}) can be given to this backend; it \
                 takes {}",
                source.id,
                g.role,
                g.id,
                ROLES.join(", ")
            ),
        }),
        None => Ok(source.component(Component::TextEncoder.as_str())),
    }
}

/// Checks `given` against the validated transformer in `config` and `parts` (loaded, or opened
/// for this check only).
///
/// # Errors
/// A given folder that cannot be read as a T5 encoder (naming its entry and file), or a
/// `d_model` that is not the transformer's `caption_channels`: a [`BackendError::Invalid`] on
/// `caption_projection.linear_1.weight` naming both models, both files and both widths.
pub(crate) fn check(
    id: &str,
    given: &Given,
    config: &LtxConfig,
    parts: &[Part],
) -> Result<(), BackendError> {
    let (Some(t), Some(part)) = (
        config.transformer(),
        parts.iter().find(|p| p.component == Component::Transformer),
    ) else {
        return Ok(());
    };
    let encoder = encoder_width(&given.id, &given.path, EncoderKind::T5)?;
    let tensor = format!("{}caption_projection.linear_1.weight", part.prefix);
    let file = part
        .checkpoint
        .get(&tensor)
        .map_or(part.checkpoint.location(), |(f, _)| f.path());
    encoder.fits(&TextInput {
        model: id,
        role: &given.role,
        file,
        tensor: &tensor,
        width: t.caption_channels(),
    })
}
