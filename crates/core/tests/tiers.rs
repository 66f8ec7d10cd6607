//! Tiers on a CPU-only machine: a backend that simulates a device (its models say where they
//! are, and its moves can be made to fail, panic or wait) checks demotion and promotion
//! against the device and host budgets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use common::{check_invariants, until};
use modelcache_backend::{
    Backend, BackendError, BackendModel, Inspection, LoadProgress, ModelSource, Opened,
};
use modelcache_core::{CacheError, CacheEvent, ModelCache, ModelPolicy};

const DEVICE: &str = "sim:0";

/// A model of the simulated backend: where it is, and which load made it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SimModel {
    place: String,
    load: usize,
}

/// A backend whose "device" is a label: loads put models on their source's device, moves
/// relabel them. Counters and switches are shared with the test.
#[derive(Default)]
struct Sim {
    bytes: u64,
    loads: AtomicUsize,
    demotes: AtomicUsize,
    promotes: AtomicUsize,
    fail_demote: AtomicBool,
    panic_demote: AtomicBool,
    fail_promote: AtomicBool,
    panic_promote: AtomicBool,
    /// When set, the next demotion says it started and waits to be released.
    gate: Mutex<Option<(Sender<()>, Receiver<()>)>>,
}

impl Backend for Sim {
    type Options = ();
    type Model = SimModel;
    type Plan = String;

    fn name(&self) -> &str {
        "sim"
    }

    fn open(&self, source: &ModelSource<'_, ()>) -> Result<Opened<String>, BackendError> {
        let place = source.device.unwrap_or("host").to_owned();
        Ok(Opened::new(place, Inspection::of_bytes(self.bytes)))
    }

    fn load(
        &self,
        place: String,
        _limit: u64,
        _progress: &dyn LoadProgress,
    ) -> Result<SimModel, BackendError> {
        let load = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(SimModel { place, load })
    }

    fn moves(&self) -> bool {
        true
    }

    fn demote(&self, model: &SimModel) -> Result<SimModel, BackendError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some((started, release)) = gate {
            started.send(()).unwrap();
            release.recv().unwrap();
        }
        assert!(!self.panic_demote.load(Ordering::SeqCst), "demote exploded");
        if self.fail_demote.load(Ordering::SeqCst) {
            return Err(BackendError::other("host memory refused the copy"));
        }
        self.demotes.fetch_add(1, Ordering::SeqCst);
        Ok(SimModel {
            place: "host".into(),
            load: model.load,
        })
    }

    fn promote(&self, model: &SimModel, device: &str) -> Result<SimModel, BackendError> {
        assert!(
            !self.panic_promote.load(Ordering::SeqCst),
            "promote exploded"
        );
        if self.fail_promote.load(Ordering::SeqCst) {
            return Err(BackendError::other("the device refused the copy"));
        }
        assert_eq!(model.place, "host", "promoted a model that was not demoted");
        self.promotes.fetch_add(1, Ordering::SeqCst);
        Ok(SimModel {
            place: device.to_owned(),
            load: model.load,
        })
    }
}

/// Registers `id` on the device, demoting, with a backend of its own charging `bytes`.
fn on_device(cache: &ModelCache, id: &str, bytes: u64) -> Arc<Sim> {
    let sim = Arc::new(Sim {
        bytes,
        ..Sim::default()
    });
    let loader = BackendModel::new(Arc::clone(&sim), id, "/sim", ()).on_device(Some(DEVICE.into()));
    let policy = ModelPolicy::default().on_device(DEVICE).demoting(true);
    cache.register(id, Arc::new(loader), policy).unwrap();
    sim
}

/// A cache with `host` bytes of host memory and `device` bytes on [`DEVICE`], recording events.
fn cache(host: u64, device: u64) -> (ModelCache, Arc<Mutex<Vec<CacheEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let cache = ModelCache::builder()
        .budget(host)
        .device(DEVICE, device)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build();
    (cache, events)
}

/// A cache as [`cache`]'s, of 100 bytes of host memory and 50 on the device, whose requests
/// never wait for room: one that would fails at once with who holds it.
fn without_waiting() -> ModelCache {
    ModelCache::builder()
        .budget(100)
        .device(DEVICE, 50)
        .load_timeout(std::time::Duration::ZERO)
        .build()
}

