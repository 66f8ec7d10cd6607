//! What each component's config requires: one module per component family.

pub(crate) mod text;
pub(crate) mod transformer;
pub(crate) mod vae;
