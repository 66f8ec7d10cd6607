//! One load in flight, shared by every request for the model, and the leader that completes it.
//!
//! Lifecycle: a flight is created (with its leader guard) under the lock by the first request
//! for a model that is not resident; every request for it counts in `waiters`. The leader opens
//! the model (headers only), is admitted for the opened bytes (reserved, `started` set, under
//! the lock), loads the plan it opened, and publishes the result under the lock, counting one lease per waiter before it
//! does. Until `started`, a flight whose waiters all withdrew (dropped futures) is cancelled:
//! it leaves the map and the queue and publishes `Abandoned`, having charged nothing. After
//! `started` it always completes; a model loaded for nobody becomes resident and idle.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::acquire::{Components, Deadline, Job, hold_components};
use super::admission::Refused;
use super::effects::Effects;
use super::events::{CacheEvent, EvictReason};
use super::resident::{Lease, Resident};
use super::state::{Slot, State};
use super::{Locked, ModelCache};
use crate::error::CacheError;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Signal};
use modelcache_backend::BackendError;
use modelcache_backend::LoadProgress;
use modelcache_backend::{Loaded, ModelLoader, OpenedModel};

/// Every field is written under the cache lock; the atomics only make the type `Sync`.
pub(crate) struct Flight {
    pub id: Arc<str>,
    pub pool: Option<usize>,
    /// Bytes reserved for this load (0 until admitted).
    pub reserved: AtomicU64,
    /// Requests waiting for the result; each gets a lease counted before the result is published.
    pub waiters: AtomicUsize,
    /// Whether the model is pinned when it lands (`set_pinned` changes it during the load).
    pub pinned: AtomicBool,
    /// Admitted: its bytes are reserved and the loader runs; it can no longer be cancelled.
    pub started: AtomicBool,
    /// Its leader holds components while it waits for room (see `Shared::give_way`).
    pub holds: AtomicBool,
    /// What it does: a load, or a move of a loaded model between a device and host memory.
    pub kind: Kind,
    /// Its model was promoted (moved back from host memory), not loaded.
    pub promoted: AtomicBool,
    /// A promotion's host copy (held: charged until it is dropped), taken by the move. If the
    /// flight ends before the move (no room on the device, every request withdrawn), the copy
    /// goes back in the map in the flight's place, still demoted (`Flight::leave_map`).
    pub demoted: Mutex<Option<Arc<Resident>>>,
    pub result: OnceLock<Result<Arc<Resident>, CacheError>>,
    /// Notified when the result is published.
    pub done: Signal,
}

impl Flight {
    pub fn new(id: &str, pool: Option<usize>, pinned: bool) -> Self {
        Self {
            id: id.into(),
            pool,
            reserved: AtomicU64::new(0),
            waiters: AtomicUsize::new(1),
            pinned: AtomicBool::new(pinned),
            started: AtomicBool::new(false),
            holds: AtomicBool::new(false),
            kind: Kind::Load,
            promoted: AtomicBool::new(false),
            demoted: Mutex::new(None),
            result: OnceLock::new(),
            done: Signal::new(),
        }
    }

    /// A flight of `kind` (see [`Kind`]).
    pub fn of_kind(id: &str, pool: Option<usize>, pinned: bool, kind: Kind) -> Self {
        Self {
            kind,
            ..Self::new(id, pool, pinned)
        }
    }

    /// Whether this flight is `slot`.
    pub fn is(self: &Arc<Self>, slot: Option<&Slot>) -> bool {
        matches!(slot, Some(Slot::Loading(f)) if Arc::ptr_eq(f, self))
    }

    /// The published result as the request's own: a lease (counted for it by the leader) or
    /// the error. Call once per waiter, after the result is published.
    pub fn outcome(&self) -> Result<Lease, CacheError> {
        match self.result.get() {
            Some(Ok(r)) => Ok(Lease::adopt(Arc::clone(r))),
            Some(Err(e)) => Err(e.clone()),
            None => Err(CacheError::Abandoned {
                id: self.id.to_string(),
                reason: "the load ended without a result".into(),
            }),
        }
    }