/// 100 bytes of host memory and 60 on the device (two models of 30), with `load_timeout`.
#[cfg(feature = "tokio")]
fn device_of_60(load_timeout: std::time::Duration) -> ModelCache {
    ModelCache::builder()
        .budget(100)
        .device(DEVICE, 60)
        .load_timeout(load_timeout)
        .build()
}

/// A runtime of one worker thread and at most `blocking` blocking threads, timers on.
#[cfg(feature = "tokio")]
fn one_worker(blocking: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(blocking)
        .enable_all()
        .build()
        .unwrap()
}

/// What the cache says of `id`, which it must hold.
fn entry(cache: &ModelCache, id: &str) -> modelcache_core::EntryInfo {
    let entries = cache.entries();
    entries
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("{id} is not cached"))
}

fn device_charged(cache: &ModelCache) -> u64 {
    let s = cache.stats();
    let d = s.pools.iter().find(|p| p.name == DEVICE).unwrap();
    assert!(d.device);
    d.charged
}

fn place(cache: &ModelCache, id: &str) -> String {
    cache.get::<SimModel>(id).unwrap().lock().place.clone()
}

#[test]
fn a_model_on_a_device_counts_against_the_device_not_host_memory() {
    let (cache, _) = cache(10, 100);
    let a = on_device(&cache, "a", 60);
    assert_eq!(place(&cache, "a"), DEVICE);
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.resident_bytes), (0, 0));
    assert_eq!(device_charged(&cache), 60);
    let entry = &cache.entries()[0];
    assert_eq!(entry.device.as_deref(), Some(DEVICE));
    assert_eq!(
        (entry.pool.as_ref(), entry.demoted_from.as_ref()),
        (None, None)
    );
    assert_eq!(a.loads.load(Ordering::SeqCst), 1);
}

#[test]
fn eviction_from_the_device_demotes_and_the_next_request_promotes_without_a_load() {
    let (cache, events) = cache(100, 50);
    let a = on_device(&cache, "a", 30);
    let b = on_device(&cache, "b", 30);
    assert_eq!(place(&cache, "a"), DEVICE);
    // b needs the device: a goes to host memory, charged there.
    assert_eq!(place(&cache, "b"), DEVICE);
    let s = check_invariants(&cache);
    assert_eq!((s.charged, device_charged(&cache)), (30, 30));
    assert_eq!((s.demotions, s.promotions, s.evictions), (1, 0, 0));
    let demoted = cache.entries().into_iter().find(|e| e.id == "a").unwrap();
    assert_eq!(demoted.demoted_from.as_deref(), Some(DEVICE));
    assert_eq!(demoted.device, None);
    // a again: b is demoted for it and a moves back, read from host memory, not the disk.
    let handle = cache.get::<SimModel>("a").unwrap();
    assert_eq!(
        *handle.lock(),
        SimModel {
            place: DEVICE.into(),
            load: 1
        }
    );
    drop(handle);
    let s = check_invariants(&cache);
    assert_eq!((s.charged, device_charged(&cache)), (30, 30));
    assert_eq!((s.demotions, s.promotions, s.loads), (2, 1, 2));
    assert_eq!(a.loads.load(Ordering::SeqCst), 1);
    assert_eq!(b.loads.load(Ordering::SeqCst), 1);
    assert_eq!(a.promotes.load(Ordering::SeqCst), 1);
    let kinds: Vec<&'static str> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CacheEvent::Loaded { .. } => Some("loaded"),
            CacheEvent::Demoted { .. } => Some("demoted"),
            CacheEvent::Promoted { .. } => Some("promoted"),
            CacheEvent::Evicted { .. } => Some("evicted"),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        ["loaded", "demoted", "loaded", "demoted", "promoted"],
        "in the order the state changed"
    );
}

