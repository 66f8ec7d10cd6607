//! The cache's promises at their edges: user code that panics, policy changes during a load,
//! handle drops racing an expiry, sizes that outgrow their hint, budgets short in two places,
//! timeouts and sizes near their limits, preflight at budget zero, fair waits for room, and
//! events in the order the state changed. Each test is named for the edge it covers; every
//! one failed on the design before this one. Ordering comes from channels, barriers and the
//! cache's clock, never from sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::{Model, check_invariants, counting, gated, until};
use modelcache_core::{
    CacheError, CacheEvent, Clock, FnLoader, HolderState, Loaded, ManualClock, ModelCache,
    ModelPolicy, StepOutcome,
};

/// Every event the hook saw, in the order it saw them.
fn recorder() -> (
    Arc<Mutex<Vec<CacheEvent>>>,
    impl Fn(&CacheEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |e: &CacheEvent| {
        sink.lock().unwrap().push(e.clone())
    })
}

/// A model whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a model destructor panics");
    }
}

#[test]
fn edge_01_a_hook_that_panics_before_the_leader_exists_strands_no_flight() {
    // The miss for "new" first expires "old"; the Evicted event reaches a hook that panics.
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .on_event(|e| {
            if let CacheEvent::Evicted { .. } = e {
                panic!("the hook panics on evictions");
            }
        })
        .build();
    let keep = ModelPolicy::default().keep_alive(Duration::from_secs(1));
    counting(&cache, "old", 10, keep);
    counting(&cache, "new", 10, ModelPolicy::default());
    drop(cache.get::<Model>("old").unwrap());
    clock.advance(Duration::from_secs(2));

    let got = catch_unwind(AssertUnwindSafe(|| {
        cache.get::<Model>("new").map(|h| h.lock().id.clone())
    }));
    assert_eq!(got.ok().and_then(Result::ok).as_deref(), Some("new"));
    let s = check_invariants(&cache);
    assert_eq!((s.loading, s.entries, s.callback_panics), (0, 1, 1));
    // A later request is a hit, not a wait for a flight nobody completes.
    let c = cache.clone();
    let later = std::thread::spawn(move || c.get::<Model>("new").map(|h| h.lock().generation));
    assert_eq!(later.join().unwrap().unwrap(), 1);
}

#[test]
fn edge_01_a_model_destructor_that_panics_before_the_leader_exists_strands_no_flight() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .build();
    let old = FnLoader::new("t", 10, |_| Ok(Loaded::new(PanicsOnDrop, 10)));
    let keep = ModelPolicy::default().keep_alive(Duration::from_secs(1));
    cache.register("old", Arc::new(old), keep).unwrap();
    counting(&cache, "new", 10, ModelPolicy::default());
    drop(cache.get::<PanicsOnDrop>("old").unwrap());
    clock.advance(Duration::from_secs(2));

    let got = catch_unwind(AssertUnwindSafe(|| cache.get::<Model>("new").map(drop)));
    assert!(matches!(got, Ok(Ok(()))));
    let s = check_invariants(&cache);
    assert_eq!((s.loading, s.entries, s.callback_panics), (0, 1, 1));
    assert!(!cache.contains("old") && cache.contains("new"));
}

#[test]
fn edge_02_a_hook_that_panics_on_loaded_leaves_the_model_evictable() {
    let cache = ModelCache::builder()
        .budget(150)
        .load_timeout(Duration::ZERO)
        .on_event(|e| {
            if let CacheEvent::Loaded { .. } = e {
                panic!("the hook panics on loads");
            }
        })
        .build();
    counting(&cache, "a", 100, ModelPolicy::default());
    counting(&cache, "b", 100, ModelPolicy::default());
    let got = catch_unwind(AssertUnwindSafe(|| cache.get::<Model>("a").map(drop)));
    assert!(matches!(got, Ok(Ok(()))));
    assert_eq!(cache.entries()[0].handles, 0, "no lease leaked");
    // "a" is idle, so "b" evicts it at once (no wait: the timeout is zero).
    cache.get::<Model>("b").unwrap();
    assert!(!cache.contains("a"));
    let s = check_invariants(&cache);
    assert_eq!(s.callback_panics, 2);
}

