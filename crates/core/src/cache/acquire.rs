//! Getting a model: the hit path, joining a load in flight, and leading a load.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ModelCache;
use super::admission::{Scope, Verdict, decide};
use super::events::{CacheEvent, EvictReason};
use super::flight::Flight;
use super::handle::{AnyHandle, Handle, Served};
use super::policy::ModelPolicy;
use super::resident::{Lease, Resident};
use super::state::{Effects, Held, Registered, Slot, State, address};
use crate::backend::{Loaded, ModelLoader};
use crate::error::{BackendError, CacheError, Holder};
use crate::progress::{LoadProgress, NoProgress};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, MutexGuard, wait_until};

/// What a leader runs to load a model.
enum Work<'a> {
    Loader(Arc<dyn ModelLoader>),
    Once {
        hint: u64,
        load: Box<dyn FnOnce() -> Result<Loaded, BackendError> + 'a>,
    },
}

struct Job<'a> {
    backend: Arc<str>,
    policy: ModelPolicy,
    pool: Option<usize>,
    work: Work<'a>,
}

impl ModelCache {
    /// Registers a model under `id`: how to load it and how to treat it.
    /// Registering an ID again replaces its definition and invalidates what was loaded.
    ///
    /// # Errors
    /// [`CacheError::UnknownPool`] when the policy names a pool the cache does not have.
    pub fn register(
        &self,
        id: impl Into<String>,
        loader: Arc<dyn ModelLoader>,
        policy: ModelPolicy,
    ) -> Result<(), CacheError> {
        let id: Arc<str> = id.into().into();
        let mut st = self.shared.state.lock();
        let pool = match &policy.pool {
            Some(name) => Some(st.pool_index(name).ok_or_else(|| CacheError::UnknownPool {
                id: id.to_string(),
                pool: name.clone(),
                known: st.pools.iter().map(|p| p.name.to_string()).collect(),
            })?),
            None => None,
        };
        let replaced = st
            .models
            .insert(
                Arc::clone(&id),
                Registered {
                    loader,
                    policy,
                    pool,
                },
            )
            .is_some();
        drop(st);
        if replaced {
            self.invalidate(&id);
        }
        Ok(())
    }

