//! One test per flaw of the design this replaces (the baseline) that belongs to the
//! cache. Each fails on the baseline: the comment says how.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

use common::{Model, check_invariants, counting, gated, until};
use modelcache_core::{CacheError, HolderState, ModelCache, ModelPolicy};

/// Flaw 1: two concurrent misses ran the loader twice. Here 16 racing misses load once.
#[test]
fn flaw1_concurrent_misses_load_once() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "flux", 100, 100, ModelPolicy::default());
    let barrier = Arc::new(Barrier::new(17));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                cache.get::<Model>("flux").unwrap()
            })
        })
        .collect();
    barrier.wait();
    gate.started.recv().unwrap();
    // Wait until all 16 requests are in (1 leader + 15 waiters) before the load finishes.
    until(|| cache.stats().misses == 16);
    gate.release.send(Ok(())).unwrap();
    let handles: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
    assert!(
        handles
            .iter()
            .all(|h| modelcache_core::Handle::ptr_eq(h, &handles[0]))
    );
    assert_eq!(cache.entries()[0].handles, 16);
    check_invariants(&cache);
}

/// Flaw 2: eviction dropped an in-use model's bytes from the total. Here an invalidated model
/// still held by a caller stays charged until the handle drops.
#[test]
fn flaw2_evicted_but_held_is_still_charged() {
    let cache = ModelCache::builder()
        .budget(150)
        .load_timeout(std::time::Duration::ZERO)
        .build();
    counting(&cache, "a", 100, ModelPolicy::default());
    counting(&cache, "b", 100, ModelPolicy::default());
    let held = cache.get::<Model>("a").unwrap();
    cache.invalidate("a");
    let s = check_invariants(&cache);
    assert_eq!((s.entries, s.held_bytes, s.charged), (0, 100, 100));
    // The baseline would now admit b (100 + 100 > 150 of real memory).
    let err = cache.get::<Model>("b").unwrap_err();
    assert!(
        matches!(&err, CacheError::NoRoom { holders, .. }
        if holders[0].id == "a" && holders[0].state == HolderState::HeldAfterEviction),
        "{err}"
    );
    drop(held);
    assert_eq!(check_invariants(&cache).charged, 0);
    cache.get::<Model>("b").unwrap();
}

/// Flaw 3: loads in flight were not counted. Here the hint is reserved before the loader runs.
#[test]
fn flaw3_loads_in_flight_are_charged() {
    let cache = ModelCache::builder()
        .budget(150)
        .load_timeout(std::time::Duration::ZERO)
        .build();
    let gate = gated(&cache, "ltx", 100, 100, ModelPolicy::default());
    counting(&cache, "kokoro", 100, ModelPolicy::default());
    let c = cache.clone();
    let loading = std::thread::spawn(move || c.get::<Model>("ltx").map(|_| ()));
    gate.started.recv().unwrap();
    let s = check_invariants(&cache);
    assert_eq!((s.loading, s.loading_bytes, s.charged), (1, 100, 100));
    // A second model cannot allocate alongside the first one's load.
    assert!(matches!(
        cache.get::<Model>("kokoro"),
        Err(CacheError::NoRoom { .. })
    ));
    gate.release.send(Ok(())).unwrap();
    loading.join().unwrap().unwrap();
    check_invariants(&cache);
}

/// Flaw 4: the baseline evicted in-use models as readily as idle ones. Here the idle one goes.
#[test]
fn flaw4_in_use_model_is_not_evicted_while_an_idle_one_is() {
    let cache = ModelCache::new(200);
    counting(&cache, "old-in-use", 100, ModelPolicy::default());
    counting(&cache, "newer-idle", 100, ModelPolicy::default());
    counting(&cache, "third", 100, ModelPolicy::default());
    let in_use = cache.get::<Model>("old-in-use").unwrap(); // least recently used, but held
    drop(cache.get::<Model>("newer-idle").unwrap());
    let _third = cache.get::<Model>("third").unwrap();
    assert!(cache.contains("old-in-use"));
    assert!(!cache.contains("newer-idle"));
    assert_eq!(in_use.lock().id, "old-in-use");
    check_invariants(&cache);
}

