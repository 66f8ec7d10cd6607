//! Review 13: hostile tests of components (commit a8ad546, "models made of other registered
//! models").
//!
//! Tests named `bug_*` showed a defect of a8ad546 and failed on it; each passes since its fix
//! (the commits after it name them). Tests named `pins_*` pin behaviour that is right but
//! subtle, so that later changes do not break it.
//!
//! Events are ordered with gates, channels and `until` (never sleeps). A request that would
//! wait for room is observed queued (`stats().queued`), then released by moving a manual clock
//! past its deadline and calling `expire`, so that a wait that should not happen shows as a
//! failed assertion rather than a hung test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Model, check_invariants, counting, gated, until};
use modelcache_core::{
    BackendError, CacheError, CacheEvent, FnLoader, Handle, Loaded, ManualClock, ModelCache,
    ModelPolicy, StepOutcome,
};

const HOUR: Duration = Duration::from_secs(3600);

fn manual(budget: u64) -> (ModelCache, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(budget)
        .clock(clock.clone())
        .load_timeout(HOUR)
        .build();
    (cache, clock)
}

/// Lets every request waiting for room reach its deadline (by the cache's clock) and fail.
fn time_out_waiters(cache: &ModelCache, clock: &ManualClock) {
    clock.advance(2 * HOUR);
    cache.expire();
}

fn using(role: &str, id: &str) -> ModelPolicy {
    ModelPolicy::default().using(role, id)
}

// ---------------------------------------------------------------------------------------------
// Bugs (these fail on a8ad546)
// ---------------------------------------------------------------------------------------------

/// BUG 1. enc (60) + pipe (50) exceed the budget (100) whatever is evicted, because the
/// leader of pipe holds a lease on enc while it waits for room for pipe. The request should
/// fail at once; it queues and waits for the whole load timeout for room that only its own
/// lease keeps.
#[test]
fn bug_a_pipeline_waits_for_room_that_only_its_own_component_holds() {
    let (cache, clock) = manual(100);
    counting(&cache, "enc", 60, ModelPolicy::default());
    counting(&cache, "pipe", 50, using("encoder", "enc"));
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("pipe").map(drop));
    until(|| request.is_finished() || cache.stats().queued == 1);
    let waited_on_itself = cache.stats().queued == 1;
    time_out_waiters(&cache, &clock);
    let err = request.join().unwrap().unwrap_err();
    check_invariants(&cache);
    assert!(
        !waited_on_itself,
        "pipe queued for room that its own component holds (it can never fit): {err}"
    );
    assert!(
        matches!(
            err,
            CacheError::TooLarge { .. } | CacheError::NoRoom { waited: false, .. }
        ),
        "{err}"
    );
}

/// BUG 2. Hold-and-wait: p1 (40) uses enc1 (30), p2 (40) uses enc2 (30), budget 90. Asked
/// for together, each leader gets its encoder (60 charged), then each waits for 40 bytes that
/// only the other's encoder lease holds: both wait until the load timeout and fail, although
/// one after the other both fit (p1 + enc1 = 70; then p2 evicts p1 and enc1).
#[test]
fn bug_two_pipelines_each_holding_its_component_wait_for_each_other_until_timeout() {
    let (cache, clock) = manual(90);
    let g1 = gated(&cache, "enc1", 30, 30, ModelPolicy::default());
    let g2 = gated(&cache, "enc2", 30, 30, ModelPolicy::default());
    counting(&cache, "p1", 40, using("encoder", "enc1"));
    counting(&cache, "p2", 40, using("encoder", "enc2"));
    let c = cache.clone();
    let a = std::thread::spawn(move || c.get::<Model>("p1").map(drop));
    g1.started.recv().unwrap();
    let c = cache.clone();
    let b = std::thread::spawn(move || c.get::<Model>("p2").map(drop));
    // enc2 is admitted (its load started) or, after a fix, waits.
    let mut enc2_started = false;
    until(|| {
        enc2_started |= g2.started.try_recv().is_ok();
        enc2_started || cache.stats().queued >= 1
    });
    // Releases are buffered: a loader that starts later finds its release waiting. Each
    // encoder may load twice: 30 + 30 + 40 exceed 90, so whichever pipeline gives way has its
    // encoder evicted for the other and loads it again afterwards.
    for _ in 0..2 {
        g1.release.send(Ok(())).unwrap();
        g2.release.send(Ok(())).unwrap();
    }
    until(|| (a.is_finished() && b.is_finished()) || cache.stats().queued == 2);
    let deadlocked = cache.stats().queued == 2;
    time_out_waiters(&cache, &clock);
    let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
    check_invariants(&cache);
    assert!(
        !deadlocked,
        "both pipelines wait for room the other's component lease holds: {ra:?} / {rb:?}"
    );
    ra.unwrap();
    rb.unwrap();
}