    /// Returns a handle to the registered model `id`, loading it if needed.
    ///
    /// # Errors
    /// Unknown ID, wrong type, a failed or panicking load, or no room (see [`CacheError`]).
    #[inline]
    pub fn get<T: Send + Sync + 'static>(&self, id: &str) -> Result<Handle<T>, CacheError> {
        // The hit path inline; the lock guard is a temporary dropped at the end of the statement.
        let lease = hit(&mut self.shared.state.lock(), id);
        match lease {
            Some(lease) => Handle::from_lease(lease),
            None => self.get_with_progress(id, &NoProgress),
        }
    }

    /// [`get`](Self::get), reporting load progress to `progress` if this request runs the load.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn get_with_progress<T: Send + Sync + 'static>(
        &self,
        id: &str,
        progress: &dyn LoadProgress,
    ) -> Result<Handle<T>, CacheError> {
        Handle::from_lease(self.acquire(id, None, progress)?.0)
    }

    /// Returns the model `id`, running `loader` to load it if it is not resident.
    ///
    /// For callers that load models themselves: `hint` bytes are reserved before `loader` runs
    /// and charged as its size. A registered model's policy applies if `id` is registered.
    ///
    /// # Errors
    /// Wrong type, a failed or panicking load, or no room (see [`CacheError`]).
    pub fn get_or_load_with<T, E>(
        &self,
        id: &str,
        hint: u64,
        loader: impl FnOnce() -> Result<T, E>,
    ) -> Result<Handle<T>, CacheError>
    where
        T: Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let load = move || {
            loader()
                .map(|v| Loaded::new(v, hint))
                .map_err(|e| BackendError::Other(e.into()))
        };
        let work = Work::Once {
            hint,
            load: Box::new(load),
        };
        Handle::from_lease(self.acquire(id, Some(work), &NoProgress)?.0)
    }

    /// Returns the registered model `id` whatever its type, and how the request was served.
    /// For tools that handle models they do not know the types of (the command line, benches).
    ///
    /// # Errors
    /// As [`get`](Self::get), except that there is no type to get wrong.
    pub fn request(
        &self,
        id: &str,
        progress: &dyn LoadProgress,
    ) -> Result<(AnyHandle, Served), CacheError> {
        self.acquire(id, None, progress)
            .map(|(lease, served)| (AnyHandle { lease }, served))
    }

    fn acquire(
        &self,
        id: &str,
        work: Option<Work<'_>>,
        progress: &dyn LoadProgress,
    ) -> Result<(Lease, Served), CacheError> {
        let mut st = self.shared.state.lock();
        if let Some(lease) = hit(&mut st, id) {
            return Ok((lease, Served::Hit));
        }
        match st.map.get(id) {
            Some(Slot::Ready(_)) | None => {}
            Some(Slot::Loading(f)) => {
                let flight = Arc::clone(f);
                flight.waiters.fetch_add(1, Ordering::Relaxed);
                st.counters.misses += 1;
                return wait_for(st, &flight).map(|l| (l, Served::Joined));
            }
        }
        st.counters.misses += 1;
        let job = job_for(&st, id, work)?;
        if self.shared.budget == 0 {
            drop(st);
            return self
                .load_uncached(id, job, progress)
                .map(|l| (l, Served::Loaded));
        }
        let mut fx = Effects::default();
        self.expire_locked(&mut st, &mut fx);
        let flight = Arc::new(Flight::new(job.pool));
        st.map.insert(id.into(), Slot::Loading(Arc::clone(&flight)));
        drop(st);
        fx.finish(&self.shared);
        self.lead(id, &flight, job, progress)
            .map(|l| (l, Served::Loaded))
    }

    fn lead(
        &self,
        id: &str,
        flight: &Arc<Flight>,
        job: Job<'_>,
        progress: &dyn LoadProgress,
    ) -> Result<Lease, CacheError> {
        let mut leader = Leader {
            cache: self,
            id,
            flight,
            backend: Arc::clone(&job.backend),
            done: false,
        };
        let need = match (job.policy.size, &job.work) {
            (Some(size), _) => size,
            (None, Work::Once { hint, .. }) => *hint,
            (None, Work::Loader(loader)) => {
                match catch_unwind(AssertUnwindSafe(|| loader.memory_hint())) {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(e)) => return Err(leader.fail(leader.load_error(e), true)),
                    Err(panic) => return Err(leader.fail(panicked(id, &*panic), true)),
                }
            }
        };
        if let Err(e) = self.admit(id, flight, need) {
            return Err(leader.fail(e, false));
        }
        let span = tracing::info_span!(target: "modelcache", "load", model = %id, backend = %job.backend, reserved = need);
        let started = Instant::now();
        let outcome = span.in_scope(|| {
            catch_unwind(AssertUnwindSafe(|| match job.work {
                Work::Loader(loader) => loader.load(progress),
                Work::Once { load, .. } => load(),
            }))
        });
        progress.finish();
        match outcome {
            Ok(Ok(loaded)) => Ok(leader.succeed(loaded, &job.policy, job.pool, started.elapsed())),
            Ok(Err(e)) => Err(leader.fail(leader.load_error(e), true)),
            Err(panic) => Err(leader.fail(panicked(id, &*panic), true)),
        }
    }

    /// Reserves `need` bytes for `flight`, evicting idle models or waiting for room.
    fn admit(&self, id: &str, flight: &Flight, need: u64) -> Result<(), CacheError> {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.load_timeout;
        // Registered before looking at who is idle: see `Lease::drop`.
        shared.signals.room_waiters.fetch_add(1, Ordering::SeqCst);
        let _registered = RoomWaiter(&shared.signals.room_waiters);
        let mut st = shared.state.lock();
        let mut waited = false;
        loop {
            let candidates = st.candidates();
            let mut ledger = st.ledger();
            ledger.budget = shared.budget;
            match decide(
                &candidates,
                &ledger,
                need,
                flight.pool,
                shared.allow_oversized,
            ) {
                Verdict::Fit(victims) => {
                    let mut fx = Effects::default();
                    for i in victims {
                        st.evict(&candidates[i].id, EvictReason::Capacity, &mut fx);
                    }
                    st.charge(need, flight.pool);
                    flight.reserved.store(need, Ordering::Relaxed);
                    drop(st);
                    fx.finish(shared);
                    return Ok(());
                }
                Verdict::TooLarge { scope, budget } => {
                    let pool = scope.map(|p| st.pools[p].name.to_string());
                    return Err(CacheError::TooLarge {
                        id: id.into(),
                        needed: need,
                        budget,
                        pool,
                    });
                }
                Verdict::Never { scope, holders } => {
                    return Err(self.no_room(&st, id, need, scope, holders, waited));
                }
                Verdict::Wait { scope, holders } => {
                    if Instant::now() >= deadline {
                        if waited {
                            st.counters.wait_timeouts += 1;
                        }
                        return Err(self.no_room(&st, id, need, scope, holders, waited));
                    }
                    if !waited {
                        st.counters.waits += 1;
                        waited = true;
                    }
                    wait_until(&shared.room, &mut st, deadline);
                }
            }
        }
    }

    fn no_room(
        &self,
        st: &State,
        id: &str,
        need: u64,
        scope: Scope,
        holders: Vec<Holder>,
        waited: bool,
    ) -> CacheError {
        let (budget, charged, pool) = match scope.and_then(|p| st.pools.get(p)) {
            Some(p) => (p.budget, p.charged, Some(p.name.to_string())),
            None => (self.shared.budget, st.charged, None),
        };
        CacheError::NoRoom {
            id: id.into(),
            needed: need,
            budget,
            charged,
            pool,
            waited,
            holders,
        }
    }

    /// Budget zero: nothing is retained and every request loads.
    fn load_uncached(
        &self,
        id: &str,
        job: Job<'_>,
        progress: &dyn LoadProgress,
    ) -> Result<Lease, CacheError> {
        let load_error = |e| CacheError::Load {
            id: id.into(),
            backend: job.backend.to_string(),
            source: Arc::new(e),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| match job.work {
            Work::Loader(loader) => loader.load(progress),
            Work::Once { load, .. } => load(),
        }));
        let mut st = self.shared.state.lock();
        let loaded = match outcome {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => {
                st.counters.load_failures += 1;
                return Err(load_error(e));
            }
            Err(panic) => {
                st.counters.load_failures += 1;
                return Err(panicked(id, &*panic));
            }
        };
        st.counters.loads += 1;
        drop(st);
        let resident = self.resident(id, &job.backend, loaded, &ModelPolicy::default(), None, 1);
        resident.settled.store(true, Ordering::Release);
        Ok(Lease::adopt(resident))
    }

    fn resident(
        &self,
        id: &str,
        backend: &Arc<str>,
        loaded: Loaded,
        policy: &ModelPolicy,
        pool: Option<usize>,
        users: usize,
    ) -> Arc<Resident> {
        Arc::new(Resident {
            id: id.into(),
            backend: Arc::clone(backend),
            value: loaded.value,
            type_name: loaded.type_name,
            type_id: loaded.type_id,
            bytes: loaded.bytes,
            pool,
            keep_alive: policy.keep_alive,
            pinned: AtomicBool::new(policy.pin),
            exclusive: (!loaded.shareable).then(|| Arc::new(Mutex::new(()))),
            users: AtomicUsize::new(users),
            idle_since: AtomicU64::new(0),
            settled: AtomicBool::new(false),
            cache: Arc::downgrade(&self.shared),
            signals: Arc::clone(&self.shared.signals),
        })
    }
}

