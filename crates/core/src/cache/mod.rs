//! The cache: one map of loaded models of any type under one byte budget.
//!
//! # Invariants
//!
//! Kept by the code in this module and checked after every locked section in debug builds
//! (`State::check_invariants`, run when a [`Locked`] guard is released):
//!
//! 1. **Ledger identity.** Charged bytes equal resident models + reservations of loads in
//!    flight (current and invalidated) + evicted models still held, globally and per pool.
//!    A device is a pool whose members count against it alone, not globally (the global
//!    budget is host memory's). Sums are `u128` and cannot overflow (`ledger.rs`).
//! 2. **Budgets.** Charged bytes exceed a budget only after a load measured more than it
//!    reserved (or a lone oversized model was allowed in); the state then says so (`over`
//!    flags, `Signals::over_budget`) and nothing new is admitted in that budget until it is met.
//! 3. **Held/settled hand-off.** A resident's bytes are released exactly once: by the evictor
//!    when it is evicted idle (it sets `settled`), or by its `Drop` when it was evicted while
//!    held (its bytes wait in `held` until then).
//! 4. **Leases.** A resident's `users` count rises from zero only under the lock (a hit, or a
//!    leader counting its waiters), so an evictor that sees it idle under the lock is right.
//! 5. **Flights.** A flight is created with its leader guard under the lock, before any user
//!    code runs; it is completed (result published) exactly once; only flights waiting for
//!    admission are in the queue.
//! 6. **Nothing that takes the lock is dropped under it,** and no user code runs under it:
//!    models and flights removed under the lock are dropped by [`effects::Effects::finish`]
//!    after it is released, event hooks run there too, and a panic in either is caught.
//! 7. **Counters agree.** Evictions by reason add up to the evictions (`State::evict` counts
//!    both); the load histogram counts every successful load and sums their time
//!    (`Counters::loaded` keeps them together, for cached and budget-zero loads alike).
//! 8. **Moves.** A model moving between a device and host memory is charged in both places
//!    until its old copy is dropped: a demotion's host copy is a flight's reservation and its
//!    device copy is held; a promotion's device copy is a flight's reservation and its host
//!    copy is held (`tiers.rs`). The device copies being demoted are held and marked
//!    `leaving` (`State::hold_as`); a request whose admission demoted them waits for them to
//!    go rather than make that room twice (`Attempt::AwaitMoves`).

mod acquire;
mod admission;
#[cfg(feature = "tokio")]
mod asynchronous;
mod builder;
mod effects;
mod events;
mod eviction;
mod flight;
mod handle;
mod holds;
mod ledger;
mod load_times;
mod maintenance;
mod policy;
mod preflight;
mod register;
mod report;
mod resident;
mod signals;
mod state;
mod stats;
mod tiers;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Mutex, MutexGuard, Signal};

#[cfg(feature = "tokio")]
pub use asynchronous::OwnedModelGuard;
pub use builder::CacheBuilder;
pub use events::{CacheEvent, EvictReason};
pub use eviction::{DEFAULT_THROUGHPUT, EvictionPolicy, HISTORY, UnknownPolicy};
pub use handle::{AnyHandle, Handle, ModelGuard, Served};
pub use load_times::{LOAD_BUCKETS, LoadHistogram};
pub use maintenance::Reaper;
pub use policy::ModelPolicy;
pub use preflight::{Plan, PlanStep, StepOutcome, Victim};
pub use stats::{CacheStats, EntryInfo, EvictionCounts, PoolStats};

use signals::Signals;
use state::State;

pub(crate) type EventHook = Arc<dyn Fn(&CacheEvent) + Send + Sync>;

/// The cache's shared insides. `ModelCache` is a cheap, cloneable reference to it.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Notified when room may have appeared (bytes released, an entry became idle, unpinned,
    /// a queued request left the queue, the clock may have passed a deadline).
    pub room: Signal,
    pub load_timeout: Duration,
    pub signals: Arc<Signals>,
    pub on_event: Option<EventHook>,
}

impl Shared {
    /// Takes the cache lock to change the state.
    pub fn lock(&self) -> Locked<'_> {
        Locked {
            guard: self.state.lock(),
            check: true,
        }
    }

    /// Takes the cache lock for work that leaves the ledger as it is (a hit, a report, a look
    /// at a flight): not checked on release, which keeps debug builds' hits O(1).
    pub fn lock_ledger_unchanged(&self) -> Locked<'_> {
        Locked {
            guard: self.state.lock(),
            check: false,
        }
    }
}

/// The cache lock, held. Debug builds check the invariants when it is released or waited on.
pub(crate) struct Locked<'a> {
    guard: MutexGuard<'a, State>,
    /// Read by the debug builds' checks only.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    check: bool,
}

impl Locked<'_> {
    /// Waits on a condition variable of this lock (`wait` releases and retakes it).
    pub fn wait(&mut self, wait: impl FnOnce(&mut MutexGuard<'_, State>)) {
        #[cfg(debug_assertions)]
        if self.check {
            self.guard.check_invariants();
        }
        wait(&mut self.guard);
    }
}

impl Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        if self.check && !std::thread::panicking() {
            self.guard.check_invariants();
        }
    }
}

/// One cache of loaded models of every backend under one byte budget.
///
/// Cloning is cheap and gives another reference to the same cache.
///
/// * Hits are O(1): a hash lookup and a move to the back of the recency list under one lock.
/// * Concurrent requests for a model that is loading wait for that one load (single flight).
/// * Charged bytes = resident models + loads in flight (reserved before they start) + evicted
///   models that callers still hold. Only idle, unpinned models are evicted, least recently
///   used first; a request that still does not fit waits, first come first served, up to the
///   load timeout (measured by the cache's [`Clock`](crate::Clock)).
/// * A panicking loader is reported to every waiter; a panicking event hook or model
///   destructor is caught and counted; nothing is poisoned.
#[derive(Clone)]
pub struct ModelCache {
    pub(crate) shared: Arc<Shared>,
}

impl ModelCache {
    /// A cache with `budget` bytes and default settings. See [`ModelCache::builder`].
    /// `u64::MAX` is an unlimited budget; `0` retains nothing.
    pub fn new(budget: u64) -> Self {
        Self::builder().budget(budget).build()
    }

    /// Starts configuring a cache.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The global budget in bytes.
    pub fn budget(&self) -> u64 {
        self.shared.lock_ledger_unchanged().budget
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
