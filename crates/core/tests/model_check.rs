//! Model checking of the cache with shuttle: its scheduler explores thread interleavings at
//! every lock, condition-variable wait and atomic operation of the cache (through the shim in
//! `src/sync.rs`), with random and PCT schedules. After every operation and at the end the
//! ledger must balance and stay within budget; shuttle itself fails a schedule that deadlocks
//! (a lost wake-up leaves a waiter blocked forever: timed waits never time out under shuttle).
//!
//! Run: `RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle cargo test -p
//! modelcache-core --test model_check` (a cfg, not a feature, so `--all-features` builds stay
//! real; its own target folder, so the normal build is kept). Iterations per scenario default
//! to a CI-sized number; `MODELCACHE_SHUTTLE_ITERATIONS` raises them (`scripts/model-check`
//! does). A failing schedule prints a string to pass to `shuttle::replay`.
#![cfg(shuttle)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use modelcache_core::{BackendError, CacheError, FnLoader, Loaded, ModelCache, ModelPolicy};
use shuttle::thread;

fn iterations() -> usize {
    std::env::var("MODELCACHE_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Runs `scenario` under random and PCT schedules.
fn explore(scenario: impl Fn() + Send + Sync + 'static) {
    let scenario = Arc::new(scenario);
    let s = Arc::clone(&scenario);
    shuttle::check_random(move || s(), iterations());
    shuttle::check_pct(move || scenario(), iterations(), 3);
}

#[derive(Debug)]
struct Model(&'static str);

fn check(cache: &ModelCache) {
    let s = cache.stats();
    assert_eq!(
        s.charged,
        s.resident_bytes + s.loading_bytes + s.held_bytes,
        "{s:?}"
    );
    assert!(s.charged <= s.budget, "{s:?}");
    for p in &s.pools {
        assert!(p.charged <= p.budget, "{s:?}");
    }
}

/// Registers `id` with a loader that counts its runs and fails the schedule if two loads of the
/// same model ever run at once (single flight broken). Its counter is shuttle's, so the
/// scheduler can switch threads in the middle of a load.
fn register(
    cache: &ModelCache,
    id: &'static str,
    bytes: u64,
    policy: ModelPolicy,
) -> Arc<AtomicUsize> {
    register_generations(cache, id, bytes, policy, 1)
}

/// As [`register`], allowing `generations` concurrent loads: an invalidated load may still run
/// when the next generation's load starts.
fn register_generations(
    cache: &ModelCache,
    id: &'static str,
    bytes: u64,
    policy: ModelPolicy,
    generations: usize,
) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let active = Arc::new(shuttle::sync::atomic::AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let loader = FnLoader::new("mc", bytes, move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        let others = active.fetch_add(1, Ordering::SeqCst);
        assert!(others < generations, "{} loads of {id} at once", others + 1);
        thread::yield_now();
        active.fetch_sub(1, Ordering::SeqCst);
        Ok(Loaded::new(Model(id), bytes))
    });
    cache.register(id, Arc::new(loader), policy).unwrap();
    runs
}

/// One thread per ID, each getting its model, using it and checking the ledger; joins them all.
fn request_all(cache: &ModelCache, ids: &[&'static str]) {
    let threads: Vec<_> = ids
        .iter()
        .map(|&id| {
            let c = cache.clone();
            thread::spawn(move || {
                let h = c.get::<Model>(id).unwrap();
                check(&c);
                assert_eq!(h.lock().0, id);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn quiescent(cache: &ModelCache) {
    check(cache);
    let s = cache.stats();
    assert_eq!((s.loading, s.held_bytes), (0, 0), "{s:?}");
    // Nobody holds a handle: a component's only leases are the holds of its resident users.
    assert!(cache.entries().iter().all(|e| e.handles == e.used_by.len()));
}

#[test]
fn single_flight_and_eviction_under_contention() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .build();
        let a = register(&cache, "a", 60, ModelPolicy::default());
        register(&cache, "b", 60, ModelPolicy::default());
        request_all(&cache, &["a", "a", "b"]);
        // "a" and "b" cannot both be resident; the two "a" requests share a load unless "b"
        // evicted "a" between them (then "a" loads once per residency).
        let s = cache.stats();
        assert!(a.load(Ordering::SeqCst) <= 2);
        assert_eq!(s.loads as usize, a.load(Ordering::SeqCst) + 1);
        quiescent(&cache);
    });
}

#[test]
fn failures_and_panics_reach_waiters_and_release_reservations() {
    explore(|| {
        let cache = ModelCache::builder().budget(100).build();
        let tries = Arc::new(AtomicUsize::new(0));
        let t = Arc::clone(&tries);
        let loader = FnLoader::new("mc", 50, move |_| match t.fetch_add(1, Ordering::SeqCst) {
            0 => Err(BackendError::invalid("/m", "first try fails")),
            1 => panic!("second try panics"),
            _ => Ok(Loaded::new(Model("m"), 50)),
        });
        cache
            .register("m", Arc::new(loader), ModelPolicy::default())
            .unwrap();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let c = cache.clone();
                thread::spawn(move || {
                    let r = c.get::<Model>("m");
                    check(&c);
                    match r {
                        Ok(h) => assert_eq!(h.lock().0, "m"),
                        Err(CacheError::Load { .. } | CacheError::LoaderPanicked { .. }) => {}
                        Err(other) => panic!("unexpected {other}"),
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        quiescent(&cache);
        // Each try is one loader run: failures were shared, never retried behind a caller's back.
        assert_eq!(
            cache.stats().load_failures as usize + cache.stats().loads as usize,
            tries.load(Ordering::SeqCst)
        );
    });
}

#[test]
fn invalidate_during_load_and_handle_drops() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .build();
        let runs = register_generations(&cache, "m", 40, ModelPolicy::default(), 2);
        register(
            &cache,
            "z",
            40,
            ModelPolicy::default().keep_alive(Duration::ZERO),
        );
        let c1 = cache.clone();
        let getter = thread::spawn(move || {
            let h = c1.get::<Model>("m").unwrap();
            check(&c1);
            let z = c1.get::<Model>("z").unwrap();
            drop(h);
            drop(z);
            check(&c1);
        });
        let c2 = cache.clone();
        let invalidator = thread::spawn(move || {
            c2.invalidate("m");
            check(&c2);
            c2.clear();
            check(&c2);
        });
        let c3 = cache.clone();
        let other = thread::spawn(move || {
            drop(c3.get::<Model>("m").unwrap());
            check(&c3);
        });
        for t in [getter, invalidator, other] {
            t.join().unwrap();
        }
        assert!(
            runs.load(Ordering::SeqCst) <= 2,
            "at most one load per generation"
        );
        assert!(!cache.contains("z"), "keep-alive zero: unloaded when idle");
        quiescent(&cache);
    });
}

#[test]
fn waiters_for_room_are_woken_when_handles_drop() {
    explore(|| {
        // Room for one model: each request must wait for the other's handle to drop.
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .build();
        register(&cache, "x", 100, ModelPolicy::default());
        register(&cache, "y", 100, ModelPolicy::default());
        register(&cache, "p", 0, ModelPolicy::default().pinned(true));
        let threads: Vec<_> = ["x", "y", "x"]
            .into_iter()
            .map(|id| {
                let c = cache.clone();
                thread::spawn(move || {
                    let h = c.get::<Model>(id).unwrap();
                    check(&c);
                    assert_eq!(h.lock().0, id);
                    c.set_pinned("p", false).ok();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        quiescent(&cache);
    });
}

#[test]
fn keep_alive_expiry_races_with_requests() {
    explore(|| {
        let clock = Arc::new(modelcache_core::ManualClock::new());
        let cache = ModelCache::builder()
            .budget(100)
            .clock(clock.clone())
            .load_timeout(Duration::from_secs(3600))
            .build();
        register(
            &cache,
            "k",
            50,
            ModelPolicy::default().keep_alive(Duration::from_secs(1)),
        );
        register(&cache, "j", 50, ModelPolicy::default());
        drop(cache.get::<Model>("k").unwrap());
        let c1 = cache.clone();
        let expirer = thread::spawn(move || {
            clock.advance(Duration::from_secs(2));
            c1.expire();
            check(&c1);
        });
        let c2 = cache.clone();
        let user = thread::spawn(move || {
            let k = c2.get::<Model>("k").unwrap();
            let j = c2.get::<Model>("j").unwrap();
            check(&c2);
            assert_eq!((k.lock().0, j.lock().0), ("k", "j"));
        });
        expirer.join().unwrap();
        user.join().unwrap();
        quiescent(&cache);
    });
}

#[test]
fn waits_for_room_time_out_by_the_cache_clock() {
    explore(|| {
        // "wanted" waits for "held"; one thread moves the clock past the timeout while another
        // releases "held". Either way the waiter ends: served, or NoRoom after waiting.
        let clock = Arc::new(modelcache_core::ManualClock::new());
        let cache = ModelCache::builder()
            .budget(100)
            .clock(clock.clone())
            .load_timeout(Duration::from_secs(10))
            .build();
        register(&cache, "held", 100, ModelPolicy::default());
        register(&cache, "wanted", 100, ModelPolicy::default());
        let held = cache.get::<Model>("held").unwrap();
        let c = cache.clone();
        let waiter = thread::spawn(move || {
            let r = c.get::<Model>("wanted");
            check(&c);
            match r {
                Ok(h) => assert_eq!(h.lock().0, "wanted"),
                Err(CacheError::NoRoom { .. }) => {}
                Err(other) => panic!("unexpected {other}"),
            }
        });
        let c = cache.clone();
        let ticker = thread::spawn(move || {
            clock.advance(Duration::from_secs(11));
            c.expire();
            check(&c);
        });
        let releaser = thread::spawn(move || drop(held));
        for t in [waiter, ticker, releaser] {
            t.join().unwrap();
        }
        quiescent(&cache);
        assert_eq!(cache.stats().queued, 0);
    });
}

#[test]
fn panicking_hooks_strand_nothing() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .on_event(|e| {
                if let modelcache_core::CacheEvent::Loaded { id, .. } = e {
                    if id == "a" {
                        panic!("the hook panics");
                    }
                }
            })
            .build();
        register(&cache, "a", 60, ModelPolicy::default());
        register(&cache, "b", 60, ModelPolicy::default());
        request_all(&cache, &["a", "b", "a"]);
        quiescent(&cache);
        assert!(cache.stats().callback_panics >= 1);
    });
}

#[test]
fn pools_and_the_global_budget_under_contention() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .pool("gpu", 60)
            .load_timeout(Duration::from_secs(3600))
            .build();
        register(&cache, "g1", 40, ModelPolicy::default().pool("gpu"));
        register(&cache, "g2", 40, ModelPolicy::default().pool("gpu"));
        register(&cache, "c", 50, ModelPolicy::default());
        request_all(&cache, &["g1", "g2", "c"]);
        quiescent(&cache);
    });
}

#[test]
fn pinning_during_a_load_lands_with_the_last_setting() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .build();
        register(&cache, "m", 50, ModelPolicy::default());
        let c = cache.clone();
        let loader = thread::spawn(move || drop(c.get::<Model>("m").unwrap()));
        let c = cache.clone();
        let pinner = thread::spawn(move || {
            c.set_pinned("m", true).unwrap();
            c.set_pinned("m", false).unwrap();
            c.set_pinned("m", true).unwrap();
        });
        loader.join().unwrap();
        pinner.join().unwrap();
        quiescent(&cache);
        assert!(cache.entries()[0].pinned, "the last setting wins");
    });
}

