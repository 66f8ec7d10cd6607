//! Hit latency: this cache vs the baseline design vs `lru` behind a `parking_lot::Mutex`, with
//! 4, 64 and 4,096 resident entries, on one and two threads, in one run so results are ratios.
//! Each iteration asks for a random resident key (seeded) and drops the handle. A fourth
//! contender, `lru+parking_lot+in-use-count`, is the anchor plus the per-model in-use count this
//! cache keeps, to show what that count costs.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/baseline.rs"]
mod baseline;

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use modelcache_core::ModelCache;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SIZES: [usize; 3] = [4, 64, 4096];
const ENTRY_BYTES: u64 = 1 << 20;

/// Stands in for a model's weights.
struct Weights(#[allow(dead_code)] [u8; 64]);

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("model-{i:05}")).collect()
}

/// A per-thread key sequence, so every contender does the same work.
fn order(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..4096).map(|_| rng.gen_range(0..n)).collect()
}

trait HitCache: Send + Sync + 'static {
    fn hit(&self, key: &str);
}

impl HitCache for ModelCache {
    fn hit(&self, key: &str) {
        let h = self.get::<Weights>(key).expect("resident");
        black_box(&h);
    }
}

impl HitCache for baseline::BackendCache<Weights> {
    fn hit(&self, key: &str) {
        let h = self
            .get_or_load::<()>(key, ENTRY_BYTES, || unreachable!("resident"))
            .unwrap();
        black_box(&h);
    }
}

/// Values as the anchors store them: a shared handle and a byte size.
type Value = (Arc<parking_lot::Mutex<Weights>>, u64);

struct LruAnchor(parking_lot::Mutex<lru::LruCache<String, Value>>);

impl HitCache for LruAnchor {
    fn hit(&self, key: &str) {
        let h = self
            .0
            .lock()
            .get(key)
            .map(|(v, _)| Arc::clone(v))
            .expect("resident");
        black_box(&h);
    }
}

/// The anchor plus what this cache does beyond it on a hit: a per-model in-use count, raised
/// under the lock (AcqRel) and lowered by the handle's drop (SeqCst), as `Lease` does. Not a
/// target; it shows how much of the gap to the anchor that count explains.
struct InUseValue {
    users: AtomicUsize,
    _weights: parking_lot::Mutex<Weights>,
}

struct InUseLease(Arc<InUseValue>);

impl Drop for InUseLease {
    fn drop(&mut self) {
        if self.0.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            black_box(&self.0);
        }
    }
}

struct LruInUse(parking_lot::Mutex<lru::LruCache<String, (Arc<InUseValue>, u64)>>);

impl HitCache for LruInUse {
    fn hit(&self, key: &str) {
        let h = self
            .0
            .lock()
            .get(key)
            .map(|(v, _)| {
                v.users.fetch_add(1, Ordering::AcqRel);
                InUseLease(Arc::clone(v))
            })
            .expect("resident");
        black_box(&h);
    }
}

fn build(name: &str, n: usize) -> Arc<dyn HitCache> {
    let ks = keys(n);
    let budget = ENTRY_BYTES * n as u64;
    match name {
        "modelcache" => {
            let c = ModelCache::new(budget);
            for k in &ks {
                c.get_or_load_with::<_, std::convert::Infallible>(k, ENTRY_BYTES, || {
                    Ok(Weights([0; 64]))
                })
                .unwrap();
            }
            Arc::new(c)
        }
        "baseline" => {
            let c = baseline::BackendCache::new(budget);
            for k in &ks {
                c.get_or_load::<()>(k, ENTRY_BYTES, || Ok(Weights([0; 64])))
                    .unwrap();
            }
            Arc::new(c)
        }
        "lru+parking_lot+in-use-count" => {
            let mut l = lru::LruCache::new(NonZeroUsize::new(n).unwrap());
            for k in &ks {
                let v = InUseValue {
                    users: AtomicUsize::new(0),
                    _weights: parking_lot::Mutex::new(Weights([0; 64])),
                };
                l.put(k.clone(), (Arc::new(v), ENTRY_BYTES));
            }
            Arc::new(LruInUse(parking_lot::Mutex::new(l)))
        }
        _ => {
            let mut l = lru::LruCache::new(NonZeroUsize::new(n).unwrap());
            for k in &ks {
                l.put(
                    k.clone(),
                    (
                        Arc::new(parking_lot::Mutex::new(Weights([0; 64]))),
                        ENTRY_BYTES,
                    ),
                );
            }
            Arc::new(LruAnchor(parking_lot::Mutex::new(l)))
        }
    }
}

/// Runs `iters` hits on each of `threads` threads and returns the wall time of the slowest:
/// per-iteration time is then the time one hit takes under that contention.
fn timed(cache: &Arc<dyn HitCache>, n: usize, threads: usize, iters: u64) -> Duration {
    let ks = Arc::new(keys(n));
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, ks, barrier) = (Arc::clone(cache), Arc::clone(&ks), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let seq = order(n, 42 + t as u64);
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters as usize {
                    cache.hit(&ks[seq[i % seq.len()]]);
                }
                start.elapsed()
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap_or_default()
}

fn hit_latency(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("hit/{threads}-thread"));
        group
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500));
        for n in SIZES {
            for name in [
                "modelcache",
                "lru+parking_lot",
                "lru+parking_lot+in-use-count",
                "baseline",
            ] {
                let cache = build(name, n);
                group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                    if threads == 1 {
                        let ks = keys(n);
                        let seq = order(n, 42);
                        let mut i = 0usize;
                        b.iter(|| {
                            cache.hit(&ks[seq[i % seq.len()]]);
                            i += 1;
                        });
                    } else {
                        b.iter_custom(|iters| timed(&cache, n, threads, iters));
                    }
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, hit_latency);
criterion_main!(benches);
