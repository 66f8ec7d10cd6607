//! Real threads: single flight under contention, shared failures, and a randomized mix of
//! operations that checks the ledger after every step and at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use common::{Model, check_invariants, gated, until};
use modelcache_core::{CacheError, FnLoader, Loaded, ModelCache, ModelPolicy};

#[test]
fn a_failed_load_reaches_every_waiter_and_the_next_request_retries() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "m", 100, 100, ModelPolicy::default());
    let barrier = Arc::new(Barrier::new(17));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (c, b) = (cache.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                b.wait();
                c.get::<Model>("m").map(|_| ())
            })
        })
        .collect();
    barrier.wait();
    gate.started.recv().unwrap();
    until(|| cache.stats().misses == 16);
    gate.release.send(Err("disk on fire".into())).unwrap();
    for t in threads {
        let err = t.join().unwrap().unwrap_err();
        assert!(
            matches!(&err, CacheError::Load { .. }) && err.to_string().contains("disk on fire"),
            "{err}"
        );
    }
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
    assert_eq!(check_invariants(&cache).charged, 0);
    let c = cache.clone();
    let retry = std::thread::spawn(move || c.get::<Model>("m").map(|h| h.lock().generation));
    gate.started.recv().unwrap();
    gate.release.send(Ok(())).unwrap();
    assert_eq!(retry.join().unwrap().unwrap(), 2);
}

#[test]
fn a_panicking_loader_fails_every_waiter() {
    let cache = ModelCache::new(1000);
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let go_rx = std::sync::Mutex::new(go_rx);
    let loader = FnLoader::new(
        "p",
        10,
        move |_| -> Result<Loaded, modelcache_core::BackendError> {
            started_tx.lock().unwrap().send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            panic!("bad tensor")
        },
    );
    cache
        .register("p", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let c = cache.clone();
            std::thread::spawn(move || c.get::<u8>("p").map(|_| ()))
        })
        .collect();
    started.recv().unwrap();
    until(|| cache.stats().misses == 16);
    go.send(()).unwrap();
    for t in threads {
        assert!(matches!(
            t.join().unwrap(),
            Err(CacheError::LoaderPanicked { .. })
        ));
    }
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.loading, s.load_failures), (0, 0, 1));
}

/// Many threads, many models, a budget that holds a third of them: every request gets the right
/// model, each model is loaded once per residency, and the ledger balances at every step.
#[test]
fn randomized_mixed_operations_keep_the_ledger_balanced() {
    const THREADS: usize = 16;
    const OPS: usize = 2_000;
    const MODELS: usize = 12;
    let cache = ModelCache::builder()
        .budget(400)
        .load_timeout(std::time::Duration::from_secs(600))
        .build();
    let loads = Arc::new(AtomicUsize::new(0));
    for m in 0..MODELS {
        let id = format!("m{m}");
        let bytes = 50 + (m as u64 % 4) * 25;
        let (l, name) = (Arc::clone(&loads), id.clone());
        let loader = FnLoader::new("mix", bytes, move |_| {
            l.fetch_add(1, Ordering::SeqCst);
            Ok(Loaded::new(
                Model {
                    id: name.clone(),
                    generation: 0,
                },
                bytes,
            ))
        });
        let policy = if m == 0 {
            ModelPolicy::default().pinned(true)
        } else {
            ModelPolicy::default()
        };
        cache.register(id, Arc::new(loader), policy).unwrap();
    }
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                barrier.wait();
                for _ in 0..OPS {
                    let id = format!("m{}", next() % MODELS as u64);
                    match next() % 20 {
                        0 => {
                            cache.invalidate(&id);
                        }
                        1 => drop(cache.plan(&[&id]).unwrap()),
                        _ => {
                            // Hold at most one handle per thread, so room always comes eventually.
                            let h = cache.get::<Model>(&id).unwrap();
                            assert_eq!(h.lock().id, id);
                        }
                    }
                    check_invariants(&cache);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = check_invariants(&cache);
    assert_eq!(s.held_bytes, 0, "every handle was dropped");
    assert_eq!(s.loading, 0);
    assert_eq!(s.loads as usize, loads.load(Ordering::SeqCst));
    assert!(s.entries <= MODELS);
    assert_eq!(cache.entries().iter().map(|e| e.handles).sum::<usize>(), 0);
    // Every residency ended in an eviction or is still resident; loads invalidated in flight
    // were never inserted, so they account for the rest.
    assert!(s.loads as usize >= s.evictions as usize + s.entries);
}