/// Counts a request as waiting for room for as long as it lives.
struct RoomWaiter<'a>(&'a AtomicUsize);

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The hit path: O(1), no allocation. Marks `id` most recently used.
pub(crate) fn hit(st: &mut State, id: &str) -> Option<Lease> {
    let Some(Slot::Ready(r)) = st.map.to_back(id) else {
        return None;
    };
    // Rising from any count under the lock: see `Resident::users`.
    r.users.fetch_add(1, Ordering::AcqRel);
    let lease = Lease::adopt(Arc::clone(r));
    st.counters.hits += 1;
    Some(lease)
}

fn job_for<'a>(st: &State, id: &str, work: Option<Work<'a>>) -> Result<Job<'a>, CacheError> {
    let registered = st.models.get(id);
    let (policy, pool) = registered
        .map(|r| (r.policy.clone(), r.pool))
        .unwrap_or_default();
    match (work, registered) {
        (Some(work), _) => Ok(Job {
            backend: "closure".into(),
            policy,
            pool,
            work,
        }),
        (None, Some(r)) => Ok(Job {
            backend: r.loader.backend().into(),
            policy,
            pool,
            work: Work::Loader(Arc::clone(&r.loader)),
        }),
        (None, None) => Err(CacheError::UnknownModel { id: id.into() }),
    }
}

