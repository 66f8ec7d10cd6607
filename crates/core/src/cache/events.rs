//! Events reported to the hook set with [`CacheBuilder::on_event`](crate::CacheBuilder::on_event).

use std::time::Duration;

use crate::CacheError;

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictReason {
    /// Room was needed for another model.
    Capacity,
    /// Its keep-alive ran out while it was idle.
    Expired,
    /// [`ModelCache::invalidate`](crate::ModelCache::invalidate) removed it.
    Invalidated,
    /// [`ModelCache::clear`](crate::ModelCache::clear) removed it.
    Cleared,
}

/// Something the cache did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheEvent {
    /// A model finished loading.
    Loaded {
        /// The model ID.
        id: String,
        /// Its backend.
        backend: String,
        /// Bytes reserved before the load (the hint or configured size).
        hint: u64,
        /// The measured resident size.
        bytes: u64,
        /// How long the load took.
        elapsed: Duration,
    },
    /// A load failed (or its loader panicked).
    LoadFailed {
        /// The model ID.
        id: String,
        /// What went wrong.
        error: CacheError,
    },
    /// An entry left the cache.
    Evicted {
        /// The model ID.
        id: String,
        /// Its size.
        bytes: u64,
        /// Why.
        reason: EvictReason,
        /// Whether callers still hold it (its bytes stay charged until they let go).
        still_held: bool,
    },
}