/// From review: "a" (pool gpu) is queued, short globally and in its pool; "h1" goes idle and
/// "b" (no pool) fits by evicting it. Once "a" is short only in its pool it no longer blocks
/// "b", which must be woken then (a queued request's budgets changing is a wake-up), or this
/// schedule deadlocks.
#[test]
fn a_queued_request_whose_budgets_change_wakes_those_behind_it() {
    explore(|| {
        let cache = ModelCache::builder()
            .budget(100)
            .pool("gpu", 50)
            .load_timeout(Duration::from_secs(3600))
            .build();
        let in_gpu = || ModelPolicy::default().pool("gpu");
        register(&cache, "h1", 60, ModelPolicy::default());
        register(&cache, "h2", 40, in_gpu());
        register(&cache, "a", 20, in_gpu());
        register(&cache, "b", 20, ModelPolicy::default());
        let h1 = cache.get::<Model>("h1").unwrap();
        let h2 = cache.get::<Model>("h2").unwrap();
        let c = cache.clone();
        let a = thread::spawn(move || c.get::<Model>("a").map(drop));
        let c = cache.clone();
        let b = thread::spawn(move || c.get::<Model>("b").map(drop));
        drop(h1);
        b.join().unwrap().unwrap();
        drop(h2);
        a.join().unwrap().unwrap();
        quiescent(&cache);
    });
}

