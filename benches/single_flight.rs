//! Single flight: 16 requests released together (a barrier) for one cold model whose loader does
//! a fixed amount of CPU work (~20 ms on an idle core). Measured from the release until the last
//! of the 16 holds its handle, for this cache and for the baseline design (which runs the
//! loader once per request that misses), beside one load alone. Loader runs are counted per
//! burst and written to `target/bench-extra/single_flight.json` for `scripts/bench-report`.
//!
//! The work is a calibrated count of dependent arithmetic steps (seeded), not a sleep and not
//! a wall-clock spin, so that loads which run at the same time compete for the two cores as
//! real loads do.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/baseline.rs"]
mod baseline;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use modelcache_core::{FnLoader, Loaded, ModelCache, ModelPolicy, NoProgress, Served};

const REQUESTS: usize = 16;
const LOAD_TIME: Duration = Duration::from_millis(20);
const MODEL_BYTES: u64 = 64 << 20;
const SEED: u64 = 0x5eed_f11e;

/// Stands in for a loaded model.
struct Model(#[allow(dead_code)] u64);

/// `steps` dependent multiply-xorshift steps: fixed CPU work that cannot be vectorized away.
fn work(steps: u64) -> u64 {
    let mut x = SEED;
    for _ in 0..steps {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    black_box(x)
}

/// Steps that take `LOAD_TIME` on this machine (the fastest of a few tries).
fn calibrate() -> u64 {
    let probe = 2_000_000;
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            work(probe);
            start.elapsed()
        })
        .min()
        .unwrap();
    (probe as f64 * LOAD_TIME.as_secs_f64() / best.as_secs_f64()) as u64
}

/// Loader runs per burst: the fewest and most seen, and the totals.
#[derive(Default)]
struct Runs {
    bursts: u64,
    runs: u64,
    min: Option<u64>,
    max: u64,
    joined: u64,
}

impl Runs {
    fn record(&mut self, runs: u64, joined: u64) {
        self.bursts += 1;
        self.runs += runs;
        self.joined += joined;
        self.min = Some(self.min.map_or(runs, |m| m.min(runs)));
        self.max = self.max.max(runs);
    }

    fn json(&self) -> String {
        format!(
            r#"{{"bursts": {}, "loader_runs_total": {}, "loader_runs_min": {}, "loader_runs_max": {}, "loader_runs_mean": {:.3}, "joined_total": {}}}"#,
            self.bursts,
            self.runs,
            self.min.unwrap_or(0),
            self.max,
            self.runs as f64 / self.bursts.max(1) as f64,
            self.joined,
        )
    }
}

/// One burst: `REQUESTS` threads wait at a barrier, then each calls `request`; returns the time
/// from the release until the last request returned. `request` returns whether it joined a
/// load in flight.
fn burst(request: Arc<dyn Fn() -> bool + Send + Sync>) -> (Duration, u64) {
    let barrier = Arc::new(Barrier::new(REQUESTS + 1));
    let arrived = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (barrier, request) = (Arc::clone(&barrier), Arc::clone(&request));
            let arrived = Arc::clone(&arrived);
            std::thread::spawn(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                let joined = request();
                (Instant::now(), joined)
            })
        })
        .collect();
    // Thread start-up is not part of a burst: wait until every worker is at the barrier (and
    // had a moment to park). The clock starts before the release, so the wake-ups count.
    while arrived.load(Ordering::SeqCst) < REQUESTS {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(1));
    let start = Instant::now();
    barrier.wait();
    let mut last = start;
    let mut joined = 0;
    for w in workers {
        let (done, j) = w.join().unwrap();
        last = last.max(done);
        joined += u64::from(j);
    }
    (last - start, joined)
}

fn modelcache_burst(steps: u64, runs: &Mutex<Runs>) -> Duration {
    let cache = Arc::new(ModelCache::new(4 * MODEL_BYTES));
    let count = Arc::new(AtomicU64::new(0));
    let loads = Arc::clone(&count);
    let loader = FnLoader::new("spin", MODEL_BYTES, move |_| {
        loads.fetch_add(1, Ordering::Relaxed);
        Ok(Loaded::new(Model(work(steps)), MODEL_BYTES))
    });
    cache
        .register("cold", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let c = Arc::clone(&cache);
    let (elapsed, joined) = burst(Arc::new(move || {
        let (handle, served) = c.request("cold", &NoProgress).unwrap();
        black_box(&handle);
        served == Served::Joined
    }));
    runs.lock()
        .unwrap()
        .record(count.load(Ordering::Relaxed), joined);
    elapsed
}

fn baseline_burst(steps: u64, runs: &Mutex<Runs>) -> Duration {
    let cache = Arc::new(baseline::BackendCache::<Model>::new(4 * MODEL_BYTES));
    let count = Arc::new(AtomicU64::new(0));
    let (c, loads) = (Arc::clone(&cache), Arc::clone(&count));
    let (elapsed, _) = burst(Arc::new(move || {
        let handle = c
            .get_or_load::<()>("cold", MODEL_BYTES, || {
                loads.fetch_add(1, Ordering::Relaxed);
                Ok(Model(work(steps)))
            })
            .unwrap();
        black_box(&handle);
        false
    }));
    runs.lock()
        .unwrap()
        .record(count.load(Ordering::Relaxed), 0);
    elapsed
}

fn extra_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-extra")
}

fn single_flight(c: &mut Criterion) {
    let steps = calibrate();
    let mine = Mutex::new(Runs::default());
    let theirs = Mutex::new(Runs::default());

    let mut group = c.benchmark_group("single-flight/16-burst");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(6));
    group.bench_function("one-load-alone", |b| {
        b.iter(|| work(steps));
    });
    group.bench_function("one-request-cold", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let cache = ModelCache::new(4 * MODEL_BYTES);
                    let start = Instant::now();
                    let h = cache
                        .get_or_load_with::<_, std::convert::Infallible>(
                            "cold",
                            MODEL_BYTES,
                            || Ok(Model(work(steps))),
                        )
                        .unwrap();
                    let t = start.elapsed();
                    drop(black_box(h));
                    t
                })
                .sum()
        });
    });
    group.bench_function("modelcache", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| modelcache_burst(steps, &mine)).sum());
    });
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| baseline_burst(steps, &theirs)).sum());
    });
    group.finish();

    let (mine, theirs) = (mine.into_inner().unwrap(), theirs.into_inner().unwrap());
    let json = format!(
        "{{\"requests\": {REQUESTS}, \"load_steps\": {steps}, \"modelcache\": {}, \"baseline\": {}}}\n",
        mine.json(),
        theirs.json()
    );
    eprintln!("single-flight loader runs: {}", json.trim_end());
    // Only when the runs were measured (a filter may have skipped them).
    if mine.bursts > 0 || theirs.bursts > 0 {
        let dir = extra_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("single_flight.json"), json).unwrap();
    }
}

criterion_group!(benches, single_flight);
criterion_main!(benches);
