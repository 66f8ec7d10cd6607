//! Configuring a cache.

use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Mutex, Signal};

use super::events::CacheEvent;
use super::eviction::EvictionPolicy;
use super::signals::Signals;
use super::state::{Pool, State};
use super::{EventHook, ModelCache, Shared};
use crate::clock::{Clock, SystemClock};

/// Builds a [`ModelCache`].
pub struct CacheBuilder {
    budget: u64,
    load_timeout: Duration,
    allow_oversized: bool,
    eviction: EvictionPolicy,
    /// (name, budget, is a device)
    pools: Vec<(String, u64, bool)>,
    clock: Arc<dyn Clock>,
    on_event: Option<EventHook>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            budget: 0,
            load_timeout: Duration::from_secs(120),
            allow_oversized: false,
            eviction: EvictionPolicy::Lru,
            pools: Vec::new(),
            clock: Arc::new(SystemClock),
            on_event: None,
        }
    }
}

impl CacheBuilder {
    /// The global budget in bytes. `0` retains nothing: every request loads; `u64::MAX` is
    /// unlimited.
    #[must_use]
    pub fn budget(mut self, bytes: u64) -> Self {
        self.budget = bytes;
        self
    }

    /// How long a request waits for room before failing (default 2 minutes; zero = no wait;
    /// `Duration::MAX` = no limit). Measured by the cache's [`clock`](Self::clock).
    #[must_use]
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// Admit a model larger than its budget once everything else in that budget is evicted
    /// (the baseline's behaviour). Off by default: such a request fails at once.
    #[must_use]
    pub fn allow_oversized(mut self, allow: bool) -> Self {
        self.allow_oversized = allow;
        self
    }

    /// How idle models are chosen when room is needed (default [`EvictionPolicy::Lru`]; see
    /// [`EvictionPolicy`] for the others, [`EvictionPolicy::Cost`] weighing what a reload
    /// costs). Pins, keep-alive, handles and pools bind every policy the same way.
    #[must_use]
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.eviction = policy;
        self
    }

    /// Adds a named pool with its own budget (a GPU's memory, a cap for a family of models).
    /// Models in a pool count against both the pool and the global budget. Adding a pool
    /// again under the same name replaces its budget.
    #[must_use]
    pub fn pool(self, name: impl Into<String>, budget: u64) -> Self {
        self.scope(name.into(), budget, false)
    }

    /// Adds a device (`"cuda:0"`) with its own budget: the memory the cache may fill there.
    /// Models placed on it ([`ModelPolicy::device`](crate::ModelPolicy::device)) count against
    /// the device alone, not against the global budget, which is host memory's. A model with
    /// [`demote`](crate::ModelPolicy::demote) evicted from it for room waits in host memory
    /// (charged there) and moves back on its next request. Adding a device again under the same
    /// name replaces its budget; a pool and a device cannot share a name (the later wins).
    #[must_use]
    pub fn device(self, name: impl Into<String>, budget: u64) -> Self {
        self.scope(name.into(), budget, true)
    }

    fn scope(mut self, name: String, budget: u64, device: bool) -> Self {
        match self.pools.iter_mut().find(|(n, _, _)| *n == name) {
            Some(pool) => (pool.1, pool.2) = (budget, device),
            None => self.pools.push((name, budget, device)),
        }
        self
    }

    /// The clock used for keep-alive, load timeouts and load times (tests use
    /// [`ManualClock`](crate::ManualClock); after moving it, call
    /// [`ModelCache::expire`](crate::ModelCache::expire) so that waiters look at it).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `hook` for every load, failed load, eviction and budget overrun, outside the cache
    /// lock, one event at a time and in the order the state changed. A panicking hook is caught
    /// and counted (`CacheStats::callback_panics`); the cache carries on.
    #[must_use]
    pub fn on_event(mut self, hook: impl Fn(&CacheEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(hook));
        self
    }

    /// Builds the cache.
    pub fn build(self) -> ModelCache {
        let state = State {
            pools: self
                .pools
                .into_iter()
                .map(|(name, budget, device)| Pool {
                    name: name.into(),
                    budget,
                    charged: 0,
                    over: false,
                    device,
                })
                .collect(),
            budget: self.budget,
            allow_oversized: self.allow_oversized,
            eviction: self.eviction,
            ..State::default()
        };
        ModelCache {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                room: Signal::new(),
                load_timeout: self.load_timeout,
                signals: Arc::new(Signals::new(self.clock)),
                on_event: self.on_event,
            }),
        }
    }
}