/// From review: registering a new definition and invalidating the old one is one step, so a
/// request racing it loads the new definition at most once.
#[test]
fn register_never_discards_a_load_of_its_own_new_definition() {
    explore(|| {
        let cache = ModelCache::new(100);
        register(&cache, "m", 10, ModelPolicy::default());
        let new_runs = Arc::new(AtomicUsize::new(0));
        let c = cache.clone();
        let runs = Arc::clone(&new_runs);
        let replace = thread::spawn(move || {
            let loader = FnLoader::new("mc", 10, move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(Loaded::new(Model("new"), 10))
            });
            c.register("m", Arc::new(loader), ModelPolicy::default())
                .unwrap();
        });
        let c = cache.clone();
        let request = thread::spawn(move || c.get::<Model>("m").map(|h| h.lock().0));
        replace.join().unwrap();
        request.join().unwrap().unwrap();
        assert_eq!(cache.get::<Model>("m").unwrap().lock().0, "new");
        assert_eq!(
            new_runs.load(Ordering::SeqCst),
            1,
            "the new definition loaded twice"
        );
        quiescent(&cache);
    });
}

#[test]
fn pipelines_sharing_a_component_load_it_once_and_give_it_back() {
    explore(|| {
        // T5 (50) with flux (30) and ltx (20) all fit (100); "big" (60) needs all three gone,
        // which needs both pipelines idle first: their holds keep T5 until then.
        let cache = ModelCache::builder()
            .budget(100)
            .load_timeout(Duration::from_secs(3600))
            .build();
        let t5 = register(&cache, "t5", 50, ModelPolicy::default());
        register(
            &cache,
            "flux",
            30,
            ModelPolicy::default().using("text_encoder_2", "t5"),
        );
        register(
            &cache,
            "ltx",
            20,
            ModelPolicy::default().using("text_encoder", "t5"),
        );
        register(&cache, "big", 60, ModelPolicy::default());
        request_all(&cache, &["flux", "ltx", "flux"]);
        // Only an eviction between requests could make T5 load twice; nothing else fits in.
        assert_eq!(t5.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().charged, 100);
        assert_eq!(cache.stats().shared_bytes_saved, 50);
        request_all(&cache, &["big", "ltx"]);
        quiescent(&cache);
    });
}

#[test]
fn pipelines_holding_their_own_components_give_way_instead_of_waiting_on_each_other() {
    explore(|| {
        // p1 + e1 (70) or p2 + e2 (70) fit in 90, not both encoders and a pipeline: the later
        // waiter lets go of its encoder, and both requests are served one after the other.
        let cache = ModelCache::builder()
            .budget(90)
            .load_timeout(Duration::from_secs(3600))
            .build();
        register(&cache, "e1", 30, ModelPolicy::default());
        register(&cache, "e2", 30, ModelPolicy::default());
        register(&cache, "p1", 40, ModelPolicy::default().using("enc", "e1"));
        register(&cache, "p2", 40, ModelPolicy::default().using("enc", "e2"));
        request_all(&cache, &["p1", "p2"]);
        quiescent(&cache);
    });
}