/// Flaw 5: a model larger than the budget was admitted silently after evicting everything.
#[test]
fn flaw5_oversized_model_fails_at_once_unless_allowed() {
    let cache = ModelCache::new(100);
    let small = counting(&cache, "small", 50, ModelPolicy::default());
    let big = counting(&cache, "big", 101, ModelPolicy::default());
    cache.get::<Model>("small").unwrap();
    let err = cache.get::<Model>("big").unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::TooLarge {
                needed: 101,
                budget: 100,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"big\"") && err.to_string().contains("101"));
    assert_eq!(big.load(Ordering::SeqCst), 0, "nothing loaded");
    assert!(cache.contains("small"), "nothing evicted");

    let lenient = ModelCache::builder()
        .budget(100)
        .allow_oversized(true)
        .build();
    counting(&lenient, "small", 50, ModelPolicy::default());
    counting(&lenient, "big", 101, ModelPolicy::default());
    lenient.get::<Model>("small").unwrap();
    lenient.get::<Model>("big").unwrap();
    assert_eq!(lenient.stats().entries, 1, "the oversized model is alone");
    assert_eq!(small.load(Ordering::SeqCst), 1);
}

/// Flaw 7: a panic under the map lock poisoned the baseline for good. Here a panicking loader
/// is an error for its caller and every waiter, and the cache keeps working.
#[test]
fn flaw7_panicking_loader_leaves_cache_usable() {
    let cache = ModelCache::new(1000);
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Arc::clone(&tries);
    let loader = modelcache_core::FnLoader::new("boom", 10, move |_| {
        if t.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("corrupt weights");
        }
        Ok(modelcache_core::Loaded::new(7u32, 10))
    });
    cache
        .register("flaky", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    counting(&cache, "other", 10, ModelPolicy::default());
    let err = cache.get::<u32>("flaky").unwrap_err();
    assert!(
        matches!(&err, CacheError::LoaderPanicked { message, .. } if message == "corrupt weights"),
        "{err}"
    );
    assert_eq!(
        check_invariants(&cache).charged,
        0,
        "the reservation was released"
    );
    cache.get::<Model>("other").unwrap();
    assert_eq!(
        *cache.get::<u32>("flaky").unwrap().lock(),
        7,
        "the next request retries"
    );
    check_invariants(&cache);
}

/// Flaw 9: one cache per backend type meant one budget per type. Here models of different types
/// share one budget.
#[test]
fn flaw9_models_of_different_types_share_one_budget() {
    let cache = ModelCache::new(250);
    let f = Arc::new(modelcache_core::FnLoader::new("flux", 100, |_| {
        Ok(modelcache_core::Loaded::new(1u8, 100))
    }));
    let l = Arc::new(modelcache_core::FnLoader::new("ltx", 100, |_| {
        Ok(modelcache_core::Loaded::new("ltx".to_owned(), 100))
    }));
    let k = Arc::new(modelcache_core::FnLoader::new("kokoro", 100, |_| {
        Ok(modelcache_core::Loaded::new(vec![1.0f32], 100))
    }));
    for (id, loader) in [("flux", f), ("ltx", l), ("kokoro", k)] {
        cache
            .register(
                id,
                loader as Arc<dyn modelcache_core::ModelLoader>,
                ModelPolicy::default(),
            )
            .unwrap();
    }
    drop(cache.get::<u8>("flux").unwrap());
    drop(cache.get::<String>("ltx").unwrap());
    drop(cache.get::<Vec<f32>>("kokoro").unwrap());
    let s = check_invariants(&cache);
    assert_eq!((s.entries, s.charged, s.evictions), (2, 200, 1));
    assert!(!cache.contains("flux"));
    assert!(matches!(
        cache.get::<u8>("ltx"),
        Err(CacheError::WrongType { .. })
    ));
}

/// Flaw 13: a load in flight during `invalidate` inserted the stale model afterwards.
#[test]
fn flaw13_invalidate_during_load_does_not_insert_the_stale_model() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "m", 100, 100, ModelPolicy::default());
    let c = cache.clone();
    let first = std::thread::spawn(move || c.get::<Model>("m").unwrap());
    gate.started.recv().unwrap();
    assert!(cache.invalidate("m"));
    gate.release.send(Ok(())).unwrap();
    let stale = first.join().unwrap();
    assert_eq!(
        stale.lock().generation,
        1,
        "the caller still gets what it asked for"
    );
    assert!(!cache.contains("m"), "but it is not cached");
    let s = check_invariants(&cache);
    assert_eq!(s.held_bytes, 100, "and it is charged while held");
    drop(stale);
    assert_eq!(check_invariants(&cache).charged, 0);
    // The next request loads afresh.
    let c = cache.clone();
    let next = std::thread::spawn(move || c.get::<Model>("m").unwrap());
    gate.started.recv().unwrap();
    gate.release.send(Ok(())).unwrap();
    assert_eq!(next.join().unwrap().lock().generation, 2);
}