#[test]
fn edge_03_pinning_a_model_while_it_loads_applies_when_it_lands() {
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::ZERO)
        .build();
    let gate = gated(&cache, "m", 50, 50, ModelPolicy::default());
    counting(&cache, "other", 60, ModelPolicy::default());
    let c = cache.clone();
    let loading = std::thread::spawn(move || c.get::<Model>("m").map(drop));
    gate.started.recv().unwrap();
    cache.set_pinned("m", true).unwrap();
    assert!(
        cache.entries()[0].pinned,
        "the listing shows the pin at once"
    );
    gate.release.send(Ok(())).unwrap();
    loading.join().unwrap().unwrap();
    assert!(cache.entries()[0].pinned, "the pin survived the load");
    let err = cache.get::<Model>("other").unwrap_err();
    assert!(
        matches!(&err, CacheError::NoRoom { waited: false, holders, .. }
            if holders.iter().any(|h| h.id == "m" && h.state == HolderState::Pinned)),
        "{err}"
    );
    cache.set_pinned("m", false).unwrap();
    cache.get::<Model>("other").unwrap();
}

/// A clock that, armed for one thread, stops that thread inside its next `now` until released:
/// it holds a handle drop at the instant it reads the clock.
struct TrapClock {
    inner: ManualClock,
    armed_for: Mutex<Option<ThreadId>>,
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

impl Clock for TrapClock {
    fn now(&self) -> Instant {
        let me = std::thread::current().id();
        let trapped = self
            .armed_for
            .lock()
            .unwrap()
            .take_if(|t| *t == me)
            .is_some();
        if trapped {
            self.entered.lock().unwrap().send(()).unwrap();
            self.release.lock().unwrap().recv().unwrap();
        }
        self.inner.now()
    }
}

#[test]
fn edge_04_an_expiry_racing_a_handle_drop_never_expires_a_model_in_use() {
    let (entered_tx, entered) = channel();
    let (release, release_rx) = channel();
    let clock = Arc::new(TrapClock {
        inner: ManualClock::new(),
        armed_for: Mutex::new(None),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let cache = ModelCache::builder()
        .budget(1000)
        .clock(clock.clone())
        .build();
    let keep = ModelPolicy::default().keep_alive(Duration::from_secs(1));
    counting(&cache, "m", 10, keep);
    let handle = cache.get::<Model>("m").unwrap();
    // In use for two seconds: longer than its keep-alive, which only counts idle time.
    clock.inner.advance(Duration::from_secs(2));
    let c = Arc::clone(&clock);
    let dropper = std::thread::spawn(move || {
        *c.armed_for.lock().unwrap() = Some(std::thread::current().id());
        drop(handle);
    });
    entered.recv().unwrap(); // the drop is reading the clock
    cache.expire();
    assert!(
        cache.contains("m"),
        "expired while its handle was being dropped"
    );
    release.send(()).unwrap();
    dropper.join().unwrap();
    cache.expire();
    assert!(cache.contains("m"), "idle for no time yet");
    clock.inner.advance(Duration::from_secs(1));
    cache.expire();
    assert!(!cache.contains("m"));
}

#[test]
fn edge_05_a_model_that_alone_outgrows_its_budget_fails_naming_hint_and_size() {
    let cache = ModelCache::new(100);
    let liar = FnLoader::new("t", 50, |_| Ok(Loaded::new(0u8, 150)));
    cache
        .register("liar", Arc::new(liar), ModelPolicy::default())
        .unwrap();
    let err = cache.get::<u8>("liar").unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::OutgrewBudget {
                hint: 50,
                measured: 150,
                budget: 100,
                pool: None,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("\"liar\"") && text.contains("50") && text.contains("150"));
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.entries, s.load_failures), (0, 0, 1));
}

#[test]
fn edge_05_an_overrun_held_by_models_in_use_is_reported_and_trimmed_when_they_are_idle() {
    let (events, hook) = recorder();
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::ZERO)
        .on_event(hook)
        .build();
    counting(&cache, "held", 60, ModelPolicy::default());
    counting(&cache, "small", 5, ModelPolicy::default());
    let liar = FnLoader::new("t", 20, |_| Ok(Loaded::new(0u8, 50)));
    cache
        .register("liar", Arc::new(liar), ModelPolicy::default())
        .unwrap();
    let held = cache.get::<Model>("held").unwrap();
    let liar = cache.get::<u8>("liar").unwrap();
    let s = cache.stats();
    assert_eq!((s.charged, s.over_budget, s.overruns), (110, 10, 1));
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        CacheEvent::OverBudget {
            pool: None,
            charged: 110,
            budget: 100
        }
    )));
    // Nothing new is admitted while the budget is exceeded.
    assert!(matches!(
        cache.get::<Model>("small"),
        Err(CacheError::NoRoom { .. })
    ));
    drop(liar);
    // "liar" is idle now, and evicting it brings the cache back within its budget.
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.over_budget), (60, 0));
    assert!(!cache.contains("liar") && cache.contains("held"));
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(CacheEvent::WithinBudget {
            pool: None,
            charged: 60,
            budget: 100
        })
    ));
    cache.get::<Model>("small").unwrap();
    drop(held);
}