/// BUG 3. plan() keeps a component's `freed_with` when a later step uses it as a component: the
/// plan for p2 evicts enc, the very component p2 is being loaded with (its request holds a
/// lease on it). The real request cannot evict it (and here cannot fit at all).
#[test]
fn bug_plan_evicts_the_component_its_own_pipeline_is_loaded_with() {
    let (cache, clock) = manual(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "p1", 30, using("encoder", "enc"));
    counting(&cache, "p2", 65, using("encoder", "enc"));
    drop(cache.get::<Model>("p1").unwrap()); // enc + p1 resident and idle: 70
    let plan = cache.plan(&["p2"]).unwrap();
    let evicts: Vec<String> = plan.evictions().map(|v| v.id.clone()).collect();
    // What get does.
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("p2").map(drop));
    until(|| request.is_finished() || cache.stats().queued == 1);
    time_out_waiters(&cache, &clock);
    let got = request.join().unwrap();
    check_invariants(&cache);
    assert!(
        !evicts.iter().any(|id| id == "enc"),
        "the plan evicts p2's own component: {plan:?}; get gave {got:?}"
    );
    assert!(
        plan.fits() == got.is_ok(),
        "plan says fits={}, get gave {got:?}",
        plan.fits()
    );
}

/// BUG 4. A component that only a pinned model holds can never be freed, but admission counts
/// it as room that may come (`InUse`), so a request that only it could make room for waits for
/// the whole load timeout instead of failing at once, as a pinned shortfall does.
#[test]
fn bug_a_component_only_a_pinned_model_holds_is_counted_as_room_that_may_come() {
    let (cache, clock) = manual(100);
    counting(&cache, "enc", 60, ModelPolicy::default());
    counting(&cache, "pipe", 20, using("encoder", "enc").pinned(true));
    drop(cache.get::<Model>("pipe").unwrap()); // pinned pipe holds enc: 80 charged
    counting(&cache, "big", 50, ModelPolicy::default());
    let plan = cache.plan(&["big"]).unwrap();
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("big").map(drop));
    until(|| request.is_finished() || cache.stats().queued == 1);
    let waited = cache.stats().queued == 1;
    time_out_waiters(&cache, &clock);
    let err = request.join().unwrap().unwrap_err();
    check_invariants(&cache);
    assert!(
        !waited,
        "big waited for enc, which only a pinned model holds: {err}"
    );
    assert!(
        matches!(err, CacheError::NoRoom { waited: false, .. }),
        "{err}"
    );
    assert!(
        matches!(plan.steps[0].outcome, StepOutcome::WouldFail(_)),
        "{plan:?}"
    );
}

