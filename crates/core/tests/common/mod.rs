//! Helpers shared by the core's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use modelcache_core::{BackendError, CacheStats, FnLoader, Loaded, ModelCache, ModelPolicy};

/// What the test loaders load.
#[derive(Debug)]
pub struct Model {
    pub id: String,
    pub generation: usize,
}

/// Registers `id` with a loader that counts its runs and charges `bytes`.
pub fn counting(cache: &ModelCache, id: &str, bytes: u64, policy: ModelPolicy) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let name = id.to_owned();
    let loader = FnLoader::new("test", bytes, move |_| {
        let generation = r.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Loaded::new(
            Model {
                id: name.clone(),
                generation,
            },
            bytes,
        ))
    });
    cache.register(id, Arc::new(loader), policy).unwrap();
    runs
}

/// A loader that reports it started, then blocks until released: orders events without sleeps.
pub struct Gate {
    pub started: Receiver<()>,
    pub release: Sender<Result<(), String>>,
    pub runs: Arc<AtomicUsize>,
}

pub fn gated(cache: &ModelCache, id: &str, hint: u64, measured: u64, policy: ModelPolicy) -> Gate {
    let (started_tx, started) = channel();
    let (release, release_rx) = channel::<Result<(), String>>();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let started_tx = Mutex::new(started_tx);
    let release_rx = Mutex::new(release_rx);
    let name = id.to_owned();
    let loader = FnLoader::new("gated", hint, move |_| {
        let generation = r.fetch_add(1, Ordering::SeqCst) + 1;
        started_tx.lock().unwrap().send(()).unwrap();
        match release_rx.lock().unwrap().recv().unwrap() {
            Ok(()) => Ok(Loaded::new(
                Model {
                    id: name.clone(),
                    generation,
                },
                measured,
            )),
            Err(reason) => Err(BackendError::invalid("/gated", reason)),
        }
    });
    cache.register(id, Arc::new(loader), policy).unwrap();
    Gate {
        started,
        release,
        runs,
    }
}

/// Charged bytes equal what is resident + loading + held, and stay within the budget.
pub fn check_invariants(cache: &ModelCache) -> CacheStats {
    let s = cache.stats();
    assert_eq!(
        s.charged,
        s.resident_bytes + s.loading_bytes + s.held_bytes,
        "ledger out of balance: {s:?}"
    );
    assert!(s.charged <= s.budget, "over budget: {s:?}");
    for p in &s.pools {
        assert!(p.charged <= p.budget, "pool over budget: {s:?}");
    }
    s
}

/// Spins (yielding) until `cond` holds: used to observe that another thread reached a state,
/// never to decide a test's outcome by elapsed time.
pub fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        std::thread::yield_now();
    }
}

/// A loader of `id` that charges `bytes`, for registrations a test expects to be refused.
pub fn loader(id: &str, bytes: u64) -> Arc<FnLoader> {
    let name = id.to_owned();
    Arc::new(FnLoader::new("test", bytes, move |_| {
        Ok(Loaded::new(
            Model {
                id: name.clone(),
                generation: 1,
            },
            bytes,
        ))
    }))
}