    /// Blocks the calling thread until the result is published, then takes its outcome.
    pub fn wait(&self, mut st: Locked<'_>) -> Result<Lease, CacheError> {
        while self.result.get().is_none() {
            st.wait(|guard| self.done.cv.wait(guard));
        }
        drop(st);
        self.outcome()
    }

    /// Takes this flight, ending without a model, out of the map if it is still there. A
    /// promotion's host copy goes back in its place, still demoted, so that the next request
    /// promotes it again; if the flight was invalidated meanwhile, the copy is dropped after
    /// the lock.
    pub fn leave_map(self: &Arc<Self>, st: &mut State, fx: &mut Effects) {
        let host = self.demoted.lock().take();
        if !self.is(st.map.get(&*self.id)) {
            fx.dropped.extend(host);
            return;
        }
        match host {
            Some(host) => {
                st.unhold(&host);
                self.pin(&host);
                let replaced = st.map.insert(Arc::clone(&self.id), Slot::Ready(host));
                fx.drop_slot(replaced);
            }
            None => fx.drop_slot(st.map.remove(&*self.id)),
        }
    }

    /// Gives `r`, the model this flight lands (or puts back), the flight's pin: `set_pinned`
    /// reaches a model in flight through it.
    pub fn pin(&self, r: &Resident) {
        r.pinned
            .store(self.pinned.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Cancels a flight nobody waits for any more (never one that started), under the lock.
    #[cfg(feature = "tokio")]
    pub fn cancel(self: &Arc<Self>, shared: &super::Shared, st: &mut State, fx: &mut Effects) {
        debug_assert!(!self.started.load(Ordering::Relaxed));
        self.leave_map(st, fx);
        fx.flights.extend(st.drop_orphan(self));
        shared.leave_queue(st, self);
        let _ = self.result.set(Err(CacheError::Abandoned {
            id: self.id.to_string(),
            reason: "every request for it was withdrawn".into(),
        }));
        self.done.notify_all();
        // Its leader may be waiting for room: wake it to see.
        shared.room.notify_all();
    }
}

/// What a flight does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Loads the model (or promotes a demoted one, falling back to a load).
    Load,
    /// Copies a model evicted from its device into host memory (`tiers.rs`). Its requests
    /// wait for it and then ask again, which promotes it.
    Demote,
}

/// How a flight's model came to be where it is.
enum Arrival {
    /// Loaded from its checkpoint.
    Loaded,
    /// Moved back from host memory to its device (see `Work::Promote`).
    Promoted,
    /// The move back failed (the error says how), so it was loaded from its checkpoint.
    LoadedAfterFailedPromotion(String),
}

/// What a leader runs to load a model.
pub(crate) enum Work<'a> {
    /// A demoted model to move back to its device (its copy in host memory is the flight's,
    /// `Flight::demoted`); if that fails, `loader` loads it instead.
    Promote {
        loader: Arc<dyn ModelLoader>,
        device: Arc<str>,
    },
    /// A registered model not opened yet: its configured size was reserved instead.
    Loader(Arc<dyn ModelLoader>),
    /// A registered model opened before admission: its plan's bytes were reserved.
    Opened(Box<dyn OpenedModel>),
    /// A caller's closure (`get_or_load_with`).
    Once(Box<dyn FnOnce() -> Result<Loaded, BackendError> + 'a>),
}

impl Work<'_> {
    /// Loads: opens the model if it is not open yet, starts `progress` with the bytes the load
    /// reads, and loads the plan within its own bytes. The caller finishes `progress`.
    pub fn run(self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        let opened = match self {
            Work::Loader(loader) => loader.open()?,
            Work::Opened(opened) => opened,
            Work::Once(load) => return load(),
            // Moved by `Leader::load`; anywhere else it is a load.
            Work::Promote { loader, .. } => loader.open()?,
        };
        progress.start(opened.read_bytes());
        let limit = opened.inspection().bytes;
        opened.load(limit, progress)
    }
}

