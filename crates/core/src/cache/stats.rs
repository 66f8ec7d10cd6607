//! Counters and the per-entry listing.

use std::time::{Duration, Instant};

use super::events::EvictReason;
use super::eviction::EvictionPolicy;
use super::load_times::LoadHistogram;

/// Running counters, kept under the cache lock.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub loads: u64,
    pub load_failures: u64,
    pub evictions: u64,
    pub evicted_by: EvictionCounts,
    pub bytes_evicted: u64,
    pub expirations: u64,
    pub waits: u64,
    pub wait_timeouts: u64,
    pub withdrawn: u64,
    pub overruns: u64,
    pub load_time: Duration,
    pub load_times: LoadHistogram,
    pub bytes_loaded: u64,
    pub demotions: u64,
    pub demotion_failures: u64,
    pub promotions: u64,
    pub promotion_failures: u64,
}

impl Counters {
    /// Counts a successful load that took `elapsed` and measured `bytes`.
    pub fn loaded(&mut self, elapsed: Duration, bytes: u64) {
        self.loads += 1;
        self.load_time = self.load_time.saturating_add(elapsed);
        self.load_times.record(elapsed);
        self.bytes_loaded = self.bytes_loaded.saturating_add(bytes);
    }
}

/// Evictions counted by [`EvictReason`]; they add up to [`CacheStats::evictions`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictionCounts {
    /// Room was needed for another model.
    pub capacity: u64,
    /// Keep-alive ran out (equals [`CacheStats::expirations`]).
    pub expired: u64,
    /// Removed by `invalidate`.
    pub invalidated: u64,
    /// Removed by `clear`.
    pub cleared: u64,
}

impl EvictionCounts {
    /// The evictions for `reason`.
    pub fn of(&self, reason: EvictReason) -> u64 {
        match reason {
            EvictReason::Capacity => self.capacity,
            EvictReason::Expired => self.expired,
            EvictReason::Invalidated => self.invalidated,
            EvictReason::Cleared => self.cleared,
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        EvictReason::ALL
            .iter()
            .fold(0, |sum, &r| sum.saturating_add(self.of(r)))
    }

    /// Counts one eviction for `reason`.
    pub(crate) fn add(&mut self, reason: EvictReason) {
        let count = match reason {
            EvictReason::Capacity => &mut self.capacity,
            EvictReason::Expired => &mut self.expired,
            EvictReason::Invalidated => &mut self.invalidated,
            EvictReason::Cleared => &mut self.cleared,
        };
        *count = count.saturating_add(1);
    }
}

/// A snapshot of the cache's state and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Resident entries.
    pub entries: usize,
    /// Loads in flight.
    pub loading: usize,
    /// The global budget in bytes.
    pub budget: u64,
    /// Bytes charged: resident + in flight + evicted-but-held (saturating at `u64::MAX`).
    pub charged: u64,
    /// Bytes charged above the global budget now (0 when within it); see
    /// [`CacheEvent::OverBudget`](crate::CacheEvent::OverBudget).
    pub over_budget: u64,
    /// Bytes of resident entries in host memory (those on devices are in [`pools`](Self::pools)).
    pub resident_bytes: u64,
    /// Bytes reserved by loads in flight.
    pub loading_bytes: u64,
    /// Bytes of evicted entries that callers still hold.
    pub held_bytes: u64,
    /// Requests served from a resident entry.
    pub hits: u64,
    /// Requests that found no resident entry (they loaded or joined a load).
    pub misses: u64,
    /// Loader runs that succeeded.
    pub loads: u64,
    /// Loader runs that failed or panicked (hint failures included).
    pub load_failures: u64,
    /// Entries removed (capacity, expiry, invalidation, clear).
    pub evictions: u64,
    /// Those evictions by reason.
    pub evicted_by: EvictionCounts,
    /// Bytes of those entries.
    pub bytes_evicted: u64,
    /// Evictions by keep-alive.
    pub expirations: u64,
    /// Requests that had to wait for room.
    pub waits: u64,
    /// Waits that ran out of time.
    pub wait_timeouts: u64,
    /// Requests waiting for room now.
    pub queued: usize,
    /// Async requests dropped before they were served.
    pub withdrawn: u64,
    /// Times a budget (global or a pool's) went over.
    pub overruns: u64,
    /// Event hooks and model destructors that panicked (the cache caught them and carried on).
    pub callback_panics: u64,
    /// Total time spent in successful loads (by the cache's clock).
    pub load_time: Duration,
    /// Successful loads by duration, in fixed buckets.
    pub load_times: LoadHistogram,
    /// Bytes of those loads (measured sizes).
    pub bytes_loaded: u64,
    /// How idle models are chosen for eviction.
    pub eviction: EvictionPolicy,
    /// Per-pool usage, devices included ([`PoolStats::device`]).
    pub pools: Vec<PoolStats>,
    /// Models moved from a device to host memory instead of being unloaded.
    pub demotions: u64,
    /// Moves to host memory that failed (the model was unloaded instead).
    pub demotion_failures: u64,
    /// Demoted models moved back onto their device for a request.
    pub promotions: u64,
    /// Moves back that failed (the model was loaded from its checkpoint instead).
    pub promotion_failures: u64,
    /// Bytes that sharing components saves now: for each resident component, its bytes times
    /// the resident models holding it, less the one copy charged.
    pub shared_bytes_saved: u64,
}

/// One pool's budget and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Its name.
    pub name: String,
    /// Its budget in bytes.
    pub budget: u64,
    /// Bytes charged against it (saturating at `u64::MAX`).
    pub charged: u64,
    /// Whether it is a device (its members do not count against the global budget).
    pub device: bool,
}

/// One row of [`ModelCache::entries`](crate::ModelCache::entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The model ID.
    pub id: String,
    /// Its backend.
    pub backend: String,
    /// Bytes charged (measured size; the reservation while loading).
    pub bytes: u64,
    /// Outstanding handles.
    pub handles: usize,
    /// Whether it is pinned.
    pub pinned: bool,
    /// Whether it is still loading.
    pub loading: bool,
    /// When it last became idle, if it is idle now and has a keep-alive (models without one
    /// never expire, so the clock is not read for them on the hit path).
    pub idle_since: Option<Instant>,
    /// Its pool.
    pub pool: Option<String>,
    /// The device it is on (`None`: host memory).
    pub device: Option<String>,
    /// For a model demoted to host memory: the device its next request moves it back to.
    pub demoted_from: Option<String>,
    /// The components it holds, as (role, model ID).
    pub uses: Vec<(String, String)>,
    /// The resident models that hold it as a component (their holds count in `handles`).
    pub used_by: Vec<String>,
}
