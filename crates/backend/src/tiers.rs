//! Tiers: moving a loaded model between a device and host memory ([`Backend::demote`],
//! [`Backend::promote`]), type-erased for the cache.
//!
//! [`Backend::demote`]: crate::Backend::demote
//! [`Backend::promote`]: crate::Backend::promote

use std::any::Any;

use crate::error::BackendError;
use crate::loaded::Loaded;

/// A loaded model's value, as the cache stores it.
pub type ModelValue = dyn Any + Send + Sync;

/// Which way a model moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move<'a> {
    /// From its device to host memory.
    Demote,
    /// From host memory to this device.
    Promote(&'a str),
}

/// The error of a backend asked to move a model it cannot move.
pub(crate) fn unsupported(backend: &str, what: &str) -> BackendError {
    BackendError::other(format!(
        "backend {backend:?} cannot {what} models (it does not implement Backend::{what})"
    ))
}

/// The error of a model value that is not the backend's model type.
pub(crate) fn wrong_type(backend: &str, expected: &str) -> BackendError {
    BackendError::other(format!(
        "backend {backend:?} was asked to move a model that is not a {expected}"
    ))
}

/// Wraps a moved copy the way a load's result is wrapped.
pub(crate) fn moved<T: Send + Sync + 'static>(value: T, bytes: u64, shareable: bool) -> Loaded {
    Loaded::new(value, bytes).shareable(shareable)
}
