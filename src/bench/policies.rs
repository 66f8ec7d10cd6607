//! The eviction policies compared on one request trace: the same seeded sequence replayed
//! through a real [`ModelCache`] once per [`EvictionPolicy`], in simulated time.
//!
//! Each model is a size and a load time. Its loader advances the cache's `ManualClock` by that
//! load time, so the cache measures load times (and the cost policy learns reload costs) as it
//! would from real loads, and a replay of thousands of multi-GB loads takes milliseconds. The
//! trace is sequential (one client): a request that misses costs its model's load time, a hit
//! nothing, and a fixed think time passes between requests (so keep-alives can run out).
//! Everything else (admission, pins, keep-alive, the policies) is the real cache.

use std::sync::Arc;
use std::time::Duration;

use modelcache_core::{
    Clock, EvictionPolicy, FnLoader, Loaded, ManualClock, ModelCache, ModelPolicy,
};
use serde::Serialize;

use super::latency::Percentiles;
use super::trace::{TraceSpec, sequence};

const GB: u64 = 1_000_000_000;

/// One model of a policy workload.
#[derive(Debug, Clone, Serialize)]
pub struct SimModel {
    /// Its ID.
    pub id: String,
    /// Bytes it holds once loaded.
    pub bytes: u64,
    /// How long one load takes.
    pub load: Duration,
    /// Its keep-alive (`None`: resident until evicted).
    pub keep_alive: Option<Duration>,
}

/// A workload: models in popularity order (the trace's Zipf ranks), a budget and a trace.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyWorkload {
    /// What it stands for.
    pub name: String,
    /// Models, the most requested first.
    pub models: Vec<SimModel>,
    /// The cache's budget in bytes.
    pub budget: u64,
    /// The request sequence (`clients` and `hold` are not used: the replay is sequential).
    pub trace: TraceSpec,
    /// Simulated time between two requests.
    pub think: Duration,
}

/// What one policy did on a workload.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    /// The policy.
    pub policy: String,
    /// Requests served by a resident model.
    pub hits: u64,
    /// Loads run.
    pub loads: u64,
    /// Total time spent loading, in seconds (simulated).
    pub load_seconds: f64,
    /// Bytes loaded.
    pub bytes_loaded: u64,
    /// Request latency (simulated): 0 for a hit, the load time for a miss.
    pub latency: Percentiles,
    /// Requests that failed (0 unless a model does not fit the budget).
    pub errors: u64,
}

impl PolicyWorkload {
    /// The models measured by `modelcache bench` (their measured sizes and cold load times),
    /// the most requested first, under `budget`.
    pub fn measured(models: Vec<SimModel>, budget: u64, trace: TraceSpec) -> Self {
        Self {
            name: "the configured models, as measured".into(),
            models,
            budget,
            trace,
            think: Duration::from_secs(2),
        }
    }
}

impl PolicyWorkload {
    /// The budgets the reference workload is replayed under: a 48 GB, a 64 GB and an 80 GB
    /// machine (or GPU); its models add up to 107 GB.
    pub const REFERENCE_BUDGETS: [u64; 3] = [48 * GB, 64 * GB, 80 * GB];