#[test]
fn edge_07_a_pinned_global_shortfall_fails_at_once_even_when_the_pool_could_wait() {
    // The pool is short, but its member will be released; the global budget is short because
    // of a pinned model outside the pool, which no release can fix.
    let cache = ModelCache::builder()
        .budget(100)
        .pool("gpu", 20)
        .load_timeout(Duration::from_secs(3600))
        .build();
    counting(&cache, "pinned", 90, ModelPolicy::default().pinned(true));
    counting(&cache, "member", 10, ModelPolicy::default().pool("gpu"));
    counting(&cache, "wanted", 20, ModelPolicy::default().pool("gpu"));
    drop(cache.get::<Model>("pinned").unwrap());
    let _member = cache.get::<Model>("member").unwrap();
    let err = cache.get::<Model>("wanted").unwrap_err();
    match &err {
        CacheError::NoRoom {
            pool,
            waited,
            holders,
            ..
        } => {
            assert_eq!((pool, *waited), (&None, false), "{err}");
            assert!(
                holders
                    .iter()
                    .any(|h| h.id == "pinned" && h.state == HolderState::Pinned)
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(cache.stats().waits, 0);
}

#[test]
fn edge_08_a_load_timeout_of_duration_max_means_no_limit() {
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::MAX)
        .build();
    counting(&cache, "x", 100, ModelPolicy::default());
    counting(&cache, "y", 100, ModelPolicy::default());
    let x = cache.get::<Model>("x").unwrap();
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<Model>("y").map(|h| h.lock().id.clone()));
    until(|| cache.stats().queued == 1);
    drop(x);
    assert_eq!(waiter.join().unwrap().unwrap(), "y");
}

#[test]
fn edge_09_plan_agrees_with_get_at_budget_zero() {
    let cache = ModelCache::new(0);
    counting(&cache, "a", 10, ModelPolicy::default());
    let plan = cache.plan(&["a", "a"]).unwrap();
    assert!(plan.fits());
    assert!(
        plan.steps
            .iter()
            .all(|s| matches!(s.outcome, StepOutcome::Uncached) && s.charged_after == 0)
    );
    cache.get::<Model>("a").unwrap();
    cache.get::<Model>("a").unwrap();
    assert_eq!(cache.stats().loads, 2);
}

#[test]
fn edge_10_budgets_and_sizes_up_to_u64_max_keep_the_ledger_exact() {
    let cache = ModelCache::builder()
        .budget(u64::MAX)
        .pool("all", u64::MAX)
        .load_timeout(Duration::ZERO)
        .build();
    let huge = u64::MAX - 10;
    let loader = FnLoader::new("t", huge, move |_| Ok(Loaded::new(0u8, huge)));
    cache
        .register("huge", Arc::new(loader), ModelPolicy::default().pool("all"))
        .unwrap();
    counting(&cache, "small", 20, ModelPolicy::default().pool("all"));
    counting(&cache, "max", u64::MAX, ModelPolicy::default());
    drop(cache.get::<u8>("huge").unwrap());
    assert_eq!(check_invariants(&cache).charged, huge);
    // Together they would pass u64::MAX: "huge" must go.
    drop(cache.get::<Model>("small").unwrap());
    assert!(!cache.contains("huge"));
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.pools[0].charged), (20, 20));
    // A model of u64::MAX bytes fits an unlimited budget alone.
    let max = cache.get::<Model>("max").unwrap();
    assert_eq!(check_invariants(&cache).charged, u64::MAX);
    // Evicted while held, it stays charged; a new request cannot fit beside it.
    cache.invalidate("max");
    assert!(matches!(
        cache.get::<Model>("small"),
        Err(CacheError::NoRoom { .. })
    ));
    assert_eq!(check_invariants(&cache).held_bytes, u64::MAX);
    drop(max);
    assert_eq!(check_invariants(&cache).charged, 0);
    cache.get::<Model>("small").unwrap();
}