#[test]
fn a_failed_promotion_falls_back_to_a_load_from_the_checkpoint() {
    let (cache, events) = cache(100, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    a.fail_promote.store(true, Ordering::SeqCst);
    let handle = cache.get::<SimModel>("a").unwrap();
    assert_eq!(
        *handle.lock(),
        SimModel {
            place: DEVICE.into(),
            load: 2
        },
        "loaded again, onto the device"
    );
    drop(handle);
    let s = check_invariants(&cache);
    assert_eq!((s.promotions, s.promotion_failures), (0, 1));
    // b was demoted for a; a's host copy is gone.
    assert_eq!((s.charged, device_charged(&cache)), (30, 30));
    let events = events.lock().unwrap();
    let failed = events
        .iter()
        .position(
            |e| matches!(e, CacheEvent::PromotionFailed { error, .. } if error.contains("refused")),
        )
        .expect("a PromotionFailed event");
    assert!(
        matches!(&events[failed + 1..], [CacheEvent::Loaded { id, .. }, ..] if id == "a"),
        "the load follows the failure: {events:?}"
    );
}

#[test]
fn a_promotion_that_finds_no_room_on_the_device_keeps_the_host_copy() {
    let cache = without_waiting();
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    // b's request demotes a; b stays in use, so a cannot come back.
    let b = cache.get::<SimModel>("b").unwrap();
    let e = cache.get::<SimModel>("a").map(|_| ()).unwrap_err();
    assert!(matches!(e, CacheError::NoRoom { .. }), "{e}");
    let a_entry = entry(&cache, "a");
    assert_eq!(a_entry.demoted_from.as_deref(), Some(DEVICE));
    let s = check_invariants(&cache);
    assert_eq!((s.charged, device_charged(&cache)), (30, 30));
    // Once there is room, the next request promotes the copy it kept: no second load.
    drop(b);
    let (_, served) = cache.request("a", &modelcache_backend::NoProgress).unwrap();
    assert_eq!(served, modelcache_core::Served::Promoted);
    assert_eq!(place(&cache, "a"), DEVICE);
    assert_eq!(a.loads.load(Ordering::SeqCst), 1);
    check_invariants(&cache);
}

/// An async request for the demoted `a` leads a promotion that waits for room on the device
/// (something fills it); `during` runs while it waits, then the request is dropped.
#[cfg(feature = "tokio")]
fn withdraw_a_promotion_of_a(cache: &ModelCache, during: impl FnOnce()) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = Box::pin(cache.get_async::<SimModel>("a"));
        tokio::select! {
            _ = &mut request => panic!("a was served while the device is full"),
            () = tokio::task::yield_now() => {}
        }
        tokio::task::yield_now().await;
        during();
        drop(request);
    });
}

