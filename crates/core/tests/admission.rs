//! Admission: LRU eviction of idle models, waiting for room, typed failures, budget zero, pools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Model, check_invariants, counting, until};
use modelcache_core::{CacheError, HolderState, ManualClock, ModelCache, ModelPolicy};

#[test]
fn hit_returns_the_same_model_without_loading() {
    let cache = ModelCache::new(1000);
    let runs = counting(&cache, "a", 10, ModelPolicy::default());
    let a = cache.get::<Model>("a").unwrap();
    let b = cache.get::<Model>("a").unwrap();
    assert!(modelcache_core::Handle::ptr_eq(&a, &b));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.loads), (1, 1, 1));
}

#[test]
fn evicts_least_recently_used_idle_model_first() {
    let cache = ModelCache::new(300);
    for id in ["a", "b", "c", "d"] {
        counting(&cache, id, 100, ModelPolicy::default());
    }
    for id in ["a", "b", "c", "a"] {
        drop(cache.get::<Model>(id).unwrap());
    }
    drop(cache.get::<Model>("d").unwrap()); // b is least recently used
    let ids: Vec<_> = cache.entries().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["c", "a", "d"]);
    let s = check_invariants(&cache);
    assert_eq!((s.evictions, s.bytes_evicted), (1, 100));
}

#[test]
fn a_request_waits_for_a_handle_to_be_released_then_loads() {
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::from_secs(600))
        .build();
    counting(&cache, "a", 100, ModelPolicy::default());
    counting(&cache, "b", 100, ModelPolicy::default());
    let a = cache.get::<Model>("a").unwrap();
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<Model>("b").map(|h| h.lock().id.clone()));
    until(|| cache.stats().waits == 1);
    assert!(!waiter.is_finished());
    drop(a); // the waiter may now evict a
    assert_eq!(waiter.join().unwrap().unwrap(), "b");
    assert!(!cache.contains("a"));
    check_invariants(&cache);
}

#[test]
fn waiting_in_vain_fails_with_who_holds_the_memory() {
    // The timeout runs on the cache's clock: the request is known to wait (it is queued), then
    // the clock passes its deadline and `expire` wakes it to see.
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(150)
        .clock(clock.clone())
        .load_timeout(Duration::from_secs(3600))
        .build();
    counting(&cache, "held", 100, ModelPolicy::default());
    counting(&cache, "wanted", 100, ModelPolicy::default());
    let _held = cache.get::<Model>("held").unwrap();
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<Model>("wanted").map(drop));
    until(|| cache.stats().queued == 1);
    clock.advance(Duration::from_secs(3600)); // an hour by the cache's clock, at once
    cache.expire();
    let err = waiter.join().unwrap().unwrap_err();
    match &err {
        CacheError::NoRoom {
            id,
            needed,
            budget,
            charged,
            waited,
            holders,
            pool,
            device: false,
        } => {
            assert_eq!(
                (id.as_str(), *needed, *budget, *charged, *waited),
                ("wanted", 100, 150, 100, true)
            );
            assert_eq!(pool, &None);
            assert_eq!(
                (holders[0].id.as_str(), holders[0].state),
                ("held", HolderState::InUse)
            );
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    for part in ["\"wanted\"", "100", "150", "held (100 B, in use)"] {
        assert!(text.contains(part), "{text}");
    }
    let s = check_invariants(&cache);
    assert_eq!((s.waits, s.wait_timeouts, s.charged), (1, 1, 100));
}

#[test]
fn pinned_models_are_never_evicted_and_a_pinned_shortfall_fails_at_once() {
    let cache = ModelCache::builder()
        .budget(200)
        .load_timeout(Duration::from_secs(600))
        .build();
    counting(&cache, "pinned", 150, ModelPolicy::default().pinned(true));
    counting(&cache, "other", 100, ModelPolicy::default());
    drop(cache.get::<Model>("pinned").unwrap());
    // Waiting cannot help (only the pin holds the room), so it fails without the 10-minute wait.
    let err = cache.get::<Model>("other").unwrap_err();
    assert!(
        matches!(&err, CacheError::NoRoom { waited: false, holders, .. } if holders[0].state == HolderState::Pinned),
        "{err}"
    );
    cache.set_pinned("pinned", false).unwrap();
    cache.get::<Model>("other").unwrap();
    assert!(!cache.contains("pinned"));
}

#[test]
fn zero_budget_retains_nothing_and_loads_every_time() {
    let cache = ModelCache::new(0);
    let runs = counting(&cache, "a", 100, ModelPolicy::default());
    let a = cache.get::<Model>("a").unwrap();
    let b = cache.get::<Model>("a").unwrap();
    assert!(!modelcache_core::Handle::ptr_eq(&a, &b));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().charged, 0);
    assert!(cache.entries().is_empty());
}