fn wait_for(mut st: MutexGuard<'_, State>, flight: &Flight) -> Result<Lease, CacheError> {
    loop {
        if let Some(result) = flight.result.get() {
            // A successful leader counted this waiter's lease before publishing the result.
            return result.clone().map(Lease::adopt);
        }
        flight.done.wait(&mut st);
    }
}

fn panicked(id: &str, payload: &(dyn std::any::Any + Send)) -> CacheError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    CacheError::LoaderPanicked {
        id: id.into(),
        message,
    }
}

/// The request running a load. If it is dropped before finishing (an unwind through the cache's
/// own code), waiters get an error and the reservation is released.
struct Leader<'a> {
    cache: &'a ModelCache,
    id: &'a str,
    flight: &'a Arc<Flight>,
    backend: Arc<str>,
    done: bool,
}

impl Leader<'_> {
    fn load_error(&self, e: BackendError) -> CacheError {
        CacheError::Load {
            id: self.id.into(),
            backend: self.backend.to_string(),
            source: Arc::new(e),
        }
    }

    fn fail(&mut self, error: CacheError, count_failure: bool) -> CacheError {
        self.done = true;
        let shared = &self.cache.shared;
        let mut st = shared.state.lock();
        let reserved = self.flight.reserved.swap(0, Ordering::Relaxed);
        st.uncharge(reserved, self.flight.pool);
        let ours =
            matches!(st.map.get(self.id), Some(Slot::Loading(f)) if Arc::ptr_eq(f, self.flight));
        let slot = if ours { st.map.remove(self.id) } else { None };
        let orphan = st.drop_orphan(self.flight);
        if count_failure {
            st.counters.load_failures += 1;
        }
        let _ = self.flight.result.set(Err(error.clone()));
        self.flight.done.notify_all();
        shared.room.notify_all();
        drop(st);
        drop((slot, orphan));
        tracing::warn!(target: "modelcache", model = %self.id, %error, "load failed");
        let mut fx = Effects::default();
        fx.events.push(CacheEvent::LoadFailed {
            id: self.id.into(),
            error: error.clone(),
        });
        fx.finish(shared);
        error
    }

    fn succeed(
        &mut self,
        loaded: Loaded,
        policy: &ModelPolicy,
        pool: Option<usize>,
        elapsed: Duration,
    ) -> Lease {
        self.done = true;
        let shared = &self.cache.shared;
        let mut st = shared.state.lock();
        let reserved = self.flight.reserved.swap(0, Ordering::Relaxed);
        let measured = loaded.bytes;
        st.uncharge(reserved, pool);
        st.charge(measured, pool);
        let users = 1 + self.flight.waiters.load(Ordering::Relaxed);
        let resident = self
            .cache
            .resident(self.id, &self.backend, loaded, policy, pool, users);
        let mut fx = Effects::default();
        let mut replaced = None;
        let orphan = st.drop_orphan(self.flight);
        if orphan.is_some() {
            // Invalidated while loading: hand it to those who asked, never insert it.
            st.held.insert(
                address(&resident),
                Held {
                    id: Arc::clone(&resident.id),
                    bytes: measured,
                    pool,
                },
            );
        } else {
            replaced = st
                .map
                .insert(Arc::clone(&resident.id), Slot::Ready(Arc::clone(&resident)));
            if measured > reserved {
                self.cache.trim_locked(&mut st, pool, &mut fx);
            }
        }
        st.counters.loads += 1;
        st.counters.load_time += elapsed;
        let _ = self.flight.result.set(Ok(Arc::clone(&resident)));
        self.flight.done.notify_all();
        if measured < reserved {
            shared.room.notify_all();
        }
        drop(st);
        drop((replaced, orphan));
        tracing::info!(target: "modelcache", model = %self.id, hint = reserved, bytes = measured, ?elapsed, "loaded");
        fx.events.push(CacheEvent::Loaded {
            id: self.id.into(),
            backend: self.backend.to_string(),
            hint: reserved,
            bytes: measured,
            elapsed,
        });
        fx.finish(shared);
        Lease::adopt(resident)
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.done {
            let error = CacheError::Abandoned {
                id: self.id.into(),
                reason: "the loading request unwound".into(),
            };
            self.fail(error, true);
        }
    }
}