/// BUG 5. An async request withdrawn (its future dropped) while its component waits for room:
/// the component's flight keeps waiting (its only waiter is the withdrawn model's leader task,
/// which does not look at its own flight while it awaits components), first in the queue, so
/// every later request waits behind a load nobody wants.
#[cfg(feature = "tokio")] // get_async
#[test]
fn bug_a_withdrawn_async_request_leaves_its_component_queued_ahead_of_everyone() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cache, _clock) = manual(10);
    counting(&cache, "x", 8, ModelPolicy::default());
    counting(&cache, "enc", 5, ModelPolicy::default());
    counting(&cache, "pipe", 1, using("encoder", "enc"));
    counting(&cache, "y", 2, ModelPolicy::default());
    let x = cache.get::<Model>("x").unwrap(); // in use: 8 of 10
    let (queued_after, plan) = runtime.block_on(async {
        let mut request = Box::pin(cache.get_async::<Model>("pipe"));
        let mut spins = 0u64;
        while cache.stats().queued == 0 {
            tokio::select! {
                biased;
                r = &mut request => panic!("pipe finished: {:?}", r.map(drop)),
                () = tokio::task::yield_now() => {}
            }
            spins += 1;
            assert!(spins < 10_000_000, "enc never queued");
        }
        drop(request); // withdrawn: nobody wants pipe, nor enc for it
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        (cache.stats().queued, cache.plan(&["y"]).unwrap())
    });
    drop(x);
    assert_eq!(
        queued_after, 0,
        "enc still waits for room for a withdrawn request; y would wait behind it: {plan:?}"
    );
    assert!(plan.fits(), "{plan:?}");
}

/// BUG 6. `State::users_of` is not a topological order (it reverses a traversal of a hash map):
/// in a diamond (a uses b and c, b uses c), invalidating c may remove b before a. b is then
/// "in use" (a's hold) and is evicted as still held, and so is c; both are reported
/// `still_held: true` (and counted in held bytes) though no caller holds anything. The hash
/// order differs per cache, so the test tries several.
#[test]
fn bug_invalidating_the_bottom_of_a_diamond_reports_idle_models_as_still_held() {
    for round in 0..32 {
        let events: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let seen = Arc::clone(&events);
        let cache = ModelCache::builder()
            .budget(1000)
            .on_event(move |e| {
                if let CacheEvent::Evicted { id, still_held, .. } = e {
                    seen.lock().unwrap().push((id.clone(), *still_held));
                }
            })
            .build();
        counting(&cache, "c", 10, ModelPolicy::default());
        counting(&cache, "b", 20, using("cr", "c"));
        counting(&cache, "a", 30, using("br", "b").using("cr", "c"));
        drop(cache.get::<Model>("a").unwrap());
        assert_eq!(cache.stats().charged, 60);
        assert!(cache.invalidate("c"));
        let s = check_invariants(&cache);
        assert_eq!(s.charged, 0);
        let events = events.lock().unwrap().clone();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            events.iter().all(|(_, held)| !held),
            "round {round}: idle models evicted as still held: {events:?}"
        );
    }
}

/// BUG 7. plan()'s `held_by` marks a component as freed with the model of the step that just
/// used it, ignoring its other holders: here enc is also held by p2, which a caller is using,
/// yet the plan for "p1 then x" evicts enc for x. The real request for x cannot evict it
/// (enc's users are p1's hold and p2's hold, and p2 is in use) and waits.
#[test]
fn bug_plan_frees_a_component_with_one_idle_user_while_another_user_is_in_use() {
    let (cache, clock) = manual(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "p1", 20, using("encoder", "enc"));
    counting(&cache, "p2", 20, using("encoder", "enc"));
    counting(&cache, "x", 50, ModelPolicy::default());
    drop(cache.get::<Model>("p1").unwrap());
    let p2 = cache.get::<Model>("p2").unwrap(); // in use: 80 charged
    let plan = cache.plan(&["p1", "x"]).unwrap();
    let evicts: Vec<String> = plan.evictions().map(|v| v.id.clone()).collect();
    // What get does.
    drop(cache.get::<Model>("p1").unwrap());
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("x").map(drop));
    until(|| request.is_finished() || cache.stats().queued == 1);
    let waited = cache.stats().queued == 1;
    time_out_waiters(&cache, &clock);
    let got = request.join().unwrap();
    check_invariants(&cache);
    drop(p2);
    assert!(waited && got.is_err(), "{got:?}");
    assert!(
        !evicts.iter().any(|id| id == "enc"),
        "the plan evicts enc, which p2 (in use) holds: {plan:?}"
    );
}

