//! Demotion on the policy trace: the same workload on a device whose evicted models either
//! leave (unloaded, reloaded from disk when asked again) or wait in host memory (`demote =
//! true`, moved back when asked again), replayed in simulated time as the policies are
//! (`policies.rs`). A load advances the cache's manual clock by the model's load time, a move
//! either way by its bytes at a copy bandwidth the caller gives; everything else (admission,
//! demotion into free host memory only, promotion, eviction from host memory) is the cache's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use modelcache_backend::{
    Backend, BackendError, BackendModel, Inspection, LoadProgress, ModelSource, Opened,
};
use modelcache_core::{Clock, EvictionPolicy, ManualClock, ModelCache, ModelPolicy};
use serde::Serialize;

use super::latency::Percentiles;
use super::policies::{PolicyWorkload, request_trace};

/// The device every model of a tiered replay is on.
const DEVICE: &str = "gpu";

/// One workload on a device, without and with demotion.
#[derive(Debug, Clone, Serialize)]
pub struct TierRun {
    /// The device's budget (the workload's budget).
    pub device_budget: u64,
    /// Host memory, where demoted models wait.
    pub host_budget: u64,
    /// Bytes per second a move copies (either way).
    pub bandwidth: f64,
    /// The eviction policy of both replays.
    pub policy: String,
    /// Evicted models are unloaded.
    pub unload: TierRow,
    /// Evicted models are demoted to host memory when it has room for them.
    pub demote: TierRow,
}

/// One tiered replay.
#[derive(Debug, Clone, Serialize)]
pub struct TierRow {
    /// Requests served by a model resident on the device.
    pub hits: u64,
    /// Loads from disk.
    pub loads: u64,
    /// Models moved back from host memory.
    pub promotions: u64,
    /// Models moved to host memory.
    pub demotions: u64,
    /// Time spent loading from disk, in seconds (simulated).
    pub load_seconds: f64,
    /// Time spent moving models between the device and host memory, in seconds (simulated).
    pub move_seconds: f64,
    /// Request latency (simulated): 0 for a hit, else the loads and moves it waited for.
    pub latency: Percentiles,
    /// Requests that failed.
    pub errors: u64,
}

impl TierRow {
    /// Time spent loading and moving.
    pub fn total_seconds(&self) -> f64 {
        self.load_seconds + self.move_seconds
    }
}

/// Replays `workload` on a device of `workload.budget` bytes under `policy`, once unloading
/// and once demoting into `host_budget` bytes of host memory at `bandwidth` bytes per second.
pub fn compare_tiers(
    workload: &PolicyWorkload,
    policy: EvictionPolicy,
    host_budget: u64,
    bandwidth: f64,
) -> TierRun {
    TierRun {
        device_budget: workload.budget,
        host_budget,
        bandwidth,
        policy: policy.to_string(),
        unload: replay_tiered(workload, policy, host_budget, bandwidth, false),
        demote: replay_tiered(workload, policy, host_budget, bandwidth, true),
    }
}

/// A model of the replay: loading it and moving it take simulated time.
struct Simulated {
    clock: Arc<ManualClock>,
    bytes: u64,
    load: Duration,
    /// Time one move takes.
    copy: Duration,
    /// Nanoseconds spent moving, over every model of the replay.
    moved: Arc<AtomicU64>,
}

impl Simulated {
    fn copy(&self) {
        self.clock.advance(self.copy);
        let nanos = u64::try_from(self.copy.as_nanos()).unwrap_or(u64::MAX);
        self.moved.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Backend for Simulated {
    type Options = ();
    type Model = ();
    type Plan = ();

    fn name(&self) -> &str {
        "simulated"
    }

    fn open(&self, _: &ModelSource<'_, ()>) -> Result<Opened<()>, BackendError> {
        Ok(Opened::new((), Inspection::of_bytes(self.bytes)))
    }

    fn load(&self, (): (), _: u64, _: &dyn LoadProgress) -> Result<(), BackendError> {
        self.clock.advance(self.load);
        Ok(())
    }

    fn moves(&self) -> bool {
        true
    }

    fn demote(&self, (): &()) -> Result<(), BackendError> {
        self.copy();
        Ok(())
    }

    fn promote(&self, (): &(), _: &str) -> Result<(), BackendError> {
        self.copy();
        Ok(())
    }
}

fn replay_tiered(
    workload: &PolicyWorkload,
    policy: EvictionPolicy,
    host_budget: u64,
    bandwidth: f64,
    demote: bool,
) -> TierRow {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(host_budget)
        .device(DEVICE, workload.budget)
        .eviction(policy)
        .load_timeout(Duration::ZERO)
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build();
    let moved = Arc::new(AtomicU64::new(0));
    for model in &workload.models {
        #[allow(clippy::cast_precision_loss)]
        let seconds = model.bytes as f64 / bandwidth;
        let backend = Simulated {
            clock: Arc::clone(&clock),
            bytes: model.bytes,
            load: model.load,
            copy: Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX),
            moved: Arc::clone(&moved),
        };
        let loader = BackendModel::new(Arc::new(backend), &model.id, "/simulated", ())
            .on_device(Some(DEVICE.into()));
        let mut p = ModelPolicy::default().on_device(DEVICE).demoting(demote);
        if let Some(k) = model.keep_alive {
            p = p.keep_alive(k);
        }
        // Registration cannot fail: the device exists and the backend moves models.
        let _ = cache.register(&model.id, Arc::new(loader), p);
    }
    let (latency, errors) = request_trace(&cache, &clock, workload);
    let s = cache.stats();
    TierRow {
        hits: s.hits,
        loads: s.loads,
        promotions: s.promotions,
        demotions: s.demotions,
        load_seconds: s.load_time.as_secs_f64(),
        #[allow(clippy::cast_precision_loss)]
        move_seconds: moved.load(Ordering::Relaxed) as f64 / 1e9,
        latency,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::replay_policy;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn without_demotion_a_device_replays_as_the_plain_budget_and_with_it_every_request_is_served() {
        let w = PolicyWorkload::reference(64 * GB, 300, 3);
        let run = compare_tiers(&w, EvictionPolicy::Cost, 64 * GB, 25e9);
        // A device budget without demotion is the same cache as a plain budget.
        let plain = replay_policy(&w, EvictionPolicy::Cost);
        let u = &run.unload;
        assert_eq!(
            (u.hits, u.loads, u.load_seconds),
            (plain.hits, plain.loads, plain.load_seconds)
        );
        assert_eq!((run.unload.promotions, run.unload.demotions), (0, 0));
        assert_eq!(run.unload.move_seconds, 0.0);
        let d = &run.demote;
        assert_eq!(d.errors, 0, "{d:?}");
        assert_eq!(d.latency.count, 300, "{d:?}");
        // Every request is a hit, a load or a promotion; models were demoted and came back.
        assert_eq!(d.hits + d.loads + d.promotions, 300, "{d:?}");
        assert!(d.promotions > 0 && d.demotions >= d.promotions, "{d:?}");
        assert!(d.move_seconds > 0.0, "{d:?}");
        // Deterministic.
        let again = compare_tiers(&w, EvictionPolicy::Cost, 64 * GB, 25e9);
        assert_eq!(again.demote.total_seconds(), d.total_seconds());
    }
}