#[test]
fn suspected_waiters_for_room_are_admitted_in_arrival_order() {
    // "big" needs the whole budget and waits for "a"; "small" arrives later and would fit at
    // once, but waits behind "big" instead of starving it.
    let (events, hook) = recorder();
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::from_secs(3600))
        .on_event(hook)
        .build();
    counting(&cache, "a", 60, ModelPolicy::default());
    counting(&cache, "big", 100, ModelPolicy::default());
    counting(&cache, "small", 30, ModelPolicy::default());
    let a = cache.get::<Model>("a").unwrap();
    let c = cache.clone();
    // The thread hands its handle back, so "big" stays in use and "small" waits for it too.
    let big = std::thread::spawn(move || c.get::<Model>("big").unwrap());
    until(|| cache.stats().queued == 1);
    let c = cache.clone();
    let small = std::thread::spawn(move || c.get::<Model>("small").map(drop));
    until(|| cache.stats().queued == 2);
    drop(a);
    let big = big.join().unwrap();
    assert_eq!(cache.stats().queued, 1, "small still waits behind big");
    drop(big);
    small.join().unwrap().unwrap();
    let loaded: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CacheEvent::Loaded { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(loaded, ["a", "big", "small"]);
    check_invariants(&cache);
}

#[test]
fn suspected_events_reach_the_hook_in_the_order_the_state_changed() {
    // The hook stops on the first Loaded event (delivered by the loading thread) while another
    // thread evicts the model: the eviction must not overtake the load in the hook.
    let (entered_tx, entered) = channel::<()>();
    let (release, release_rx) = channel::<()>();
    let gate = Mutex::new(Some((entered_tx, release_rx)));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cache = ModelCache::builder()
        .budget(1000)
        .on_event(move |e: &CacheEvent| {
            if let CacheEvent::Loaded { .. } = e {
                if let Some((entered, release)) = gate.lock().unwrap().take() {
                    entered.send(()).unwrap();
                    release.recv().unwrap();
                }
            }
            sink.lock().unwrap().push(e.clone());
        })
        .build();
    counting(&cache, "m", 10, ModelPolicy::default());
    let c = cache.clone();
    let loader = std::thread::spawn(move || c.get::<Model>("m").map(drop));
    entered.recv().unwrap();
    assert!(cache.invalidate("m"));
    release.send(()).unwrap();
    loader.join().unwrap().unwrap();
    let kinds: Vec<&str> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            CacheEvent::Loaded { .. } => "loaded",
            CacheEvent::Evicted { .. } => "evicted",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["loaded", "evicted"]);
}

#[test]
fn load_timeouts_are_measured_by_the_cache_clock() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(100)
        .clock(clock.clone())
        .load_timeout(Duration::from_secs(3600))
        .build();
    counting(&cache, "held", 100, ModelPolicy::default());
    counting(&cache, "wanted", 100, ModelPolicy::default());
    let held = cache.get::<Model>("held").unwrap();
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<Model>("wanted").map(drop));
    until(|| cache.stats().queued == 1);
    // An hour by the cache's clock passes at once in real time.
    clock.advance(Duration::from_secs(3599));
    cache.expire(); // the waiter looks at the clock: not yet
    assert_eq!(cache.stats().queued, 1);
    clock.advance(Duration::from_secs(1));
    cache.expire();
    let err = waiter.join().unwrap().unwrap_err();
    assert!(
        matches!(err, CacheError::NoRoom { waited: true, .. }),
        "{err}"
    );
    let s = check_invariants(&cache);
    assert_eq!((s.waits, s.wait_timeouts, s.queued), (1, 1, 0));
    drop(held);
}