/// BUG 8 (cosmetic). `Handle::component` with a role the model does not have fails with
/// `UnknownComponent { component: "" }`, whose message reads `... uses "" as its vae, but no
/// model "" is registered (register it first)`: wrong advice, and no component named.
#[test]
fn bug_asking_a_handle_for_a_role_it_lacks_gives_a_misleading_message() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 20, using("encoder", "enc"));
    let p = cache.get::<Model>("pipe").unwrap();
    let err = p.component::<Model>("vae").unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains("\"\"") && !text.contains("register it first"),
        "{text}"
    );
}

/// BUG 9. The load timeout is per admission, not per request: a model's request waits up to
/// the timeout for each component's room and then again for its own, so a request with a
/// 100 s timeout is still waiting 150 s after it began (one component: up to 2x; n: n+1 x).
#[test]
fn bug_a_pipeline_request_waits_longer_than_the_load_timeout() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(100)
        .clock(clock.clone())
        .load_timeout(Duration::from_secs(100))
        .build();
    counting(&cache, "x", 50, ModelPolicy::default());
    counting(&cache, "y", 20, ModelPolicy::default());
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 50, using("encoder", "enc"));
    let x = cache.get::<Model>("x").unwrap();
    let y = cache.get::<Model>("y").unwrap(); // 70 in use
    let c = cache.clone();
    let request = std::thread::spawn(move || c.get::<Model>("pipe").map(drop)); // t = 0
    until(|| cache.stats().queued == 1); // enc waits for room
    clock.advance(Duration::from_secs(90));
    drop(x); // t = 90: enc fits and loads; pipe (50) then waits for y
    until(|| cache.contains("enc") && cache.stats().queued == 1);
    clock.advance(Duration::from_secs(60)); // t = 150, past the request's 100 s
    cache.expire();
    // Woken by `expire`, a request past its deadline fails at once; one that is not past it
    // goes back to waiting and nothing wakes it again, so give the woken thread every chance
    // to finish (it needs no other event) before concluding that it waits on.
    for _ in 0..200_000 {
        if request.is_finished() {
            break;
        }
        std::thread::yield_now();
    }
    let still_waiting = !request.is_finished();
    time_out_waiters(&cache, &clock);
    let got = request.join().unwrap();
    drop(y);
    check_invariants(&cache);
    assert!(
        !still_waiting,
        "pipe still waits 150 s after its request began, with a load timeout of 100 s: {got:?}"
    );
}

/// BUG 10 (counters). `load_failures` counts "loader runs that failed or panicked"; a
/// component's failed run is counted once for the component and again for the model that
/// needed it, whose loader never ran.
#[test]
fn bug_a_failed_component_is_counted_as_two_failed_loader_runs() {
    let cache = ModelCache::new(100);
    let gate = gated(&cache, "enc", 10, 10, ModelPolicy::default());
    let pipe = counting(&cache, "pipe", 10, using("encoder", "enc"));
    gate.release.send(Err("bad shard".into())).unwrap();
    cache.get::<Model>("pipe").unwrap_err();
    assert_eq!(
        (
            gate.runs.load(Ordering::SeqCst),
            pipe.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    assert_eq!(cache.stats().load_failures, 1, "one loader run failed");
}

// ---------------------------------------------------------------------------------------------
// Right but subtle (these pass on a8ad546)
// ---------------------------------------------------------------------------------------------

/// Nested components (a uses b uses c), all idle: a request that needs all their room evicts
/// the three, holders first, in one admission; the ledger is exact.
#[test]
fn pins_a_nested_chain_is_evicted_together_holders_first() {
    let events: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let seen = Arc::clone(&events);
    let cache = ModelCache::builder()
        .budget(100)
        .on_event(move |e| {
            if let CacheEvent::Evicted { id, still_held, .. } = e {
                seen.lock().unwrap().push((id.clone(), *still_held));
            }
        })
        .build();
    let c_runs = counting(&cache, "c", 10, ModelPolicy::default());
    counting(&cache, "b", 20, using("inner", "c"));
    counting(&cache, "a", 30, using("middle", "b"));
    let a = cache.get::<Model>("a").unwrap();
    let b = a.component::<Model>("middle").unwrap();
    let c = b.component::<Model>("inner").unwrap();
    assert_eq!(c.lock().id, "c");
    drop((a, b, c));
    assert_eq!(c_runs.load(Ordering::SeqCst), 1);
    counting(&cache, "big", 90, ModelPolicy::default());
    let big = cache.get::<Model>("big").unwrap();
    let s = check_invariants(&cache);
    assert_eq!(s.charged, 90);
    let order = events.lock().unwrap().clone();
    let order: Vec<(&str, bool)> = order.iter().map(|(id, h)| (id.as_str(), *h)).collect();
    assert_eq!(order, [("a", false), ("b", false), ("c", false)]);
    drop(big);
}

/// keep_alive = 0 on a component: it stays while a resident model holds it (even one nobody
/// uses), and is unloaded as soon as the last holder goes, whether that holder is evicted idle
/// or was evicted while held and its last handle drops.
#[test]
fn pins_a_keep_alive_zero_component_lives_exactly_as_long_as_its_holders() {
    let cache = ModelCache::new(100);
    counting(
        &cache,
        "enc",
        40,
        ModelPolicy::default().keep_alive(Duration::ZERO),
    );
    counting(&cache, "pipe", 20, using("encoder", "enc"));
    let p = cache.get::<Model>("pipe").unwrap();
    drop(p.component::<Model>("encoder").unwrap()); // a handle of its own, dropped
    drop(p);
    assert!(cache.contains("enc"), "held by the resident pipe");
    assert_eq!(check_invariants(&cache).charged, 60);
    // Evicted idle: the component goes in the same locked section.
    cache.invalidate("pipe");
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 0);
    // Evicted while held: the component goes with the last handle.
    let p = cache.get::<Model>("pipe").unwrap();
    cache.invalidate("pipe");
    assert!(cache.contains("enc"));
    drop(p);
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 0);
}