#[test]
fn measured_size_replaces_the_hint() {
    let cache = ModelCache::new(1000);
    let loader =
        modelcache_core::FnLoader::new("m", 300, |_| Ok(modelcache_core::Loaded::new(0u8, 120)));
    cache
        .register("m", std::sync::Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let h = cache.get::<u8>("m").unwrap();
    assert_eq!(h.bytes(), 120);
    assert_eq!(check_invariants(&cache).charged, 120);
}

#[test]
fn a_load_that_measures_over_its_hint_evicts_idle_models_to_get_back_within_budget() {
    let cache = ModelCache::new(200);
    counting(&cache, "idle", 100, ModelPolicy::default());
    drop(cache.get::<Model>("idle").unwrap());
    let loader =
        modelcache_core::FnLoader::new("m", 50, |_| Ok(modelcache_core::Loaded::new(0u8, 150)));
    cache
        .register("liar", std::sync::Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let _h = cache.get::<u8>("liar").unwrap();
    assert!(!cache.contains("idle"));
    assert_eq!(check_invariants(&cache).charged, 150);
}

/// The cache opens a model once per load and loads the plan it opened: what it reserved is
/// what the load was given, never a second reading of the headers.
#[test]
fn a_load_opens_the_model_once_and_loads_that_plan() {
    let cache = ModelCache::new(1000);
    let opens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&opens);
    let loader =
        modelcache_core::FnLoader::new("m", 0, |_| Ok(modelcache_core::Loaded::new(0u8, 300)))
            .with_hint(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(300)
            });
    cache
        .register("m", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let h = cache.get::<u8>("m").unwrap();
    assert_eq!((opens.load(Ordering::SeqCst), h.bytes()), (1, 300));
    drop(h);
    // A hit opens nothing.
    drop(cache.get::<u8>("m").unwrap());
    assert_eq!(opens.load(Ordering::SeqCst), 1);
}

#[test]
fn size_override_replaces_the_backend_hint() {
    let cache = ModelCache::new(1000);
    let opens = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&opens);
    let loader =
        modelcache_core::FnLoader::new("m", 999, |_| Ok(modelcache_core::Loaded::new(0u8, 10)))
            .with_hint(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(999)
            });
    cache
        .register(
            "m",
            std::sync::Arc::new(loader),
            ModelPolicy::default().size(500),
        )
        .unwrap();
    // Planning reserves the configured size without opening the checkpoint...
    let plan = cache.plan(&["m"]).unwrap();
    assert_eq!(plan.steps[0].bytes, 500);
    assert_eq!(opens.load(Ordering::SeqCst), 0);
    // ...and the load opens it once, having reserved the configured 500 rather than the 999
    // it reports; then the measured size is charged.
    let h = cache.get::<u8>("m").unwrap();
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    assert_eq!(h.bytes(), 10);
}

#[test]
fn loader_errors_reach_the_caller_and_are_not_cached() {
    let cache = ModelCache::new(1000);
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = std::sync::Arc::clone(&tries);
    let loader = modelcache_core::FnLoader::new("m", 10, move |_| {
        if t.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(modelcache_core::BackendError::invalid(
                "/models/m/model.safetensors",
                "header is not JSON",
            ))
        } else {
            Ok(modelcache_core::Loaded::new(1u8, 10))
        }
    });
    cache
        .register("m", std::sync::Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let err = cache.get::<u8>("m").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"m\"")
            && text.contains("/models/m/model.safetensors")
            && text.contains("not JSON"),
        "{text}"
    );
    assert_eq!(check_invariants(&cache).charged, 0);
    assert_eq!(cache.stats().load_failures, 1);
    cache.get::<u8>("m").unwrap();
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[test]
fn hint_errors_are_load_errors_and_release_everything() {
    let cache = ModelCache::new(1000);
    let loader =
        modelcache_core::FnLoader::new("m", 10, |_| Ok(modelcache_core::Loaded::new(1u8, 10)))
            .with_hint(|| {
                Err(modelcache_core::BackendError::invalid(
                    "/x/ae.safetensors",
                    "truncated",
                ))
            });
    cache
        .register("m", std::sync::Arc::new(loader), ModelPolicy::default())
        .unwrap();
    assert!(matches!(cache.get::<u8>("m"), Err(CacheError::Load { .. })));
    let s = check_invariants(&cache);
    assert_eq!((s.loading, s.entries), (0, 0));

    // A plan says so for that step and goes on, as a sequence of requests would.
    counting(&cache, "ok", 100, ModelPolicy::default());
    let plan = cache.plan(&["m", "ok"]).unwrap();
    assert!(
        matches!(&plan.steps[0].outcome, modelcache_core::StepOutcome::WouldFail(CacheError::Load { id, .. }) if id == "m"),
        "{plan:?}"
    );
    assert_eq!((plan.steps[0].bytes, plan.steps[0].charged_after), (0, 0));
    assert!(matches!(
        &plan.steps[1].outcome,
        modelcache_core::StepOutcome::Load { evicts } if evicts.is_empty()
    ));
    assert_eq!(plan.steps[1].charged_after, 100);
    assert!(!plan.fits());
}

