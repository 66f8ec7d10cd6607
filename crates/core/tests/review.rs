//! Findings of a hostile review of the cache's concurrency and edge promises (of commit
//! 06118bf, which every test here fails; the fixes followed). Two more, which need the model
//! checker, are in `model_check.rs`. Ordering comes from channels, the
//! gated loaders of `common`, the cache's own counters and, for the async tests, a
//! current-thread runtime that runs tasks only while the test drives it. Where a finding is a
//! hang, a generous `recv_timeout` only turns the hang into a failure: a correct cache answers
//! in microseconds, so no outcome depends on timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The async findings need the `tokio` feature; without it the rest builds and runs, and the
// imports and helpers only they use are unused.
#![cfg_attr(not(feature = "tokio"), allow(unused))]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::{Model, check_invariants, counting, gated, until};
use modelcache_core::{CacheError, Clock, FnLoader, Loaded, ManualClock, ModelCache, ModelPolicy};

/// Long enough that only a hang reaches it.
const HANG: Duration = Duration::from_secs(20);

#[cfg(feature = "tokio")]
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[cfg(feature = "tokio")]
/// Yields until `ready` holds: observes that tasks reached a state, never decides by time.
async fn until_async(mut ready: impl FnMut() -> bool) {
    while !ready() {
        tokio::task::yield_now().await;
    }
}

#[cfg(feature = "tokio")]
/// Lets every task of a current-thread runtime that is ready run (and re-run) a few times.
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 1: the closure given to `get_or_load_with` is dropped under the cache lock when the
// request is a hit (or joins a load). Whatever it captured is user code run under the lock; a
// captured handle whose drop must take the lock (keep-alive zero, a request waiting for room,
// a budget exceeded, or the last handle of an evicted model) deadlocks the thread on itself.
// ---------------------------------------------------------------------------------------------

#[test]
fn review_01_a_get_or_load_with_closure_dropped_on_a_hit_deadlocks_on_the_cache_lock() {
    let cache = ModelCache::new(1000);
    counting(&cache, "pipeline", 10, ModelPolicy::default());
    let unload_when_idle = ModelPolicy::default().keep_alive(Duration::ZERO);
    counting(&cache, "encoder", 10, unload_when_idle);
    drop(cache.get::<Model>("pipeline").unwrap()); // resident: the next request is a hit
    let encoder = cache.get::<Model>("encoder").unwrap(); // its only handle

    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || {
        // The closure owns the encoder's handle (as a pipeline built from components would).
        let got = c.get_or_load_with::<Model, std::io::Error>("pipeline", 10, move || {
            let _encoder = encoder;
            Err(std::io::Error::other(
                "not called: the pipeline is resident",
            ))
        });
        tx.send(got.map(|h| h.id().to_owned())).ok();
    });
    let got = rx.recv_timeout(HANG);
    assert!(
        matches!(&got, Ok(Ok(id)) if id == "pipeline"),
        "the hit never returned: the closure (and the handle it owns) was dropped under the \
         cache lock, and the handle's drop waits for that lock ({got:?})"
    );
    assert!(
        !cache.contains("encoder"),
        "keep-alive zero: unloaded once idle"
    );
}

#[test]
fn review_01b_a_get_or_load_with_closure_dropped_when_joining_a_load_deadlocks() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "pipeline", 10, 10, ModelPolicy::default());
    let unload_when_idle = ModelPolicy::default().keep_alive(Duration::ZERO);
    counting(&cache, "encoder", 10, unload_when_idle);
    let encoder = cache.get::<Model>("encoder").unwrap();

    let c = cache.clone();
    let leader = std::thread::spawn(move || c.get::<Model>("pipeline").map(drop));
    gate.started.recv().unwrap(); // "pipeline" is loading: the next request joins it
    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || {
        let got = c.get_or_load_with::<Model, std::io::Error>("pipeline", 10, move || {
            let _encoder = encoder;
            Err(std::io::Error::other("not called: it joins the load"))
        });
        tx.send(got.map(|h| h.id().to_owned())).ok();
    });
    // Probe from another thread: if the joiner deadlocked holding the lock, this never answers.
    let (joined_tx, joined) = channel();
    let c = cache.clone();
    std::thread::spawn(move || {
        until(|| c.stats().misses == 3); // encoder, pipeline, and the joiner
        joined_tx.send(()).ok();
    });
    assert!(
        joined.recv_timeout(HANG).is_ok(),
        "the cache lock is never released: the joining request dropped its closure (and the \
         handle it owns) under the lock, and the handle's drop waits for that lock"
    );
    gate.release.send(Ok(())).unwrap();
    assert_eq!(rx.recv_timeout(HANG).unwrap().unwrap(), "pipeline");
    leader.join().unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Finding 2: a queued request's `global`/`pool` flags are rewritten on a re-evaluation that