/// A model with two components whose second fails: the error names the second; the first
/// stays an ordinary idle model (evictable), nothing is charged for the model itself.
#[test]
fn pins_the_second_component_failing_leaves_the_first_idle_and_evictable() {
    let cache = ModelCache::new(100);
    counting(&cache, "clip", 30, ModelPolicy::default());
    let gate = gated(&cache, "t5", 30, 30, ModelPolicy::default());
    counting(
        &cache,
        "flux",
        20,
        using("text_encoder", "clip").using("text_encoder_2", "t5"),
    );
    gate.release.send(Err("bad shard".into())).unwrap();
    let err = cache.get::<Model>("flux").unwrap_err();
    assert!(
        matches!(&err, CacheError::Component { role, component, .. }
            if role == "text_encoder_2" && component == "t5"),
        "{err}"
    );
    assert!(cache.contains("clip") && !cache.contains("flux"));
    assert_eq!(check_invariants(&cache).charged, 30);
    counting(&cache, "big", 100, ModelPolicy::default());
    drop(cache.get::<Model>("big").unwrap());
    assert!(!cache.contains("clip"));
    assert_eq!(check_invariants(&cache).charged, 100);
}

/// A component whose loader panics fails its user with the panic as the source; nothing stays
/// charged and the cache goes on.
#[test]
fn pins_a_panicking_component_fails_its_user_and_charges_nothing() {
    let cache = ModelCache::new(100);
    let boom = FnLoader::new("test", 10, |_| -> Result<Loaded, BackendError> {
        panic!("component exploded")
    });
    cache
        .register("enc", Arc::new(boom), ModelPolicy::default())
        .unwrap();
    counting(&cache, "pipe", 10, using("encoder", "enc"));
    let err = cache.get::<Model>("pipe").unwrap_err();
    match &err {
        CacheError::Component { source, .. } => assert!(
            matches!(&**source, CacheError::LoaderPanicked { message, .. } if message.contains("exploded")),
            "{source}"
        ),
        other => panic!("{other}"),
    }
    assert_eq!(check_invariants(&cache).charged, 0);
    counting(&cache, "enc", 10, ModelPolicy::default()); // fixed, and pipe reloads with it
    drop(cache.get::<Model>("pipe").unwrap());
    assert_eq!(check_invariants(&cache).charged, 20);
}

