//! Keep-alive, pinning, invalidation, clearing, preflight, stats, the listing and events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Model, check_invariants, counting, gated};
use modelcache_core::{
    CacheError, CacheEvent, EvictReason, HolderState, ManualClock, ModelCache, ModelPolicy,
    StepOutcome,
};

#[test]
fn idle_models_expire_after_their_keep_alive() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .build();
    counting(
        &cache,
        "short",
        10,
        ModelPolicy::default().keep_alive(Duration::from_secs(60)),
    );
    counting(&cache, "forever", 10, ModelPolicy::default());
    counting(
        &cache,
        "pinned",
        10,
        ModelPolicy::default()
            .pinned(true)
            .keep_alive(Duration::from_secs(1)),
    );
    let held = cache.get::<Model>("short").unwrap();
    drop(cache.get::<Model>("forever").unwrap());
    drop(cache.get::<Model>("pinned").unwrap());
    clock.advance(Duration::from_secs(3600));
    cache.expire();
    assert!(cache.contains("short"), "in use: never expires");
    drop(held); // idle from now
    clock.advance(Duration::from_secs(59));
    cache.expire();
    assert!(cache.contains("short"));
    clock.advance(Duration::from_secs(1));
    cache.expire();
    assert!(!cache.contains("short"));
    assert!(cache.contains("forever") && cache.contains("pinned"));
    let s = check_invariants(&cache);
    assert_eq!((s.expirations, s.charged), (1, 20));
}

#[test]
fn misses_expire_due_models_too() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .build();
    counting(
        &cache,
        "a",
        10,
        ModelPolicy::default().keep_alive(Duration::from_secs(5)),
    );
    counting(&cache, "b", 10, ModelPolicy::default());
    drop(cache.get::<Model>("a").unwrap());
    clock.advance(Duration::from_secs(5));
    drop(cache.get::<Model>("b").unwrap());
    assert!(!cache.contains("a"));
}

#[test]
fn keep_alive_zero_unloads_as_soon_as_idle() {
    let cache = ModelCache::new(1000);
    let runs = counting(
        &cache,
        "a",
        10,
        ModelPolicy::default().keep_alive(Duration::ZERO),
    );
    let h1 = cache.get::<Model>("a").unwrap();
    let h2 = h1.clone();
    drop(h1);
    assert!(cache.contains("a"), "a clone is still out");
    drop(h2);
    assert!(!cache.contains("a"));
    assert_eq!(check_invariants(&cache).charged, 0);
    cache.get::<Model>("a").unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[test]
fn the_reaper_expires_models_with_no_requests() {
    let clock = Arc::new(ManualClock::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .on_event(move |e| {
            if let CacheEvent::Evicted {
                reason: EvictReason::Expired,
                id,
                ..
            } = e
            {
                tx.lock().unwrap().send(id.clone()).unwrap();
            }
        })
        .build();
    counting(
        &cache,
        "a",
        10,
        ModelPolicy::default().keep_alive(Duration::from_secs(1)),
    );
    drop(cache.get::<Model>("a").unwrap());
    clock.advance(Duration::from_secs(2));
    let _reaper = cache.start_reaper(Duration::from_millis(1));
    assert_eq!(rx.recv().unwrap(), "a");
    assert!(!cache.contains("a"));
}

#[test]
fn invalidate_and_clear_remove_resident_models_and_release_idle_bytes() {
    let cache = ModelCache::new(1000);
    let runs = counting(&cache, "a", 10, ModelPolicy::default());
    counting(&cache, "b", 20, ModelPolicy::default());
    drop(cache.get::<Model>("a").unwrap());
    let b = cache.get::<Model>("b").unwrap();
    assert!(cache.invalidate("a"));
    assert!(!cache.invalidate("a"));
    assert_eq!(check_invariants(&cache).charged, 20);
    cache.get::<Model>("a").unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    cache.clear();
    let s = check_invariants(&cache);
    assert_eq!(
        (s.entries, s.held_bytes, s.charged),
        (0, 20, 20),
        "b is still held"
    );
    drop(b);
    assert_eq!(check_invariants(&cache).charged, 0);
}

#[test]
fn clear_during_a_load_abandons_insertion() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "m", 100, 100, ModelPolicy::default());
    let c = cache.clone();
    let t = std::thread::spawn(move || c.get::<Model>("m").map(|h| h.lock().generation));
    gate.started.recv().unwrap();
    cache.clear();
    gate.release.send(Ok(())).unwrap();
    assert_eq!(t.join().unwrap().unwrap(), 1);
    assert!(!cache.contains("m"));
    assert_eq!(check_invariants(&cache).charged, 0);
}

