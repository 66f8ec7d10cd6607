//! Replaying a mixed request trace: seeded, skewed toward popular models, several clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use modelcache_core::{ModelCache, NoProgress, Served};
use serde::Serialize;

use super::latency::Percentiles;

/// The shape of a trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSpec {
    /// Total requests over all clients.
    pub requests: usize,
    /// Concurrent clients (threads).
    pub clients: usize,
    /// Seed of the request sequence.
    pub seed: u64,
    /// Zipf exponent: 0 = uniform, larger = more skewed toward the first models.
    pub skew: f64,
    /// How long each request holds its model (a stand-in for inference).
    pub hold: Duration,
}

impl Default for TraceSpec {
    fn default() -> Self {
        Self {
            requests: 400,
            clients: 4,
            seed: 7,
            skew: 1.1,
            hold: Duration::from_micros(200),
        }
    }
}

/// What a trace replay measured.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    /// The trace.
    pub spec: TraceSpec,
    /// Requests per model, in the order given.
    pub per_model: Vec<(String, usize)>,
    /// Requests served by a resident model.
    pub hits: u64,
    /// Requests that found no resident model and ran its load.
    pub loaded: u64,
    /// Requests that found the model loading (for another request) and waited for that load.
    pub joined: u64,
    /// Loader runs that succeeded (the cache's count).
    pub loads: u64,
    /// Evictions.
    pub evictions: u64,
    /// Requests that waited for room.
    pub waits: u64,
    /// Requests that failed.
    pub errors: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Latency of hits: the request, under every client's traffic.
    pub hit_latency: Percentiles,
    /// Latency of requests that ran a load.
    pub load_latency: Percentiles,
    /// Latency of requests that joined a load.
    pub join_latency: Percentiles,
    /// Wall time of the whole replay, in nanoseconds.
    pub wall_ns: u64,
    /// Highest bytes charged seen after any request, and the budget.
    pub peak_charged: u64,
    /// The cache budget.
    pub budget: u64,
}

/// A small deterministic generator (xorshift64*), so a seed gives the same trace everywhere.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        #[allow(clippy::cast_precision_loss)]
        let v = (x >> 11) as f64 / (1u64 << 53) as f64;
        v
    }
}

/// The request sequence: model indices drawn from a Zipf distribution over `n` models.
pub fn sequence(n: usize, spec: &TraceSpec) -> Vec<usize> {
    #[allow(clippy::cast_precision_loss)]
    let weights: Vec<f64> = (1..=n)
        .map(|rank| 1.0 / (rank as f64).powf(spec.skew))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut rng = Rng(spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..spec.requests)
        .map(|_| {
            let mut x = rng.next_f64() * total;
            weights
                .iter()
                .position(|w| {
                    x -= w;
                    x < 0.0
                })
                .unwrap_or(n - 1)
        })
        .collect()
}

/// Replays a trace over `ids` (the first is the most popular) against `cache`.
pub fn replay(cache: &ModelCache, ids: &[String], spec: &TraceSpec) -> TraceReport {
    let before = cache.stats();
    let seq = Arc::new(sequence(ids.len(), spec));
    let next = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    // At least one client, or nothing would replay (the command line refuses 0).
    let clients = spec.clients.max(1);
    let barrier = Arc::new(Barrier::new(clients));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            let (seq, next, samples, barrier) = (&seq, &next, &samples, &barrier);
            s.spawn(move || {
                let mut mine = Samples::default();
                barrier.wait();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&m) = seq.get(i) else { break };
                    let start = Instant::now();
                    match cache.request(&ids[m], &NoProgress) {
                        Ok((handle, served)) => {
                            let took = start.elapsed();
                            match served {
                                Served::Hit => mine.hits.push(took),
                                Served::Loaded | Served::Promoted => mine.loaded.push(took),
                                Served::Joined => mine.joined.push(took),
                            }
                            mine.peak = mine.peak.max(cache.stats().charged);
                            std::thread::sleep(spec.hold);
                            drop(handle);
                        }
                        Err(e) => {
                            mine.errors += 1;
                            mine.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                samples
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .merge(mine);
            });
        }
    });
    let wall = started.elapsed();
    let after = cache.stats();
    let Samples {
        mut hits,
        mut loaded,
        mut joined,
        errors,
        first_error,
        peak: peak_charged,
    } = std::mem::take(
        &mut *samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut per_model: Vec<(String, usize)> = ids.iter().map(|id| (id.clone(), 0)).collect();
    for &m in seq.iter() {
        per_model[m].1 += 1;
    }
    TraceReport {
        spec: spec.clone(),
        per_model,
        hits: hits.len() as u64,
        loaded: loaded.len() as u64,
        joined: joined.len() as u64,
        loads: after.loads - before.loads,
        evictions: after.evictions - before.evictions,
        waits: after.waits - before.waits,
        errors,
        first_error,
        hit_latency: Percentiles::of(&mut hits),
        load_latency: Percentiles::of(&mut loaded),
        join_latency: Percentiles::of(&mut joined),
        wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        peak_charged,
        budget: after.budget,
    }
}

/// What the clients measured.
#[derive(Default)]
struct Samples {
    hits: Vec<Duration>,
    loaded: Vec<Duration>,
    joined: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    peak: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.hits.extend(other.hits);
        self.loaded.extend(other.loaded);
        self.joined.extend(other.joined);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.peak = self.peak.max(other.peak);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_seeded_and_skewed() {
        let spec = TraceSpec {
            requests: 10_000,
            ..TraceSpec::default()
        };
        let a = sequence(4, &spec);
        assert_eq!(a, sequence(4, &spec));
        let count = |m| a.iter().filter(|&&x| x == m).count();
        assert!(
            count(0) > count(1) && count(1) > count(3),
            "{:?}",
            (0..4).map(count).collect::<Vec<_>>()
        );
        let uniform = sequence(
            4,
            &TraceSpec {
                skew: 0.0,
                seed: 1,
                ..spec
            },
        );
        assert!(uniform.iter().filter(|&&x| x == 3).count() > 2000);
    }
}