/// A holder evicted while in use keeps its component charged; when its last handle goes, the
/// component becomes idle and a request waiting for that room is woken (no lost wake-up) and
/// evicts it. (A real timeout bounds a lost wake-up; it does not order anything.)
#[test]
fn pins_a_held_holders_last_handle_frees_its_component_for_a_waiter() {
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(Duration::from_secs(60))
        .build();
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 40, using("encoder", "enc"));
    counting(&cache, "x", 70, ModelPolicy::default());
    let p = cache.get::<Model>("pipe").unwrap();
    cache.invalidate("pipe"); // pipe held (40), enc resident but held by pipe (40)
    assert!(cache.contains("enc"));
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<Model>("x").map(|h| h.lock().id.clone()));
    until(|| cache.stats().queued == 1);
    drop(p);
    assert_eq!(waiter.join().unwrap().unwrap(), "x");
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 70);
}

/// Component and user in different pools: the user's pool pressure evicts the other user, not
/// the shared component (the new user's request holds it), and each pool is charged its own.
#[test]
fn pins_component_and_users_in_different_pools() {
    let cache = ModelCache::builder()
        .budget(1000)
        .pool("encoders", 50)
        .pool("pipelines", 50)
        .build();
    let enc = counting(&cache, "enc", 40, ModelPolicy::default().pool("encoders"));
    counting(&cache, "p1", 30, using("encoder", "enc").pool("pipelines"));
    counting(&cache, "p2", 30, using("encoder", "enc").pool("pipelines"));
    drop(cache.get::<Model>("p1").unwrap());
    let p2 = cache.get::<Model>("p2").unwrap();
    assert!(cache.contains("enc") && !cache.contains("p1"));
    assert_eq!(enc.load(Ordering::SeqCst), 1);
    let s = check_invariants(&cache);
    let pool = |name: &str| s.pools.iter().find(|p| p.name == name).unwrap().charged;
    assert_eq!(
        (pool("encoders"), pool("pipelines"), s.charged),
        (40, 30, 70)
    );
    drop(p2);
}

/// Budget zero with nested components: every request loads the whole chain, the handles reach
/// every level, nothing stays charged.
#[test]
fn pins_budget_zero_with_a_nested_chain() {
    let cache = ModelCache::new(0);
    let c_runs = counting(&cache, "c", 10, ModelPolicy::default());
    counting(&cache, "b", 20, using("inner", "c"));
    counting(&cache, "a", 30, using("middle", "b"));
    let a = cache.get::<Model>("a").unwrap();
    let c = a
        .component::<Model>("middle")
        .unwrap()
        .component::<Model>("inner")
        .unwrap();
    drop(a);
    assert_eq!(c.lock().id, "c");
    drop(c);
    drop(cache.get::<Model>("a").unwrap());
    assert_eq!(c_runs.load(Ordering::SeqCst), 2);
    assert_eq!(check_invariants(&cache).charged, 0);
}

/// set_pinned on a component: pinned, it outlives its users and a shortfall only it could
/// fill fails at once; unpinned, it is an ordinary idle model again.
#[test]
fn pins_set_pinned_on_a_component() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 20, using("encoder", "enc"));
    counting(&cache, "big", 70, ModelPolicy::default());
    drop(cache.get::<Model>("pipe").unwrap());
    cache.set_pinned("enc", true).unwrap();
    cache.invalidate("pipe");
    assert!(cache.contains("enc"));
    let err = cache.get::<Model>("big").unwrap_err();
    assert!(
        matches!(err, CacheError::NoRoom { waited: false, .. }),
        "{err}"
    );
    cache.set_pinned("enc", false).unwrap();
    drop(cache.get::<Model>("big").unwrap());
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 70);
}

