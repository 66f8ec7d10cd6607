//! The cache: one map of loaded models of any type under one byte budget.

mod acquire;
mod admission;
#[cfg(feature = "tokio")]
mod asynchronous;
mod builder;
mod events;
mod flight;
mod handle;
mod maintenance;
mod policy;
mod preflight;
mod report;
mod resident;
mod state;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Condvar, Mutex};

#[cfg(feature = "tokio")]
pub use asynchronous::OwnedModelGuard;
pub use builder::CacheBuilder;
pub use events::{CacheEvent, EvictReason};
pub use handle::{AnyHandle, Handle, ModelGuard, Served};
pub use maintenance::Reaper;
pub use policy::ModelPolicy;
pub use preflight::{Plan, PlanStep, StepOutcome};
pub use stats::{CacheStats, EntryInfo, PoolStats};

use resident::Signals;
use state::State;

pub(crate) type EventHook = Arc<dyn Fn(&CacheEvent) + Send + Sync>;

/// The cache's shared insides. `ModelCache` is a cheap, cloneable reference to it.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Signalled when room may have appeared (bytes released, an entry became idle, unpinned).
    pub room: Condvar,
    pub budget: u64,
    pub load_timeout: Duration,
    pub allow_oversized: bool,
    pub signals: Arc<Signals>,
    pub on_event: Option<EventHook>,
}

/// One cache of loaded models of every backend under one byte budget.
///
/// Cloning is cheap and gives another reference to the same cache.
///
/// * Hits are O(1): a hash lookup and a move to the back of the recency list under one lock.
/// * Concurrent requests for a model that is loading wait for that one load (single flight).
/// * Charged bytes = resident models + loads in flight (reserved before they start) + evicted
///   models that callers still hold. Only idle, unpinned models are evicted, least recently
///   used first; a request that still does not fit waits up to the load timeout.
/// * A panicking loader is reported to every waiter; nothing is poisoned.
#[derive(Clone)]
pub struct ModelCache {
    pub(crate) shared: Arc<Shared>,
}

impl ModelCache {
    /// A cache with `budget` bytes and default settings. See [`ModelCache::builder`].
    pub fn new(budget: u64) -> Self {
        Self::builder().budget(budget).build()
    }

    /// Starts configuring a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The global budget in bytes.
    pub fn budget(&self) -> u64 {
        self.shared.budget
    }
}

impl std::fmt::Debug for ModelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.stats();
        f.debug_struct("ModelCache")
            .field("budget", &s.budget)
            .field("charged", &s.charged)
            .field("entries", &s.entries)
            .finish()
    }
}