#[test]
fn unknown_models_and_wrong_types_are_errors() {
    let cache = ModelCache::new(1000);
    assert!(matches!(
        cache.get::<u8>("nope"),
        Err(CacheError::UnknownModel { .. })
    ));
    counting(&cache, "a", 10, ModelPolicy::default());
    let err = cache.get::<String>("a").unwrap_err();
    assert!(
        matches!(&err, CacheError::WrongType { actual, .. } if actual.ends_with("Model")),
        "{err}"
    );
    // The failed typed request did not leave the model in use.
    assert_eq!(cache.entries()[0].handles, 0);
}

#[test]
fn pools_have_their_own_budget_and_evict_only_their_members() {
    let cache = ModelCache::builder()
        .budget(1000)
        .pool("gpu0", 200)
        .load_timeout(Duration::ZERO)
        .build();
    counting(&cache, "cpu-model", 100, ModelPolicy::default());
    counting(&cache, "v1", 100, ModelPolicy::default().pool("gpu0"));
    counting(&cache, "v2", 100, ModelPolicy::default().pool("gpu0"));
    counting(&cache, "v3", 100, ModelPolicy::default().pool("gpu0"));
    counting(&cache, "huge", 300, ModelPolicy::default().pool("gpu0"));
    drop(cache.get::<Model>("cpu-model").unwrap()); // least recently used, but not in the pool
    drop(cache.get::<Model>("v1").unwrap());
    drop(cache.get::<Model>("v2").unwrap());
    drop(cache.get::<Model>("v3").unwrap());
    assert!(cache.contains("cpu-model") && !cache.contains("v1"));
    let s = check_invariants(&cache);
    assert_eq!(s.pools[0].charged, 200);
    assert!(
        matches!(cache.get::<Model>("huge"), Err(CacheError::TooLarge { pool: Some(p), .. }) if p == "gpu0")
    );
    let unknown = cache.register(
        "x",
        std::sync::Arc::new(modelcache_core::FnLoader::new("x", 1, |_| {
            Ok(modelcache_core::Loaded::new(0u8, 1))
        })),
        ModelPolicy::default().pool("gpu9"),
    );
    assert!(matches!(unknown, Err(CacheError::UnknownPool { .. })));
}

#[test]
fn the_global_budget_also_binds_pool_members() {
    let cache = ModelCache::builder().budget(250).pool("gpu0", 1000).build();
    counting(&cache, "a", 100, ModelPolicy::default());
    counting(&cache, "b", 100, ModelPolicy::default());
    counting(&cache, "v", 100, ModelPolicy::default().pool("gpu0"));
    drop(cache.get::<Model>("a").unwrap());
    drop(cache.get::<Model>("b").unwrap());
    drop(cache.get::<Model>("v").unwrap());
    assert!(!cache.contains("a"));
    check_invariants(&cache);
}

#[test]
fn untyped_requests_say_how_they_were_served() {
    use modelcache_core::{NoProgress, Served};
    let cache = ModelCache::new(1000);
    let gate = common::gated(&cache, "g", 10, 10, ModelPolicy::default());
    counting(&cache, "a", 10, ModelPolicy::default());
    let (a, served) = cache.request("a", &NoProgress).unwrap();
    assert_eq!((a.id(), a.bytes(), served), ("a", 10, Served::Loaded));
    assert!(a.type_name().ends_with("Model"));
    let (_, served) = cache.request("a", &NoProgress).unwrap();
    assert_eq!(served, Served::Hit);
    assert_eq!(a.clone().downcast::<Model>().unwrap().lock().id, "a");
    assert!(matches!(
        a.downcast::<u8>(),
        Err(CacheError::WrongType { .. })
    ));

    let c = cache.clone();
    let leader = std::thread::spawn(move || c.request("g", &NoProgress).unwrap().1);
    gate.started.recv().unwrap();
    let c = cache.clone();
    let joiner = std::thread::spawn(move || c.request("g", &NoProgress).unwrap().1);
    until(|| cache.stats().misses == 3);
    gate.release.send(Ok(())).unwrap();
    assert_eq!(
        (leader.join().unwrap(), joiner.join().unwrap()),
        (Served::Loaded, Served::Joined)
    );
}