/// Completes a flight. Created under the lock together with the flight, before any user code
/// can run; if it is dropped without completing it (an unwind, a dropped task), the flight
/// fails with `Abandoned` and its reservation is released.
pub(crate) struct Leader {
    pub cache: ModelCache,
    pub flight: Arc<Flight>,
    pub backend: Arc<str>,
    pub keep_alive: Option<Duration>,
    /// The deadline of the request that started the flight: its components' waits for room
    /// and its own count against it together.
    pub deadline: Deadline,
    armed: bool,
}

impl Leader {
    pub fn new(
        cache: &ModelCache,
        flight: &Arc<Flight>,
        backend: Arc<str>,
        keep_alive: Option<Duration>,
        deadline: Deadline,
    ) -> Self {
        Self {
            cache: cache.clone(),
            flight: Arc::clone(flight),
            backend,
            keep_alive,
            deadline,
            armed: true,
        }
    }

    pub fn load_error(&self, e: BackendError) -> CacheError {
        CacheError::Load {
            id: self.flight.id.to_string(),
            backend: self.backend.to_string(),
            source: Arc::new(e),
        }
    }

    /// The flight was cancelled (all its requests withdrew): nothing left to do.
    #[cfg(feature = "tokio")]
    pub fn withdrawn(&mut self) -> bool {
        let _st = self.cache.shared.lock();
        if self.flight.result.get().is_some() && !self.flight.started.load(Ordering::Relaxed) {
            self.armed = false;
            return true;
        }
        false
    }

    /// Leads a flight on the calling thread: open (headers), admission (waiting for room) for the
    /// opened bytes, then the load of that same plan.
    pub(crate) fn lead_blocking(self, job: Job<'_>, progress: &dyn LoadProgress) {
        // Components first, each a request of its own, before this model reserves anything:
        // while it waits for them it holds no room another load might need.
        let components =
            match self
                .cache
                .acquire_components(&self.flight.id, &job.uses, progress, self.deadline)
            {
                Ok(components) => components,
                // The component's own failure was counted; this model's loader never ran.
                Err(e) => return self.fail(e, false),
            };
        let (need, work) = match (job.size, job.work) {
            (Some(size), work) => (size, work),
            (None, Work::Loader(loader)) => {
                match catch_unwind(AssertUnwindSafe(|| loader.open())) {
                    Ok(Ok(opened)) => (opened.inspection().bytes, Work::Opened(opened)),
                    Ok(Err(e)) => {
                        let error = self.load_error(e);
                        return self.fail(error, true);
                    }
                    Err(panic) => {
                        let error = panicked(&self.flight.id, &*panic);
                        return self.fail(error, true);
                    }
                }
            }
            (None, work) => (0, work),
        };
        let mut components = components;
        loop {
            match self
                .cache
                .shared
                .admit_blocking(&self.flight, need, self.deadline, components)
            {
                Ok(held) => {
                    components = held;
                    break;
                }
                // It let go of its components for an earlier request that holds its own, and
                // room changed since: get them again (hits, unless they were evicted).
                Err(Refused::GaveWay) => {
                    let again = self.cache.acquire_components(
                        &self.flight.id,
                        &job.uses,
                        progress,
                        self.deadline,
                    );
                    match again {
                        Ok(again) => components = again,
                        Err(e) => return self.fail_unloaded(e, work),
                    }
                }
                Err(Refused::Failed(e)) => return self.fail_unloaded(e, work),
            }
        }
        self.load(work, components, progress);
    }