// ends in `Wait` without waking anyone. A request that evaluated while the flags were stale
// (short globally) waits behind them; when they become less restrictive nobody tells it, so
// it waits for an unrelated wake-up or its timeout, with room free for it.
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg(feature = "tokio")] // get_async
fn review_02_a_request_blocked_by_a_stale_queue_flag_is_never_woken() {
    let cache = ModelCache::builder()
        .budget(100)
        .pool("gpu", 50)
        .load_timeout(Duration::from_secs(3600))
        .build();
    let in_gpu = || ModelPolicy::default().pool("gpu");
    counting(&cache, "h1", 60, ModelPolicy::default());
    counting(&cache, "h2", 40, in_gpu());
    counting(&cache, "a", 20, in_gpu());
    counting(&cache, "b", 20, ModelPolicy::default());
    let h1 = cache.get::<Model>("h1").unwrap();
    let h2 = cache.get::<Model>("h2").unwrap();
    assert_eq!(cache.stats().charged, 100);

    // "a" (pool gpu) is short globally (h1, h2 in use) and in the pool (h2): queued, global.
    // Its flight is led by a task of a runtime that runs only while this test drives it.
    let rt = current_thread_runtime();
    let c = cache.clone();
    let a = rt.spawn(async move { c.get_async::<Model>("a").await.map(drop) });
    rt.block_on(until_async(|| cache.stats().queued == 1));

    // h1 goes idle: room waiters are woken, but a's task does not run yet.
    drop(h1);
    // "b" (no pool) fits by evicting h1, but a's flag still says "short globally": b queues.
    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || tx.send(c.get::<Model>("b").map(|h| h.id().to_owned())));
    until(|| cache.stats().queued == 2);

    // Now a's task re-evaluates: globally it fits (h1 is idle), only the pool is short. Its
    // flags become (global: false, pool: gpu): it no longer blocks b. b must be woken.
    rt.block_on(settle());
    let got = rx.recv_timeout(HANG);
    let stranded = got.is_err();
    if stranded {
        cache.expire(); // any wake-up frees b: the only thing missing was the notification
    }
    let got = got.or_else(|_| rx.recv_timeout(HANG));
    assert!(
        !stranded,
        "b waited behind a queue entry that no longer blocked it, with room free, and was \
         never woken (freed only by an unrelated expire(); got {got:?})"
    );
    assert_eq!(got.unwrap().unwrap(), "b");
    drop(h2);
    rt.block_on(async { a.await.unwrap().unwrap() });
    check_invariants(&cache);
}

// ---------------------------------------------------------------------------------------------
// Finding 3: a load nobody waits for any more (every async request withdrew after the loader
// started) lands idle; a model whose keep-alive is zero ("unload as soon as it is idle") then
// stays resident and charged until some later miss or `expire()` happens to run.
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg(feature = "tokio")] // get_async
fn review_03_a_zero_keep_alive_model_that_lands_idle_stays_resident() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = ModelCache::new(100);
    let policy = ModelPolicy::default().keep_alive(Duration::ZERO);
    let gate = gated(&cache, "z", 10, 10, policy);
    runtime.block_on(async {
        let request = cache.get_async::<Model>("z");
        tokio::pin!(request);
        tokio::select! {
            biased;
            _ = &mut request => panic!("the load is gated"),
            () = until_async(|| gate.runs.load(Ordering::SeqCst) == 1) => {}
        }
    }); // the request withdrew while the loader ran: the load completes for nobody
    gate.release.send(Ok(())).unwrap();
    until(|| cache.stats().loads == 1);
    let s = check_invariants(&cache);
    assert!(
        !cache.contains("z") && s.charged == 0,
        "a keep-alive-zero model is idle, yet resident and charged: {s:?}"
    );
    drop(runtime);
}

// ---------------------------------------------------------------------------------------------
// Finding 4: "a panicking ... model destructor is caught and counted" holds only for models
// the cache drops itself (`Effects::finish`). A model evicted while held is destroyed by the
// drop of its last handle (`Resident::drop`), and its panic unwinds out of the handle drop
// uncounted (during another unwind, that aborts the process).
// ---------------------------------------------------------------------------------------------

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a model destructor panics");
    }
}