    /// The reference workload: a self-hosted server's mix of twelve models from 0.13 to 25 GB
    /// (107 GB in all) under `budget`. Load times are not proportional to size (a quantized model that is
    /// dequantized at load is slow per byte; an embedding model is fast), and popularity is not
    /// ordered by size. Sizes are those of common bf16/fp16 checkpoints; load times are
    /// illustrative (1-2 GB/s from an NVMe drive, slower where a load converts), not measured.
    pub fn reference(budget: u64, requests: usize, seed: u64) -> Self {
        let m = |id: &str, gb: f64, load_s: f64, keep_alive_min: Option<u64>| SimModel {
            id: id.to_owned(),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            bytes: (gb * GB as f64) as u64,
            load: Duration::from_secs_f64(load_s),
            keep_alive: keep_alive_min.map(|m| Duration::from_secs(m * 60)),
        };
        Self {
            name: "reference: 12 models of 0.13-25 GB".into(),
            models: vec![
                m("kokoro-82m", 0.33, 0.4, None),
                m("llama-3.1-8b", 16.1, 11.0, Some(120)),
                m("bge-m3", 2.3, 1.6, None),
                m("flux-schnell", 23.8, 16.0, Some(60)),
                m("whisper-large-v3", 3.1, 2.2, None),
                m("sdxl", 6.9, 5.0, Some(60)),
                m("qwen2.5-14b-awq", 9.9, 38.0, Some(120)),
                m("ltx-video", 9.4, 7.0, Some(60)),
                m("t5-xxl", 9.5, 6.5, Some(60)),
                m("e5-small", 0.13, 0.2, None),
                m("bge-reranker", 1.1, 0.9, None),
                m("mixtral-8x7b-gptq", 24.7, 95.0, Some(120)),
            ],
            budget,
            trace: TraceSpec {
                requests,
                clients: 1,
                seed,
                skew: 0.9,
                hold: Duration::ZERO,
            },
            think: Duration::from_secs(2),
        }
    }
}

/// Replays `workload` once per policy in [`EvictionPolicy::ALL`].
pub fn compare_policies(workload: &PolicyWorkload) -> Vec<PolicyRow> {
    EvictionPolicy::ALL
        .into_iter()
        .map(|p| replay_policy(workload, p))
        .collect()
}

/// Replays `workload` under `policy`.
pub fn replay_policy(workload: &PolicyWorkload, policy: EvictionPolicy) -> PolicyRow {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(workload.budget)
        .eviction(policy)
        .load_timeout(Duration::ZERO)
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build();
    for model in &workload.models {
        let (c, load, bytes) = (Arc::clone(&clock), model.load, model.bytes);
        let loader = FnLoader::new("simulated", bytes, move |_| {
            c.advance(load);
            Ok(Loaded::new((), bytes))
        });
        let mut p = ModelPolicy::default();
        if let Some(k) = model.keep_alive {
            p = p.keep_alive(k);
        }
        // Registration cannot fail: no pool is named.
        let _ = cache.register(&model.id, Arc::new(loader), p);
    }
    let (latency, errors) = request_trace(&cache, &clock, workload);
    let s = cache.stats();
    PolicyRow {
        policy: policy.to_string(),
        hits: s.hits,
        loads: s.loads,
        load_seconds: s.load_time.as_secs_f64(),
        bytes_loaded: s.bytes_loaded,
        latency,
        errors,
    }
}

/// Requests `workload`'s trace, in order, from `cache`, whose models' loaders advance `clock`
/// (a hit costs nothing), with `think` between two requests: the latency of the requests
/// served, and how many failed.
pub(super) fn request_trace(
    cache: &ModelCache,
    clock: &ManualClock,
    workload: &PolicyWorkload,
) -> (Percentiles, u64) {
    let seq = sequence(workload.models.len(), &workload.trace);
    let mut latencies = Vec::with_capacity(seq.len());
    let mut errors = 0;
    for m in seq {
        let start = clock.now();
        match cache.get::<()>(&workload.models[m].id) {
            Ok(handle) => {
                latencies.push(clock.now().saturating_duration_since(start));
                drop(handle);
            }
            Err(_) => errors += 1,
        }
        clock.advance(workload.think);
        cache.expire();
    }
    (Percentiles::of(&mut latencies), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_replays_the_same_requests() {
        let w = PolicyWorkload::reference(64 * GB, 300, 3);
        let rows = compare_policies(&w);
        assert_eq!(rows.len(), EvictionPolicy::ALL.len());
        for r in &rows {
            assert_eq!(r.errors, 0, "{r:?}");
            assert_eq!(r.latency.count, 300, "{r:?}");
            // Every miss loads: hits and loads account for every request.
            assert_eq!(r.hits + r.loads, 300, "{r:?}");
            assert!(r.load_seconds > 0.0 && r.bytes_loaded > 0, "{r:?}");
        }
        // The replay is deterministic.
        let again = replay_policy(&w, EvictionPolicy::Cost);
        assert_eq!(again.load_seconds, rows[1].load_seconds);
    }
}