    /// Runs the loader (admission done) and publishes its outcome; a loaded model holds
    /// `components` while it is resident.
    pub fn load(self, work: Work<'_>, components: Components, progress: &dyn LoadProgress) {
        let span = tracing::info_span!(target: "modelcache", "load", model = %self.flight.id, backend = %self.backend);
        let signals = &self.cache.shared.signals;
        let started = signals.now();
        let mut arrival = Arrival::Loaded;
        let outcome = span.in_scope(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let loaded = match work {
                    Work::Promote { loader, device } => {
                        let host = self.flight.demoted.lock().take();
                        let moved = host
                            .as_ref()
                            .map(|h| super::tiers::promote(h, &*loader, &device, progress));
                        match moved {
                            Some(Ok(moved)) => {
                                arrival = Arrival::Promoted;
                                Ok(moved)
                            }
                            failed => {
                                // The host copy goes first: its memory is free before the load.
                                drop(host);
                                if let Some(Err(e)) = failed {
                                    arrival = Arrival::LoadedAfterFailedPromotion(e.to_string());
                                    progress.finish();
                                }
                                Work::Loader(loader).run(progress)
                            }
                        }
                    }
                    work => work.run(progress),
                };
                progress.finish();
                loaded
            }))
        });
        let elapsed = signals.now().saturating_duration_since(started);
        match outcome {
            Ok(Ok(loaded)) => self.succeed(loaded, elapsed, components, arrival),
            Ok(Err(e)) => {
                let error = self.load_error(e);
                self.fail(error, true);
            }
            Err(panic) => {
                let error = panicked(&self.flight.id, &*panic);
                self.fail(error, true);
            }
        }
    }

    /// Fails the flight before its loader ran (not counted as a failed load), then drops the
    /// opened plan: it is the backend's, and its destructor may panic, after the flight has
    /// failed for every waiter.
    fn fail_unloaded(self, error: CacheError, work: Work<'_>) {
        let shared = Arc::clone(&self.cache.shared);
        self.fail(error, false);
        shared
            .signals
            .guarded("a backend's opened plan", || drop(work));
    }

    /// Fails the flight: every waiter gets `error`; its reservation is released.
    pub fn fail(mut self, error: CacheError, count_failure: bool) {
        self.fail_now(error, count_failure);
    }

    fn fail_now(&mut self, error: CacheError, count_failure: bool) {
        self.armed = false;
        let shared = &self.cache.shared;
        let mut fx = Effects::default();
        let mut st = shared.lock();
        if self.flight.result.get().is_some() {
            return; // cancelled: it charged nothing
        }
        fail_locked(shared, &mut st, &self.flight, error, count_failure, &mut fx);
        drop(st);
        fx.finish(shared);
    }

    /// Publishes a loaded model: charged at its measured size, handed to every waiter, and
    /// resident unless it was invalidated meanwhile or alone exceeds its budget.
    fn succeed(
        mut self,
        loaded: Loaded,
        elapsed: Duration,
        components: Components,
        arrival: Arrival,
    ) {
        self.armed = false;
        let shared = &self.cache.shared;
        let flight = &self.flight;
        let mut fx = Effects::default();
        let mut st = shared.lock();
        let reserved = flight.reserved.swap(0, Ordering::Relaxed);
        st.uncharge(reserved, flight.pool);
        let measured = loaded.bytes();
        if let Some(error) = outgrown(&st, flight, reserved, measured) {
            fail_locked(shared, &mut st, flight, error, true, &mut fx);
            drop(st);
            drop(components);
            shared
                .signals
                .guarded("a model destructor", || drop(loaded));
            fx.finish(shared);
            return;
        }
        let users = flight.waiters.load(Ordering::Relaxed);
        let pinned = flight.pinned.load(Ordering::Relaxed);
        let resident = self.cache.resident(
            &flight.id,
            &self.backend,
            loaded,
            self.keep_alive,
            flight.pool,
            users,
        );
        flight.pin(&resident);
        hold_components(&resident, &components);
        let promoted = matches!(arrival, Arrival::Promoted);
        if !promoted {
            // What a reload costs is what loads measure; a promotion is not one.
            st.costs
                .record(&flight.id, &self.backend, measured, elapsed);
        }
        let orphan = st.drop_orphan(flight);
        let inserted = orphan.is_none();
        fx.flights.extend(orphan);
        st.charge(measured, flight.pool);
        if !inserted && users == 0 {
            // Invalidated, and nobody waits for it: released at once.
            st.uncharge(measured, flight.pool);
            resident.settled.store(true, Ordering::Release);
            fx.dropped.push(Arc::clone(&resident));
        } else if !inserted {
            // Invalidated while loading: hand it to those who asked, never insert it.
            st.hold(&resident);
        } else {
            let replaced = st
                .map
                .insert(Arc::clone(&resident.id), Slot::Ready(Arc::clone(&resident)));
            fx.drop_slot(replaced);
        }
        if let Arrival::LoadedAfterFailedPromotion(error) = arrival {
            st.counters.promotion_failures += 1;
            let device = st.device_name(flight.pool).to_string();
            st.emit(CacheEvent::PromotionFailed {
                id: flight.id.to_string(),
                device,
                error,
            });
        }
        if promoted {
            flight.promoted.store(true, Ordering::Relaxed);
            st.counters.promotions += 1;
            let device = st.device_name(flight.pool).to_string();
            st.emit(CacheEvent::Promoted {
                id: flight.id.to_string(),
                device,
                bytes: measured,
                elapsed,
            });
        } else {
            st.counters.loaded(elapsed, measured);
            st.emit(CacheEvent::Loaded {
                id: flight.id.to_string(),
                backend: self.backend.to_string(),
                hint: reserved,
                bytes: measured,
                elapsed,
            });
        }
        if inserted && users == 0 && !pinned && self.keep_alive == Some(Duration::ZERO) {
            // Landed idle (its requests withdrew) with a keep-alive of zero: unloaded at once,
            // as the drop of its last handle would have done.
            st.evict(&flight.id, EvictReason::Expired, &mut fx);
        }
        let result = if !inserted && users == 0 {
            Err(CacheError::Abandoned {
                id: flight.id.to_string(),
                reason: "invalidated while loading".into(),
            })
        } else {
            Ok(resident)
        };
        let _ = flight.result.set(result);
        st.trim(&shared.signals, &mut fx);
        st.note_budget(&shared.signals);
        flight.done.notify_all();
        if measured < reserved || users == 0 {
            shared.room.notify_all();
        }
        drop(st);
        // The resident holds them now; the leader's own leases go.
        drop(components);
        fx.finish(shared);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if self.armed {
            let error = CacheError::Abandoned {
                id: self.flight.id.to_string(),
                reason: "the loading request unwound or its task was dropped".into(),
            };
            self.fail_now(error, true);
        }
    }
}

