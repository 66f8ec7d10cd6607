//! [`Loaded`]: a loaded model with its measured size, its type erased.

use std::any::{Any, TypeId};

/// A loaded model with its measured size, type-erased for storage in the cache.
pub struct Loaded {
    parts: LoadedParts,
}

/// The pieces of a [`Loaded`], for the cache that stores it.
#[non_exhaustive]
pub struct LoadedParts {
    /// The model.
    pub value: Box<dyn Any + Send + Sync>,
    /// Its type's name, for errors.
    pub type_name: &'static str,
    /// Its type, for typed access.
    pub type_id: TypeId,
    /// Its measured resident size.
    pub bytes: u64,
    /// Whether callers may use it concurrently.
    pub shareable: bool,
}

impl Loaded {
    /// Wraps a loaded value whose resident size is `bytes`.
    pub fn new<T: Send + Sync + 'static>(value: T, bytes: u64) -> Self {
        Self {
            parts: LoadedParts {
                value: Box::new(value),
                type_name: std::any::type_name::<T>(),
                type_id: TypeId::of::<T>(),
                bytes,
                shareable: false,
            },
        }
    }

    /// Marks the model safe for concurrent use (no per-model lock).
    #[must_use]
    pub fn shareable(mut self, shareable: bool) -> Self {
        self.parts.shareable = shareable;
        self
    }

    /// The measured size in bytes.
    pub fn bytes(&self) -> u64 {
        self.parts.bytes
    }

    /// The name of the model's type.
    pub fn type_name(&self) -> &'static str {
        self.parts.type_name
    }

    /// Takes it apart.
    pub fn into_parts(self) -> LoadedParts {
        self.parts
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("type", &self.parts.type_name)
            .field("bytes", &self.parts.bytes)
            .finish()
    }
}
