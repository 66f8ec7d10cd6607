//! Events reported to the hook set with [`CacheBuilder::on_event`](crate::CacheBuilder::on_event),
//! in the order the state changed (see `effects.rs` for how they are delivered).

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

impl EvictReason {
    /// Every reason, in declaration order.
    pub const ALL: [EvictReason; 4] = [
        EvictReason::Capacity,
        EvictReason::Expired,
        EvictReason::Invalidated,
        EvictReason::Cleared,
    ];

    /// Its name in lower case (`capacity`, `expired`, `invalidated`, `cleared`): the `reason`
    /// label of the exported eviction counter.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictReason::Capacity => "capacity",
            EvictReason::Expired => "expired",
            EvictReason::Invalidated => "invalidated",
            EvictReason::Cleared => "cleared",
        }
    }
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
        /// Bytes reserved before the load (the opened bytes or the configured size).
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
    /// Charged bytes went over a budget: a load measured more than it reserved (or a lone
    /// oversized model was allowed in) and evicting idle models could not make up for it.
    /// Nothing new is admitted in that budget until [`CacheEvent::WithinBudget`].
    OverBudget {
        /// The pool, or `None` for the global budget.
        pool: Option<String>,
        /// Bytes charged against it.
        charged: u64,
        /// The budget.
        budget: u64,
    },
    /// Charged bytes are back within a budget that was exceeded.
    WithinBudget {
        /// The pool, or `None` for the global budget.
        pool: Option<String>,
        /// Bytes charged against it.
        charged: u64,
        /// The budget.
        budget: u64,
    },
    /// A model evicted from its device for room was moved to host memory, where it waits
    /// (charged against the global budget) for its next request.
    Demoted {
        /// The model ID.
        id: String,
        /// The device it left.
        device: String,
        /// Its measured size in host memory.
        bytes: u64,
        /// How long the move took.
        elapsed: Duration,
    },
    /// Moving a model from its device to host memory failed (or panicked): it was unloaded.
    DemotionFailed {
        /// The model ID.
        id: String,
        /// The device it left.
        device: String,
        /// What went wrong.
        error: String,
    },
    /// A demoted model was moved back onto its device for a request.
    Promoted {
        /// The model ID.
        id: String,
        /// The device it is on again.
        device: String,
        /// Its measured size there.
        bytes: u64,
        /// How long the move took.
        elapsed: Duration,
    },
    /// Moving a demoted model back failed (or panicked); it was loaded from its checkpoint
    /// instead (a [`CacheEvent::Loaded`] or [`CacheEvent::LoadFailed`] follows).
    PromotionFailed {
        /// The model ID.
        id: String,
        /// The device it was to move to.
        device: String,
        /// What went wrong.
        error: String,
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

impl CacheEvent {
    /// Logs the event (through `tracing`, target `modelcache`). Called where events are
    /// delivered, outside the cache lock, so that no subscriber code runs under it.
    pub(crate) fn log(&self) {
        match self {
            CacheEvent::Loaded {
                id,
                backend,
                hint,
                bytes,
                elapsed,
            } => {
                tracing::info!(target: "modelcache", model = %id, %backend, hint, bytes, ?elapsed, "loaded");
            }
            CacheEvent::LoadFailed { id, error } => {
                tracing::warn!(target: "modelcache::load", model = %id, %error, "load failed");
            }
            CacheEvent::Evicted {
                id,
                bytes,
                reason,
                still_held,
            } => {
                tracing::info!(target: "modelcache", model = %id, bytes, ?reason, still_held, "evicted");
            }
            CacheEvent::Demoted {
                id,
                device,
                bytes,
                elapsed,
            } => {
                tracing::info!(target: "modelcache", model = %id, %device, bytes, ?elapsed, "demoted to host memory");
            }
            CacheEvent::Promoted {
                id,
                device,
                bytes,
                elapsed,
            } => {
                tracing::info!(target: "modelcache", model = %id, %device, bytes, ?elapsed, "promoted");
            }
            CacheEvent::DemotionFailed { id, device, error } => {
                tracing::warn!(target: "modelcache", model = %id, %device, %error, "demotion failed; unloaded");
            }
            CacheEvent::PromotionFailed { id, device, error } => {
                tracing::warn!(target: "modelcache", model = %id, %device, %error, "promotion failed; loading from the checkpoint");
            }
            CacheEvent::OverBudget {
                pool,
                charged,
                budget,
            } => {
                tracing::warn!(target: "modelcache", ?pool, charged, budget, "over budget");
            }
            CacheEvent::WithinBudget {
                pool,
                charged,
                budget,
            } => {
                tracing::info!(target: "modelcache", ?pool, charged, budget, "back within budget");
            }
        }
    }
}