/// A typed error when a model measured more than its whole budget (unless oversized models are
/// allowed): it cannot stay resident within the budget whatever is evicted.
fn outgrown(st: &State, flight: &Flight, hint: u64, measured: u64) -> Option<CacheError> {
    if st.allow_oversized || measured <= hint {
        return None;
    }
    let pool = flight.pool.and_then(|p| st.pools.get(p));
    let (budget, pool) = if measured > st.budget && !st.is_device(flight.pool) {
        (st.budget, None)
    } else {
        let p = pool.filter(|p| measured > p.budget)?;
        (p.budget, Some(p.name.to_string()))
    };
    Some(CacheError::OutgrewBudget {
        id: flight.id.to_string(),
        hint,
        measured,
        budget,
        device: pool.is_some() && st.is_device(flight.pool),
        pool,
    })
}

/// Fails `flight` under the lock: releases its reservation, takes it out of the map, the
/// orphans and the queue, and publishes `error`.
fn fail_locked(
    shared: &super::Shared,
    st: &mut State,
    flight: &Arc<Flight>,
    error: CacheError,
    count_failure: bool,
    fx: &mut Effects,
) {
    let reserved = flight.reserved.swap(0, Ordering::Relaxed);
    st.uncharge(reserved, flight.pool);
    flight.leave_map(st, fx);
    fx.flights.extend(st.drop_orphan(flight));
    shared.leave_queue(st, flight);
    if count_failure {
        st.counters.load_failures += 1;
    }
    st.emit(CacheEvent::LoadFailed {
        id: flight.id.to_string(),
        error: error.clone(),
    });
    let _ = flight.result.set(Err(error));
    st.note_budget(&shared.signals);
    flight.done.notify_all();
    shared.room.notify_all();
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

pub(crate) fn panicked(id: &str, payload: &(dyn Any + Send)) -> CacheError {
    CacheError::LoaderPanicked {
        id: id.into(),
        message: panic_message(payload),
    }
}