/// Re-registering a component while a user loads: the user's request gets the model it asked
/// for (built with the old component, never inserted); both are released with its handle, and
/// the next request loads both anew.
#[test]
fn pins_re_registering_a_component_while_its_user_loads() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    let gate = gated(&cache, "pipe", 20, 20, using("encoder", "enc"));
    let c = cache.clone();
    let request = std::thread::spawn(move || {
        let p = c.get::<Model>("pipe")?;
        let generation = p.component::<Model>("encoder")?.lock().generation;
        Ok::<_, CacheError>((p, generation))
    });
    gate.started.recv().unwrap();
    let enc2 = counting(&cache, "enc", 40, ModelPolicy::default()); // replaces enc
    gate.release.send(Ok(())).unwrap();
    let (p, generation) = request.join().unwrap().unwrap();
    assert_eq!(generation, 1);
    assert!(
        !cache.contains("pipe"),
        "invalidated while loading: not inserted"
    );
    assert_eq!(check_invariants(&cache).charged, 60, "held by the caller");
    drop(p);
    assert_eq!(check_invariants(&cache).charged, 0);
    gate.release.send(Ok(())).unwrap();
    drop(cache.get::<Model>("pipe").unwrap());
    assert_eq!(enc2.load(Ordering::SeqCst), 1);
    assert_eq!(check_invariants(&cache).charged, 60);
}

/// An async request dropped while its component loads (started): the component lands, resident
/// and idle; the model is not loaded; nothing else stays charged.
#[cfg(feature = "tokio")] // get_async
#[test]
fn pins_an_async_request_dropped_while_its_component_loads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cache = ModelCache::new(100);
    let gate = gated(&cache, "enc", 40, 40, ModelPolicy::default());
    let pipe = counting(&cache, "pipe", 20, using("encoder", "enc"));
    runtime.block_on(async {
        let mut request = Box::pin(cache.get_async::<Model>("pipe"));
        loop {
            tokio::select! {
                biased;
                r = &mut request => panic!("pipe finished: {:?}", r.map(drop)),
                () = tokio::task::yield_now() => {}
            }
            if gate.started.try_recv().is_ok() {
                break;
            }
        }
        drop(request);
        gate.release.send(Ok(())).unwrap();
        while cache.stats().loading > 0 || !cache.contains("enc") {
            tokio::task::yield_now().await;
        }
    });
    drop(runtime); // every task and blocking drop done
    assert_eq!(pipe.load(Ordering::SeqCst), 0);
    assert!(cache.contains("enc") && !cache.contains("pipe"));
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.queued), (40, 0));
    // And it is idle: a request for all the room evicts it.
    counting(&cache, "big", 100, ModelPolicy::default());
    drop(cache.get::<Model>("big").unwrap());
    assert!(!cache.contains("enc"));
}

/// A component handle taken from a model outlives it: the model may be evicted, the
/// component may not while that handle is out.
#[test]
fn pins_a_component_handle_outlives_its_model() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 30, using("encoder", "enc"));
    counting(&cache, "other", 50, ModelPolicy::default());
    let p = cache.get::<Model>("pipe").unwrap();
    let e: Handle<Model> = p.component("encoder").unwrap();
    drop(p);
    let o = cache.get::<Model>("other").unwrap(); // evicts pipe, not enc
    assert!(cache.contains("enc") && !cache.contains("pipe"));
    assert_eq!(e.lock().id, "enc");
    assert_eq!(check_invariants(&cache).charged, 90);
    drop((o, e));
    counting(&cache, "big", 100, ModelPolicy::default());
    drop(cache.get::<Model>("big").unwrap());
    assert_eq!(check_invariants(&cache).charged, 100);
}

/// One component in two roles of the same model: loaded once, both roles hand over the same
/// instance, and the model and component are evicted together.
#[test]
fn pins_one_component_in_two_roles() {
    let cache = ModelCache::new(100);
    let enc = counting(&cache, "enc", 40, ModelPolicy::default());
    counting(
        &cache,
        "pipe",
        20,
        using("first", "enc").using("second", "enc"),
    );
    let p = cache.get::<Model>("pipe").unwrap();
    let (a, b) = (
        p.component::<Model>("first").unwrap(),
        p.component::<Model>("second").unwrap(),
    );
    assert!(Handle::ptr_eq(&a, &b));
    assert_eq!(enc.load(Ordering::SeqCst), 1);
    drop((p, a, b));
    assert_eq!(check_invariants(&cache).charged, 60);
    counting(&cache, "big", 100, ModelPolicy::default());
    drop(cache.get::<Model>("big").unwrap());
    assert!(!cache.contains("enc") && !cache.contains("pipe"));
    assert_eq!(check_invariants(&cache).charged, 100);
}