#[test]
fn preflight_says_what_would_be_evicted_without_loading() {
    let cache = ModelCache::builder()
        .budget(300)
        .load_timeout(Duration::ZERO)
        .build();
    let a = counting(&cache, "a", 100, ModelPolicy::default());
    counting(&cache, "b", 100, ModelPolicy::default());
    let c = counting(&cache, "c", 200, ModelPolicy::default());
    counting(&cache, "huge", 400, ModelPolicy::default());
    counting(&cache, "pinned", 250, ModelPolicy::default().pinned(true));
    drop(cache.get::<Model>("a").unwrap());
    let b = cache.get::<Model>("b").unwrap();

    let plan = cache.plan(&["b", "c"]).unwrap();
    assert!(plan.fits());
    assert!(matches!(plan.steps[0].outcome, StepOutcome::Resident));
    match &plan.steps[1].outcome {
        StepOutcome::Load { evicts } => assert_eq!(
            evicts.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.load(Ordering::SeqCst), 0, "nothing was loaded");
    assert_eq!(a.load(Ordering::SeqCst), 1);
    assert!(cache.contains("a"), "nothing was evicted");

    let plan = cache.plan(&["c", "pinned"]).unwrap();
    assert!(!plan.fits());
    assert!(
        matches!(&plan.steps[1].outcome, StepOutcome::WouldWait { holders, .. }
        if holders.iter().any(|h| h.id == "b" && h.state == HolderState::InUse))
    );
    let plan = cache.plan(&["huge"]).unwrap();
    assert!(matches!(
        plan.steps[0].outcome,
        StepOutcome::WouldFail(CacheError::TooLarge { .. })
    ));
    assert!(matches!(
        cache.plan(&["nope"]),
        Err(CacheError::UnknownModel { .. })
    ));
    drop(b);
}

#[test]
fn stats_listing_and_events_report_what_happened() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cache = ModelCache::builder()
        .budget(150)
        .pool("gpu0", 150)
        .on_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build();
    counting(&cache, "a", 100, ModelPolicy::default().pool("gpu0"));
    counting(
        &cache,
        "b",
        100,
        ModelPolicy::default()
            .pinned(true)
            .keep_alive(Duration::from_secs(60)),
    );
    drop(cache.get::<Model>("a").unwrap());
    let b = cache.get::<Model>("b").unwrap();
    let s = check_invariants(&cache);
    assert_eq!(
        (
            s.entries,
            s.loads,
            s.misses,
            s.hits,
            s.evictions,
            s.bytes_evicted
        ),
        (1, 2, 2, 0, 1, 100)
    );
    assert_eq!(s.pools[0].charged, 0);
    let rows = cache.entries();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (
            row.id.as_str(),
            row.backend.as_str(),
            row.bytes,
            row.handles,
            row.pinned
        ),
        ("b", "test", 100, 1, true)
    );
    assert!(row.idle_since.is_none());
    drop(b);
    assert!(cache.entries()[0].idle_since.is_some());
    let events = events.lock().unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            CacheEvent::Loaded { id, .. } => format!("loaded {id}"),
            CacheEvent::Evicted { id, reason, .. } => format!("evicted {id} {reason:?}"),
            CacheEvent::LoadFailed { id, .. } => format!("failed {id}"),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(kinds, ["loaded a", "evicted a Capacity", "loaded b"]);
}

#[test]
fn shareable_models_are_not_serialized_and_others_are() {
    let cache = ModelCache::new(1000);
    let shared = modelcache_core::FnLoader::new("s", 1, |_| {
        Ok(modelcache_core::Loaded::new(1u8, 1).shareable(true))
    });
    let exclusive =
        modelcache_core::FnLoader::new("e", 1, |_| Ok(modelcache_core::Loaded::new(2u8, 1)));
    cache
        .register("s", Arc::new(shared), ModelPolicy::default())
        .unwrap();
    cache
        .register("e", Arc::new(exclusive), ModelPolicy::default())
        .unwrap();
    let s = cache.get::<u8>("s").unwrap();
    let g1 = s.lock();
    assert!(s.try_lock().is_some(), "shareable: a second caller gets in");
    let e = cache.get::<u8>("e").unwrap();
    let g2 = e.lock();
    assert!(e.try_lock().is_none(), "exclusive: callers are serialized");
    assert_eq!((*g1, *g2), (1, 2));
}

#[test]
fn inspection_defaults_to_the_hint() {
    use modelcache_core::ModelLoader;
    let loader =
        modelcache_core::FnLoader::new("m", 42, |_| Ok(modelcache_core::Loaded::new(0u8, 42)));
    let i = loader.inspect().unwrap();
    assert_eq!((i.bytes, i.layout, i.tensors), (42, None, None));
}