#[cfg(feature = "tokio")] // get_async
#[test]
fn an_async_request_withdrawn_before_its_promotion_keeps_the_host_copy() {
    let (cache, _) = cache(100, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    let b = cache.get::<SimModel>("b").unwrap();
    withdraw_a_promotion_of_a(&cache, || {});
    let a_entry = entry(&cache, "a");
    assert_eq!(a_entry.demoted_from.as_deref(), Some(DEVICE));
    assert_eq!(check_invariants(&cache).charged, 30);
    drop(b);
    assert_eq!(place(&cache, "a"), DEVICE);
    assert_eq!(
        (
            a.loads.load(Ordering::SeqCst),
            a.promotes.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    check_invariants(&cache);
}

#[test]
fn a_panicking_promotion_falls_back_to_a_load_too() {
    let (cache, _) = cache(100, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    a.panic_promote.store(true, Ordering::SeqCst);
    assert_eq!(cache.get::<SimModel>("a").unwrap().lock().load, 2);
    let s = check_invariants(&cache);
    assert_eq!(s.promotion_failures, 1);
    assert_eq!((s.charged, device_charged(&cache)), (30, 30));
}

#[test]
fn a_failed_or_panicking_demotion_unloads_and_still_makes_room() {
    for panic in [false, true] {
        let (cache, events) = cache(100, 50);
        let a = on_device(&cache, "a", 30);
        on_device(&cache, "b", 30);
        drop(cache.get::<SimModel>("a").unwrap());
        if panic {
            a.panic_demote.store(true, Ordering::SeqCst);
        } else {
            a.fail_demote.store(true, Ordering::SeqCst);
        }
        assert_eq!(place(&cache, "b"), DEVICE);
        let s = check_invariants(&cache);
        assert_eq!((s.demotions, s.demotion_failures), (0, 1));
        assert_eq!((s.charged, device_charged(&cache)), (0, 30), "a is gone");
        assert!(!cache.contains("a"));
        assert!(
            events
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, CacheEvent::DemotionFailed { id, .. } if id == "a"))
        );
        // It loads again from its checkpoint.
        a.fail_demote.store(false, Ordering::SeqCst);
        a.panic_demote.store(false, Ordering::SeqCst);
        assert_eq!(cache.get::<SimModel>("a").unwrap().lock().load, 2);
        check_invariants(&cache);
    }
}

#[test]
fn without_room_in_host_memory_a_model_is_unloaded_instead() {
    let (cache, _) = cache(20, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    let s = check_invariants(&cache);
    assert_eq!((s.demotions, s.evicted_by.capacity), (0, 1));
    assert_eq!(s.charged, 0);
    assert_eq!(a.demotes.load(Ordering::SeqCst), 0);
    assert_eq!(cache.get::<SimModel>("a").unwrap().lock().load, 2);
}

#[test]
fn a_demoted_model_is_evicted_like_any_host_model_when_host_memory_is_needed() {
    let (cache, _) = cache(40, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    let host = common::counting(&cache, "host", 20, ModelPolicy::default());
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    assert_eq!(cache.stats().charged, 30, "a waits in host memory");
    drop(cache.get::<common::Model>("host").unwrap());
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.evicted_by.capacity), (20, 1));
    assert_eq!(host.load(Ordering::SeqCst), 1);
    // a is gone from both tiers: its request loads it.
    assert_eq!(cache.get::<SimModel>("a").unwrap().lock().load, 2);
    assert_eq!(a.promotes.load(Ordering::SeqCst), 0);
}

#[test]
fn a_model_in_use_is_never_demoted_and_a_pinned_one_never_leaves() {
    let cache = without_waiting();
    on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    let held = cache.get::<SimModel>("a").unwrap();
    let e = cache.get::<SimModel>("b").map(|_| ()).unwrap_err();
    assert!(matches!(e, CacheError::NoRoom { .. }), "{e}");
    drop(held);
    cache.set_pinned("a", true).unwrap();
    let e = cache.get::<SimModel>("b").map(|_| ()).unwrap_err();
    assert!(matches!(e, CacheError::NoRoom { .. }), "{e}");
    let s = check_invariants(&cache);
    assert_eq!(s.demotions, 0);
}

/// A thread giving the place a request landed its model in.
type PlaceOfB = std::thread::JoinHandle<Result<String, CacheError>>;

/// Registers `a`, `b` and `c` of 30 bytes on the device, and loads `a` then `b` (idle): a
/// device of 60 bytes is full, `a` the least recently used.
fn a_and_b_fill_the_device(cache: &ModelCache) -> (Arc<Sim>, Arc<Sim>) {
    let a = on_device(cache, "a", 30);
    let b = on_device(cache, "b", 30);
    on_device(cache, "c", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    (a, b)
}

/// Makes `sim`'s next demotion say it started, then wait until released.
fn gate(sim: &Sim) -> (Receiver<()>, Sender<()>) {
    let (started_tx, started) = channel();
    let (release, release_rx) = channel();
    *sim.gate.lock().unwrap() = Some((started_tx, release_rx));
    (started, release)
}

/// `a` and `b` of 30 bytes on a device of 50 (host memory 100), `a` loaded and idle; `b`'s
/// request, on the returned thread (which gives the place `b` landed in), demotes `a`, whose
/// copy waits at the gate until the returned sender releases it.
fn a_demoted_for_b_waits_at_the_gate() -> (ModelCache, Arc<Sim>, PlaceOfB, Sender<()>) {
    let (cache, _) = cache(100, 50);
    let a = on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    let (started, release) = gate(&a);
    let c = cache.clone();
    let b_thread =
        std::thread::spawn(move || c.get::<SimModel>("b").map(|h| h.lock().place.clone()));
    started.recv().unwrap();
    (cache, a, b_thread, release)
}

#[test]
fn requests_for_a_model_being_demoted_wait_for_it_then_promote_it_once() {
    let (cache, a, b_thread, release) = a_demoted_for_b_waits_at_the_gate();
    assert_eq!(
        device_charged(&cache),
        30,
        "a's device copy is charged until it is gone"
    );
    assert_eq!(cache.stats().charged, 30, "and its host copy is reserved");
    // Requests for a now join the demotion.
    let misses = cache.stats().misses;
    let askers: Vec<_> = (0..4)
        .map(|_| {
            let c = cache.clone();
            std::thread::spawn(move || c.get::<SimModel>("a").map(|h| h.lock().clone()))
        })
        .collect();
    until(|| cache.stats().misses == misses + 4);
    release.send(()).unwrap();
    assert_eq!(b_thread.join().unwrap().unwrap(), DEVICE);
    // They ask again once a is in host memory: b is demoted in turn, a promoted once. The
    // device holds one of them at a time, so each asker gets a on the device.
    for asker in askers {
        let got = asker.join().unwrap().unwrap();
        assert_eq!(got.place, DEVICE);
        assert_eq!(got.load, 1);
    }
    let s = check_invariants(&cache);
    assert_eq!(a.loads.load(Ordering::SeqCst), 1);
    assert_eq!(a.promotes.load(Ordering::SeqCst), 1);
    assert_eq!((s.demotions, s.promotions), (2, 1));
}

#[test]
fn a_model_pinned_while_it_is_being_demoted_stays_pinned_in_host_memory() {
    let (cache, _, b_thread, release) = a_demoted_for_b_waits_at_the_gate();
    cache.set_pinned("a", true).unwrap();
    release.send(()).unwrap();
    b_thread.join().unwrap().unwrap();
    let a_entry = entry(&cache, "a");
    assert_eq!(a_entry.demoted_from.as_deref(), Some(DEVICE));
    assert!(a_entry.pinned, "the pin set during the move is kept");
    check_invariants(&cache);
}

#[test]
fn placements_that_cannot_work_are_refused_at_registration() {
    let cache = ModelCache::builder()
        .budget(100)
        .device(DEVICE, 50)
        .pool("family", 50)
        .build();
    let sim = || Arc::new(BackendModel::new(Arc::new(Sim::default()), "m", "/sim", ()));
    let refused = |policy: ModelPolicy, loader: Arc<dyn modelcache_backend::ModelLoader>| {
        cache.register("m", loader, policy).unwrap_err().to_string()
    };
    let e = refused(ModelPolicy::default().on_device("cuda:7"), sim());
    assert!(
        e.contains("unknown device \"cuda:7\"") && e.contains(DEVICE),
        "{e}"
    );
    let e = refused(ModelPolicy::default().on_device("family"), sim());
    assert!(
        e.contains("unknown device \"family\""),
        "a pool is not a device: {e}"
    );
    let e = refused(ModelPolicy::default().pool(DEVICE), sim());
    assert!(e.contains("unknown pool"), "a device is not a pool: {e}");
    let e = refused(
        ModelPolicy::default().on_device(DEVICE).pool("family"),
        sim(),
    );
    assert!(e.contains("cannot be in a pool too"), "{e}");
    let e = refused(ModelPolicy::default().demoting(true), sim());
    assert!(e.contains("demote needs a device"), "{e}");
    let plain = common::loader("m", 10);
    let e = refused(
        ModelPolicy::default().on_device(DEVICE).demoting(true),
        plain,
    );
    assert!(e.contains("cannot move models"), "{e}");
    common::counting(&cache, "t5", 10, ModelPolicy::default());
    let e = refused(
        ModelPolicy::default()
            .on_device(DEVICE)
            .demoting(true)
            .using("text_encoder", "t5"),
        sim(),
    );
    assert!(e.contains("with components cannot be demoted"), "{e}");
    // On a device without demotion, any backend will do.
    cache
        .register(
            "plain",
            common::loader("plain", 10),
            ModelPolicy::default().on_device(DEVICE),
        )
        .unwrap();
}

#[test]
fn sizes_near_u64_max_on_a_device_leave_host_memory_alone() {
    let (cache, _) = cache(10, u64::MAX);
    on_device(&cache, "huge", u64::MAX - 1);
    on_device(&cache, "small", 1);
    drop(cache.get::<SimModel>("huge").unwrap());
    drop(cache.get::<SimModel>("small").unwrap());
    let s = check_invariants(&cache);
    assert_eq!(device_charged(&cache), u64::MAX);
    assert_eq!((s.charged, s.demotions), (0, 0));
}

#[test]
fn the_export_says_which_device_each_model_is_on_and_counts_the_moves() {
    let (cache, _) = cache(100, 50);
    on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    drop(cache.get::<SimModel>("b").unwrap());
    let text = modelcache_core::metrics::render(&cache);
    let has = |line: &str| assert!(text.contains(line), "no {line:?} in\n{text}");
    has(
        "modelcache_model_resident_bytes{model=\"a\",backend=\"sim\",device=\"cpu\",demoted_from=\"sim:0\"} 30\n",
    );
    has("modelcache_model_resident_bytes{model=\"b\",backend=\"sim\",device=\"sim:0\"} 30\n");
    has("modelcache_budget_bytes{scope=\"device\",device=\"sim:0\"} 50\n");
    has("modelcache_charged_bytes{scope=\"device\",device=\"sim:0\"} 30\n");
    has("modelcache_charged_bytes{scope=\"global\"} 30\n");
    has("modelcache_demotions_total 1\n");
    has("modelcache_promotions_total 0\n");
}

#[test]
fn plan_says_which_victims_would_be_demoted() {
    let (cache, _) = cache(40, 50);
    on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    on_device(&cache, "c", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    // b would demote a (host has room for it); c after it would find host memory full and
    // unload b.
    let plan = cache.plan(&["b", "c"]).unwrap();
    let victims: Vec<(String, bool)> = plan
        .steps
        .iter()
        .flat_map(|s| match &s.outcome {
            modelcache_core::StepOutcome::Load { evicts } => evicts.clone(),
            _ => Vec::new(),
        })
        .map(|v| (v.id, v.demoted))
        .collect();
    assert_eq!(victims, [("a".to_owned(), true), ("b".to_owned(), false)]);
    // And get does the same.
    drop(cache.get::<SimModel>("b").unwrap());
    drop(cache.get::<SimModel>("c").unwrap());
    let s = check_invariants(&cache);
    assert_eq!((s.demotions, s.evicted_by.capacity), (1, 1));
}

#[test]
fn plan_follows_demoted_models_and_agrees_with_the_requests() {
    use modelcache_core::{Served, StepOutcome};
    // Three models of 30 bytes on a device that holds one, with host memory for three, two
    // or one host copy: every sequence of five requests, planned, then made.
    for host in [100, 70, 40] {
        for n in 0..3usize.pow(5) {
            let ids: Vec<&str> = (0..5)
                .map(|k| ["a", "b", "c"][n / 3usize.pow(k) % 3])
                .collect();
            let (cache, events) = cache(host, 50);
            for id in ["a", "b", "c"] {
                on_device(&cache, id, 30);
            }
            let plan = cache.plan(&ids).unwrap();
            for (step, id) in plan.steps.iter().zip(&ids) {
                let what = format!("host {host}, {ids:?}, {id}: planned {:?}", step.outcome);
                events.lock().unwrap().clear();
                let (_, served) = cache.request(id, &modelcache_backend::NoProgress).unwrap();
                let (planned, evicts) = match &step.outcome {
                    StepOutcome::Resident => (Served::Hit, Vec::new()),
                    StepOutcome::Load { evicts } => (Served::Loaded, evicts.clone()),
                    StepOutcome::Promote { evicts } => (Served::Promoted, evicts.clone()),
                    other => panic!("{what}: unexpected {other:?}"),
                };
                assert_eq!(served, planned, "{what}");
                // What left the device: demoted (moved) or unloaded, as planned.
                let mut left: Vec<(String, bool)> = events
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|e| match e {
                        CacheEvent::Demoted { id, .. } => Some((id.clone(), true)),
                        CacheEvent::Evicted { id, .. } => Some((id.clone(), false)),
                        _ => None,
                    })
                    .collect();
                let mut planned: Vec<(String, bool)> =
                    evicts.into_iter().map(|v| (v.id, v.demoted)).collect();
                left.sort();
                planned.sort();
                assert_eq!(left, planned, "{what}");
                assert_eq!(cache.stats().charged, step.charged_after, "{what}");
            }
            check_invariants(&cache);
        }
    }
}

/// A request on tokio's blocking pool (where `get` finds a runtime) runs the demotion it starts
/// and then takes the room it made, instead of making room a second time.
#[cfg(feature = "tokio")]
#[test]
fn a_request_waits_for_the_demotion_it_started_and_evicts_nothing_more() {
    let runtime = one_worker(4);
    let (cache, _) = cache(100, 60);
    let (a, b) = a_and_b_fill_the_device(&cache);
    let (started, release) = gate(&a);
    let c = cache.clone();
    let request =
        runtime.spawn_blocking(move || c.get::<SimModel>("c").map(|h| h.lock().place.clone()));
    // c's request demoted a (the least recently used) and waits for the copy.
    started.recv().unwrap();
    release.send(()).unwrap();
    assert_eq!(runtime.block_on(request).unwrap().unwrap(), DEVICE);
    assert_eq!(
        b.demotes.load(Ordering::SeqCst),
        0,
        "b was moved off for room a's move made"
    );
    assert_eq!(entry(&cache, "b").device.as_deref(), Some(DEVICE));
    let s = check_invariants(&cache);
    assert_eq!((s.demotions, s.evictions), (1, 0));
}

/// The async request that demotes waits for its move even when it may not wait for room
/// (`load_timeout` zero): the move is its own, not room that others hold.
#[cfg(feature = "tokio")]
#[test]
fn an_async_request_that_may_not_wait_still_waits_for_its_own_demotion() {
    let runtime = one_worker(512);
    let cache = device_of_60(std::time::Duration::ZERO);
    let (a, b) = a_and_b_fill_the_device(&cache);
    // a's copy waits at the gate until it has started: the request looks again meanwhile.
    let (started, release) = gate(&a);
    let releaser = std::thread::spawn(move || {
        started.recv().unwrap();
        release.send(()).unwrap();
    });
    let place = runtime
        .block_on(cache.get_async::<SimModel>("c"))
        .map(|h| h.lock().place.clone());
    releaser.join().unwrap();
    assert_eq!(place.unwrap(), DEVICE);
    assert_eq!(a.demotes.load(Ordering::SeqCst), 1);
    assert_eq!(b.demotes.load(Ordering::SeqCst), 0);
    let s = check_invariants(&cache);
    assert_eq!((s.demotions, s.evictions), (1, 0));
}

/// A sync request on tokio's blocking pool, where the pool has one thread (the request's own):
/// a demotion it queued as a task would wait for that very thread while the request waited
/// for the move. A blocking request runs its moves on its own thread. The 20 s `recv_timeout`
/// only detects a hang; it orders nothing.
#[cfg(feature = "tokio")]
#[test]
fn a_request_on_a_full_blocking_pool_does_not_wait_forever_for_its_own_move() {
    let runtime = one_worker(1);
    let cache = device_of_60(std::time::Duration::from_millis(200));
    a_and_b_fill_the_device(&cache);
    let (done_tx, done) = channel();
    let c = cache.clone();
    drop(runtime.spawn_blocking(move || {
        let r = c.get::<SimModel>("c").map(|h| h.lock().place.clone());
        let _ = done_tx.send(r);
    }));
    let got = done.recv_timeout(std::time::Duration::from_secs(20));
    assert!(
        got.is_ok(),
        "the request for c hung: it waits (AwaitMoves, no deadline) for a demotion queued on \
         the blocking-pool thread it occupies; stats: {:?}",
        cache.stats()
    );
    std::mem::forget(runtime); // a hung blocking thread would block the runtime's drop
}

/// A pin set while a promotion waits for room is kept when the promotion ends before its move
/// (`Flight::leave_map` gives the host copy the flight's pin).
#[cfg(feature = "tokio")]
#[test]
fn a_pin_set_during_a_withdrawn_promotion_is_kept_on_the_host_copy() {
    let (cache, _) = cache(100, 50);
    on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    drop(cache.get::<SimModel>("a").unwrap());
    let b = cache.get::<SimModel>("b").unwrap();
    assert_eq!(entry(&cache, "a").demoted_from.as_deref(), Some(DEVICE));
    withdraw_a_promotion_of_a(&cache, || cache.set_pinned("a", true).unwrap());
    let a_entry = entry(&cache, "a");
    assert_eq!(a_entry.demoted_from.as_deref(), Some(DEVICE));
    assert!(
        a_entry.pinned,
        "set_pinned(a, true) returned Ok while a was being promoted, but the host copy put \
         back is not pinned"
    );
    drop(b);
    check_invariants(&cache);
}

/// The mirror: unpinned during a promotion that ends before its move, the host copy put back
/// is unpinned too (else it could never leave host memory, against its policy).
#[cfg(feature = "tokio")]
#[test]
fn an_unpin_during_a_withdrawn_promotion_unpins_the_host_copy() {
    let (cache, _, b_thread, release) = a_demoted_for_b_waits_at_the_gate();
    cache.set_pinned("a", true).unwrap();
    release.send(()).unwrap();
    b_thread.join().unwrap().unwrap();
    assert!(entry(&cache, "a").pinned);
    let b = cache.get::<SimModel>("b").unwrap();
    withdraw_a_promotion_of_a(&cache, || cache.set_pinned("a", false).unwrap());
    let a_entry = entry(&cache, "a");
    assert_eq!(a_entry.demoted_from.as_deref(), Some(DEVICE));
    assert!(
        !a_entry.pinned,
        "set_pinned(a, false) returned Ok during the promotion, yet the host copy is pinned"
    );
    drop(b);
    check_invariants(&cache);
}

/// A request that did not start the move (`d`, queued behind `c`, whose demotion of `a` waits
/// at the gate) waits for room as any request does: it fails with `NoRoom` at its deadline
/// (by the cache's clock), not only once someone else's move ends. The 10 s `recv_timeout`
/// only detects a hang.
#[test]
fn a_request_that_did_not_demote_still_times_out_while_another_move_runs() {
    use modelcache_core::ManualClock;
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(100)
        .device(DEVICE, 60)
        .clock(clock.clone())
        .load_timeout(std::time::Duration::from_secs(3600))
        .build();
    let (a, _) = a_and_b_fill_the_device(&cache);
    on_device(&cache, "d", 30);
    let (started, release) = gate(&a);
    let c = cache.clone();
    let c_thread =
        std::thread::spawn(move || c.get::<SimModel>("c").map(|h| h.lock().place.clone()));
    started.recv().unwrap(); // c demoted a; a's copy waits at the gate
    let (d_tx, d_done) = channel();
    let c = cache.clone();
    let d_thread = std::thread::spawn(move || {
        let _ = d_tx.send(c.get::<SimModel>("d").map(|_| ()));
    });
    until(|| cache.stats().queued == 2); // d waits behind c
    clock.advance(std::time::Duration::from_secs(3600));
    cache.expire(); // wakes the waiters to look at the clock
    let got = d_done.recv_timeout(std::time::Duration::from_secs(10));
    release.send(()).unwrap();
    c_thread.join().unwrap().unwrap();
    let got = got.unwrap_or_else(|_| {
        panic!("d's request ignored its deadline: it waits without one for c's move (AwaitMoves)")
    });
    d_thread.join().unwrap();
    let e = got.unwrap_err();
    assert!(matches!(e, CacheError::NoRoom { waited: true, .. }), "{e}");
}

/// A sync request inside a runtime that has shut down: its demotion runs on its own thread,
/// not as a task the runtime would refuse, and the request goes on. The 20 s `recv_timeout`
/// only detects a hang.
#[cfg(feature = "tokio")]
#[test]
fn a_blocking_request_in_a_shut_down_runtime_runs_its_demotion_itself() {
    let runtime = one_worker(512);
    let handle = runtime.handle().clone();
    drop(runtime);
    let (cache, _) = cache(100, 60);
    a_and_b_fill_the_device(&cache);
    let (tx, rx) = channel();
    let c = cache.clone();
    std::thread::spawn(move || {
        let _entered = handle.enter();
        let _ = tx.send(c.get::<SimModel>("c").map(|h| h.lock().place.clone()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("c's request hung after its demotion was refused");
    assert_eq!(got.unwrap(), DEVICE);
    let s = check_invariants(&cache);
    // A blocking request runs its own move: the runtime never sees it.
    assert_eq!((s.demotions, s.demotion_failures), (1, 0));
}

#[test]
fn errors_about_a_device_budget_name_the_device() {
    let cache = without_waiting();
    on_device(&cache, "a", 30);
    on_device(&cache, "b", 30);
    on_device(&cache, "huge", 60);
    let held = cache.get::<SimModel>("a").unwrap();
    let e = cache.get::<SimModel>("b").map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, CacheError::NoRoom { pool: Some(d), device: true, .. } if d == DEVICE),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("device {DEVICE:?}")), "{e}");
    drop(held);
    let e = cache.get::<SimModel>("huge").map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, CacheError::TooLarge { pool: Some(d), device: true, .. } if d == DEVICE),
        "{e:?}"
    );
    assert!(e.to_string().contains(&format!("device {DEVICE:?}")), "{e}");
}

#[test]
fn plan_keeps_a_pinned_demoted_model_pinned_when_its_promotion_would_wait() {
    let (cache, _, b_thread, release) = a_demoted_for_b_waits_at_the_gate();
    cache.set_pinned("a", true).unwrap();
    release.send(()).unwrap();
    b_thread.join().unwrap().unwrap();
    // b in use fills the device: a's promotion would wait, and a stays in host memory.
    let _b = cache.get::<SimModel>("b").unwrap();
    cache
        .register("h", common::loader("h", 80), ModelPolicy::default())
        .unwrap();
    let plan = cache.plan(&["a", "h"]).unwrap();
    assert!(
        matches!(
            plan.steps[0].outcome,
            modelcache_core::StepOutcome::WouldWait { .. }
        ),
        "{plan:?}"
    );
    // h needs a's host memory, and a is pinned there.
    assert!(
        !matches!(
            plan.steps[1].outcome,
            modelcache_core::StepOutcome::Load { .. }
        ),
        "{plan:?}"
    );
}