#[test]
fn review_04_a_panicking_destructor_run_by_the_last_handle_drop_is_not_caught() {
    let cache = ModelCache::new(100);
    let loader = FnLoader::new("t", 10, |_| Ok(Loaded::new(PanicsOnDrop, 10)));
    cache
        .register("p", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let handle = cache.get::<PanicsOnDrop>("p").unwrap();
    assert!(cache.invalidate("p")); // evicted while held: the handle destroys it
    let dropped = catch_unwind(AssertUnwindSafe(|| drop(handle)));
    let s = check_invariants(&cache);
    assert!(
        dropped.is_ok() && s.callback_panics == 1,
        "the destructor's panic unwound out of the handle drop (caught: {}, counted: {})",
        dropped.is_ok(),
        s.callback_panics
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 5: `Leader::succeed` disarms the leader guard before it publishes the result, and
// runs user code (tracing subscribers: `tracing::info!`, `State::evict`'s span and event) under
// the lock in between. A panic there leaves the flight without a result forever: its joiners
// block for good, and the resident keeps the leases counted for them (never evictable).
// ---------------------------------------------------------------------------------------------

// Finding 5 (a panic between disarming the leader and publishing, through a tracing
// subscriber) is in `review_subscriber.rs`: its subscriber is the process's global one, so it
// runs alone in a binary of its own.

#[cfg(feature = "tokio")]
/// A clock that panics on one chosen call: `arm(n)` lets `n` more calls through, then panics.
struct ArmedClock {
    countdown: AtomicI64,
    armed: AtomicBool,
}

#[cfg(feature = "tokio")]
impl ArmedClock {
    fn arm(&self, calls_before_panic: i64) {
        self.countdown.store(calls_before_panic, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Armed, and every call it let through plus the one that panics have happened.
    fn fired(&self) -> bool {
        self.armed.load(Ordering::SeqCst) && self.countdown.load(Ordering::SeqCst) < 0
    }
}

#[cfg(feature = "tokio")]
impl Clock for ArmedClock {
    fn now(&self) -> Instant {
        if self.countdown.fetch_sub(1, Ordering::SeqCst) == 0 {
            panic!("the clock panics");
        }
        Instant::now()
    }
}

/// The same flaw through the cache's own `Clock` (read under the lock by `succeed` for a model
/// with a keep-alive that lands idle): the flight is left in the map without a result, so every
/// later request for the model joins it and blocks forever.
#[test]
#[cfg(feature = "tokio")] // get_async
fn review_05b_a_clock_panic_in_succeed_strands_the_model_for_every_later_request() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clock = Arc::new(ArmedClock {
        countdown: AtomicI64::new(-1),
        armed: AtomicBool::new(false),
    });
    let cache = ModelCache::builder()
        .budget(100)
        .clock(clock.clone())
        .build();
    let (started_tx, started) = channel::<()>();
    let (release, release_rx) = channel::<()>();
    let (started_tx, release_rx) = (Mutex::new(started_tx), Mutex::new(release_rx));
    let armed = Arc::clone(&clock);
    let loader = FnLoader::new("t", 10, move |_| {
        started_tx.lock().unwrap().send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        // Leader::load reads the clock once more (the load's duration); `succeed` reads it
        // next, under the lock, to stamp a model that lands idle.
        armed.arm(1);
        Ok(Loaded::new(
            Model {
                id: "m".into(),
                generation: 1,
            },
            10,
        ))
    });
    let keep = ModelPolicy::default().keep_alive(Duration::from_secs(3600));
    cache.register("m", Arc::new(loader), keep).unwrap();
    runtime.block_on(async {
        let request = cache.get_async::<Model>("m");
        tokio::pin!(request);
        let started = &started;
        tokio::select! {
            biased;
            _ = &mut request => panic!("the load is gated"),
            () = until_async(|| started.try_recv().is_ok()) => {}
        }
    }); // withdrawn while the loader runs: the model will land idle
    release.send(()).unwrap();
    until(|| clock.fired()); // the clock panicked (inside `succeed`)
    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || tx.send(c.get::<Model>("m").map(|h| h.id().to_owned())));
    let got = rx.recv_timeout(HANG);
    assert!(
        got.is_ok(),
        "a later request for the model never returned: it joined a flight that will never \
         get a result ({:?})",
        cache.entries()
    );
    drop(runtime);
}

// ---------------------------------------------------------------------------------------------
// Finding 6: "no runtime worker ever blocks" — but the async paths run `Effects::finish` on the
// runtime worker: the destructors of the models a request evicts (effects.rs: "user code and
// may be slow", e.g. freeing GPU memory) and the event hooks run on the worker thread.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "tokio")]
struct RecordsDrop(Mutex<Sender<ThreadId>>);

#[cfg(feature = "tokio")]
impl Drop for RecordsDrop {
    fn drop(&mut self) {
        let tx = self.0.lock().unwrap();
        tx.send(std::thread::current().id()).ok();
    }
}

#[test]
#[cfg(feature = "tokio")] // get_async
fn review_06_get_async_drops_evicted_models_on_the_runtime_worker() {
    let cache = ModelCache::new(100);
    let (tx, rx) = channel();
    let tx = Mutex::new(Some(tx));
    let old = FnLoader::new("t", 100, move |_| {
        let tx = tx.lock().unwrap().take().unwrap();
        Ok(Loaded::new(RecordsDrop(Mutex::new(tx)), 100))
    });
    cache
        .register("old", Arc::new(old), ModelPolicy::default())
        .unwrap();
    counting(&cache, "new", 100, ModelPolicy::default());
    drop(cache.get::<RecordsDrop>("old").unwrap()); // resident and idle

    // A current-thread runtime: its only worker is this thread.
    let worker = std::thread::current().id();
    let rt = current_thread_runtime();
    rt.block_on(async { cache.get_async::<Model>("new").await.map(drop) })
        .unwrap();
    let dropped_on = rx.recv_timeout(HANG).unwrap();
    assert_ne!(
        dropped_on, worker,
        "the evicted model's destructor ran on the runtime's worker thread"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 7: `decide` evicts least recently used first for the global deficit, then pool
// members for the pool deficit, and never takes back a victim the later ones made needless.
// ---------------------------------------------------------------------------------------------

#[test]
fn review_07_admission_into_a_pool_evicts_a_model_outside_it_for_nothing() {
    let cache = ModelCache::builder().budget(100).pool("gpu", 50).build();
    let in_gpu = || ModelPolicy::default().pool("gpu");
    counting(&cache, "x", 40, ModelPolicy::default());
    counting(&cache, "y", 50, in_gpu());
    counting(&cache, "z", 50, in_gpu());
    drop(cache.get::<Model>("x").unwrap());
    drop(cache.get::<Model>("y").unwrap());
    // Evicting y alone admits z: global 40 + 50 <= 100, pool 50 <= 50.
    let plan = cache.plan(&["z"]).unwrap();
    let victims: Vec<&str> = plan.evictions().map(|v| v.id.as_str()).collect();
    cache.get::<Model>("z").unwrap();
    assert!(
        cache.contains("x"),
        "x was evicted though evicting y alone made room (plan: {victims:?})"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 8: `plan` reports a model whose flight is waiting for room as `Loading` with 0 bytes
// (the reservation it has not made yet), so `fits()` says it would be served without waiting
// and later steps are judged without its bytes.
// ---------------------------------------------------------------------------------------------

#[test]
fn review_08_plan_says_a_model_waiting_for_room_fits() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(100)
        .clock(clock.clone())
        .build();
    counting(&cache, "a", 80, ModelPolicy::default());
    counting(&cache, "b", 50, ModelPolicy::default());
    let a = cache.get::<Model>("a").unwrap();
    let c = cache.clone();
    let b = std::thread::spawn(move || c.get::<Model>("b").map(drop));
    until(|| cache.stats().queued == 1); // b waits for room (a is in use)
    let plan = cache.plan(&["b"]).unwrap();
    let step = plan.steps[0].clone();
    drop(a);
    b.join().unwrap().unwrap();
    assert!(
        !plan.fits() && step.bytes == 50,
        "a request for b would wait for room (and may time out), yet the plan says it fits: \
         {step:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 9: `plan` lets a panicking memory hint unwind into the caller; `get` catches the same
// panic and reports `LoaderPanicked`.
// ---------------------------------------------------------------------------------------------

#[test]
fn review_09_plan_lets_a_panicking_memory_hint_unwind() {
    let cache = ModelCache::new(100);
    let loader = FnLoader::new("t", 10, |_| Ok(Loaded::new(1u8, 10)))
        .with_hint(|| panic!("the hint panics"));
    cache
        .register("a", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    assert!(matches!(
        cache.get::<u8>("a"),
        Err(CacheError::LoaderPanicked { .. })
    ));
    // The step that would fail says so (as any failing hint does), and the plan goes on.
    let planned = catch_unwind(AssertUnwindSafe(|| cache.plan(&["a"])));
    assert!(
        matches!(&planned, Ok(Ok(plan)) if matches!(
            plan.steps[0].outcome,
            modelcache_core::StepOutcome::WouldFail(CacheError::LoaderPanicked { .. })
        )),
        "plan unwound instead of reporting the panicking hint (caught: {})",
        planned.is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 10: `ManualClock::advance` panics on a large argument (`Instant + Duration`
// overflows), although the cache itself takes `Duration::MAX` as "no limit".
// ---------------------------------------------------------------------------------------------

#[test]
fn review_10_manual_clock_advance_by_duration_max_panics() {
    let clock = ManualClock::new();
    let advanced = catch_unwind(AssertUnwindSafe(|| clock.advance(Duration::MAX)));
    assert!(
        advanced.is_ok(),
        "ManualClock::advance(Duration::MAX) panicked"
    );
}