/// clear() with a user in use: everything leaves the map, the user and its component stay
/// charged (held) until the handle goes, then nothing is.
#[test]
fn pins_clear_with_a_user_in_use() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 20, using("encoder", "enc"));
    let p = cache.get::<Model>("pipe").unwrap();
    cache.clear();
    assert!(!cache.contains("enc") && !cache.contains("pipe"));
    assert_eq!(check_invariants(&cache).held_bytes, 60);
    assert_eq!(p.component::<Model>("encoder").unwrap().lock().id, "enc");
    drop(p);
    assert_eq!(check_invariants(&cache).charged, 0);
}

/// A component's keep-alive counts from when its last holder went, not from its own last
/// handle: it does not expire under a resident model.
#[test]
fn pins_a_components_keep_alive_counts_from_its_last_holder() {
    let (cache, clock) = manual(100);
    counting(
        &cache,
        "enc",
        40,
        ModelPolicy::default().keep_alive(Duration::from_secs(10)),
    );
    counting(
        &cache,
        "pipe",
        20,
        using("encoder", "enc").keep_alive(Duration::from_secs(100)),
    );
    drop(cache.get::<Model>("pipe").unwrap());
    clock.advance(Duration::from_secs(50));
    cache.expire();
    assert!(cache.contains("enc") && cache.contains("pipe"));
    clock.advance(Duration::from_secs(60));
    cache.expire();
    assert!(cache.contains("enc") && !cache.contains("pipe"));
    clock.advance(Duration::from_secs(9));
    cache.expire();
    assert!(cache.contains("enc"));
    clock.advance(Duration::from_secs(2));
    cache.expire();
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 0);
}

/// keep_alive = 0 on a component whose user's load fails: the leader's lease was its only
/// use, so it is unloaded at once, as the drop of its last handle would do.
#[test]
fn pins_a_keep_alive_zero_component_goes_when_its_users_load_fails() {
    let cache = ModelCache::new(100);
    counting(
        &cache,
        "enc",
        40,
        ModelPolicy::default().keep_alive(Duration::ZERO),
    );
    let gate = gated(&cache, "pipe", 20, 20, using("encoder", "enc"));
    gate.release.send(Err("bad weights".into())).unwrap();
    let err = cache.get::<Model>("pipe").unwrap_err();
    assert!(matches!(err, CacheError::Load { .. }), "{err}");
    assert!(!cache.contains("enc"));
    assert_eq!(check_invariants(&cache).charged, 0);
}

/// A load that measures over its hint pushes the cache over budget; trimming evicts idle
/// models only, never a component a model in use holds, and stops once within budget.
#[test]
fn pins_trimming_over_budget_spares_components_in_use() {
    let cache = ModelCache::new(100);
    counting(&cache, "enc", 40, ModelPolicy::default());
    counting(&cache, "pipe", 20, using("encoder", "enc"));
    counting(&cache, "idle", 10, ModelPolicy::default());
    let grows = FnLoader::new("test", 10, |_| {
        Ok(Loaded::new(
            Model {
                id: "grows".into(),
                generation: 1,
            },
            50,
        ))
    });
    cache
        .register("grows", Arc::new(grows), ModelPolicy::default())
        .unwrap();
    drop(cache.get::<Model>("idle").unwrap());
    let p = cache.get::<Model>("pipe").unwrap(); // 70 charged, pipe in use
    let g = cache.get::<Model>("grows").unwrap(); // reserved 10 (evicts nothing), measures 50
    assert!(cache.contains("enc") && cache.contains("pipe"));
    assert!(!cache.contains("idle"), "trimmed");
    let s = cache.stats();
    assert_eq!((s.charged, s.overruns), (110, 1));
    drop(p); // pipe idle: trimmed with enc only as far as needed
    let s = cache.stats();
    assert!(s.charged <= 100, "{s:?}");
    assert!(!cache.contains("pipe"));
    drop(g);
    check_invariants(&cache);
}
