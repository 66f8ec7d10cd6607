//! Getting a model: the hit path, joining a load in flight, starting one (led by
//! [`Leader`](super::flight::Leader)), and the budget-0 path that retains nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::effects::Effects;
use super::eviction::EvictionPolicy;
use super::flight::{Flight, Kind, Leader, Work, panicked};
use super::handle::{AnyHandle, Handle, Served};

use super::resident::{Hold, Lease, Resident};
use super::state::{Slot, State, Uses};
use super::{Locked, ModelCache};
use crate::error::CacheError;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize};
use modelcache_backend::BackendError;
use modelcache_backend::Loaded;
use modelcache_backend::{LoadProgress, NoProgress};

/// How to load one model, read from its registration when its flight starts.
pub(crate) struct Job<'a> {
    pub backend: Arc<str>,
    pub size: Option<u64>,
    pub keep_alive: Option<Duration>,
    pub pin: bool,
    pub pool: Option<usize>,
    /// Its components, (role, model ID): acquired before it is admitted.
    pub uses: Uses,
    pub work: Work<'a>,
}

/// The components a leader acquired for its model: leases, held until the model lands (then
/// its resident holds them) or the load fails.
pub(crate) type Components = Vec<(Arc<str>, Lease)>;

/// When a request stops waiting for room, by the cache's clock (`None`: never).
pub(crate) type Deadline = Option<std::time::Instant>;

/// What a request found under the lock.
pub(crate) enum Start<'a> {
    Hit(Lease),
    /// A flight to wait for (the request is counted among its waiters).
    Join(Arc<Flight>),
    /// This request created the flight and must lead it.
    Lead(Leader, Job<'a>),
    /// Budget zero: load without retaining.
    Uncached(Job<'a>),
}

impl ModelCache {
    /// Returns a handle to the registered model `id`, loading it if needed.
    ///
    /// # Errors
    /// Unknown ID, wrong type, a failed or panicking load, or no room (see [`CacheError`]).
    #[inline]
    pub fn get<T: Send + Sync + 'static>(&self, id: &str) -> Result<Handle<T>, CacheError> {
        // The hit path inline; the lock guard is a temporary dropped at the end of the statement.
        let lease = hit(&mut self.shared.lock_ledger_unchanged(), id);
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
        Handle::from_lease(self.acquire(id, None, progress, None)?.0)
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
        let work = (hint, Work::Once(Box::new(load)));
        Handle::from_lease(self.acquire(id, Some(work), &NoProgress, None)?.0)
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
        self.acquire(id, None, progress, None)
            .map(|(lease, served)| (AnyHandle { lease }, served))
    }

    /// A request: `deadline` is the request's, inherited by the components a leader gets for
    /// its model (`None`: a new request, whose deadline is the load timeout from now).
    fn acquire(
        &self,
        id: &str,
        mut work: Option<(u64, Work<'_>)>,
        progress: &dyn LoadProgress,
        deadline: Option<Deadline>,
    ) -> Result<(Lease, Served), CacheError> {
        let start = loop {
            let mut fx = Effects::default();
            let start = self.start(self.shared.lock(), id, &mut work, &mut fx, deadline);
            // Any flight this request created has its leader guard: user code may run now (a
            // caller's closure not needed for this request is dropped here too, not under the
            // lock).
            drop(work.take());
            fx.finish(&self.shared);
            match start? {
                Start::Join(flight) if flight.kind == Kind::Demote => {
                    // The model is moving to host memory: once it is there, ask again, which
                    // promotes it (a failed demotion unloaded it: asking again loads it).
                    drop(flight.wait(self.shared.lock_ledger_unchanged()));
                }
                start => break start,
            }
        };
        match start {
            Start::Hit(lease) => Ok((lease, Served::Hit)),
            Start::Join(flight) => flight
                .wait(self.shared.lock_ledger_unchanged())
                .map(|l| (l, Served::Joined)),
            Start::Uncached(job) => {
                let deadline = deadline.unwrap_or_else(|| self.request_deadline());
                let components = self.acquire_components(id, &job.uses, progress, deadline)?;
                self.load_uncached(
                    id,
                    &job.backend,
                    job.keep_alive,
                    job.work,
                    components,
                    progress,
                )
                .map(|l| (l, Served::Loaded))
            }
            Start::Lead(leader, job) => {
                let flight = Arc::clone(&leader.flight);
                leader.lead_blocking(job, progress);
                let served = if flight.promoted.load(Ordering::Relaxed) {
                    Served::Promoted
                } else {
                    Served::Loaded
                };
                flight.outcome().map(|l| (l, served))
            }
        }
    }

    /// The deadline of a request starting now: the load timeout from now, by the cache's clock.
    pub(crate) fn request_deadline(&self) -> Deadline {
        self.shared.signals.deadline(self.shared.load_timeout)
    }

    /// Gets the components of `id` (each a request of its own: a hit, a join or a load), in
    /// the order `uses` lists them, on the calling thread.
    pub(crate) fn acquire_components(
        &self,
        id: &str,
        uses: &[(Arc<str>, Arc<str>)],
        progress: &dyn LoadProgress,
        deadline: Deadline,
    ) -> Result<Components, CacheError> {
        let mut out = Vec::with_capacity(uses.len());
        for (role, component) in uses {
            match self.acquire(component, None, progress, Some(deadline)) {
                Ok((lease, _)) => out.push((Arc::clone(role), lease)),
                Err(e) => return Err(component_failed(id, role, component, e)),
            }
        }
        Ok(out)
    }

    /// Looks at `id` under the lock: a hit, a flight to join, or a new flight to lead (created
    /// here with its leader, before the lock is released and any user code runs).
    pub(crate) fn start<'a>(
        &self,
        mut st: Locked<'_>,
        id: &str,
        work: &mut Option<(u64, Work<'a>)>,
        fx: &mut Effects,
        deadline: Option<Deadline>,
    ) -> Result<Start<'a>, CacheError> {
        if let Some(lease) = hit(&mut st, id) {
            return Ok(Start::Hit(lease));
        }
        st.counters.misses += 1;
        if st.eviction == EvictionPolicy::Cost {
            st.costs.requested_new(id);
        }
        if let Some(Slot::Loading(f)) = st.map.get(id) {
            let flight = Arc::clone(f);
            flight.waiters.fetch_add(1, Ordering::Relaxed);
            return Ok(Start::Join(flight));
        }
        let mut job = job_for(&st, id, work.take())?;
        let mut demoted = None;
        if let Some((host, home, device)) = st.take_demoted(id) {
            debug_assert_eq!(job.pool, Some(home));
            match job.work {
                // A load whose work is the move back to its device (its registered pool); the
                // flight keeps the host copy until the move.
                Work::Loader(loader) if st.budget > 0 => {
                    job.size = job.size.or(Some(host.bytes));
                    job.work = Work::Promote { loader, device };
                    demoted = Some(host);
                }
                // A caller's own loader, or no cache: it loads; the host copy goes after the
                // lock.
                work => {
                    job.work = work;
                    fx.dropped.push(host);
                }
            }
        }
        if st.budget == 0 {
            return Ok(Start::Uncached(job));
        }
        let now = self.shared.signals.nanos_since_epoch();
        st.expire(now, fx);
        let flight = Arc::new(Flight::new(id, job.pool, job.pin));
        if demoted.is_some() {
            *flight.demoted.lock() = demoted;
        }
        st.map.insert(id.into(), Slot::Loading(Arc::clone(&flight)));
        st.note_budget(&self.shared.signals);
        // Read here, not on the hit path: only a request that leads a load waits for room.
        let deadline = deadline.unwrap_or_else(|| self.request_deadline());
        let leader = Leader::new(
            self,
            &flight,
            Arc::clone(&job.backend),
            job.keep_alive,
            deadline,
        );
        Ok(Start::Lead(leader, job))
    }

    /// Budget zero: nothing is retained and every request loads.
    pub(crate) fn load_uncached(
        &self,
        id: &str,
        backend: &Arc<str>,
        keep_alive: Option<Duration>,
        work: Work<'_>,
        components: Components,
        progress: &dyn LoadProgress,
    ) -> Result<Lease, CacheError> {
        let started = self.shared.signals.now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let loaded = work.run(progress);
            progress.finish();
            loaded
        }));
        let elapsed = self.shared.signals.now().saturating_duration_since(started);
        // The panic payload (user code) is dropped here, before the lock is taken.
        let result = match outcome {
            Ok(Ok(loaded)) => Ok(loaded),
            Ok(Err(e)) => Err(CacheError::Load {
                id: id.into(),
                backend: backend.to_string(),
                source: Arc::new(e),
            }),
            Err(panic) => Err(panicked(id, &*panic)),
        };
        let mut st = self.shared.lock();
        match &result {
            Ok(loaded) => st.counters.loaded(elapsed, loaded.bytes()),
            Err(_) => st.counters.load_failures += 1,
        }
        drop(st);
        let resident = self.resident(id, backend, result?, keep_alive, None, 1);
        resident.settled.store(true, Ordering::Release);
        hold_components(&resident, &components);
        Ok(Lease::adopt(resident))
    }

    pub(crate) fn resident(
        &self,
        id: &str,
        backend: &Arc<str>,
        loaded: Loaded,
        keep_alive: Option<Duration>,
        pool: Option<usize>,
        users: usize,
    ) -> Arc<Resident> {
        let signals = &self.shared.signals;
        let now = if users == 0 && keep_alive.is_some() {
            signals.nanos_since_epoch()
        } else {
            0
        };
        let loaded = loaded.into_parts();
        Arc::new(Resident {
            id: id.into(),
            backend: Arc::clone(backend),
            value: loaded.value,
            type_name: loaded.type_name,
            type_id: loaded.type_id,
            bytes: loaded.bytes,
            pool,
            home: None,
            keep_alive,
            pinned: AtomicBool::new(false),
            exclusive: (!loaded.shareable).then(|| Arc::new(async_lock::Mutex::new(()))),
            users: AtomicUsize::new(users),
            idle_since: AtomicU64::new(now),
            settled: AtomicBool::new(false),
            components: crate::sync::Mutex::new(Vec::new()),
            cache: Arc::downgrade(&self.shared),
            signals: Arc::clone(signals),
        })
    }
}

/// Makes `resident` hold the components its leader acquired (each count rises from at least
/// one, the leader's lease, so no lock is needed); the leases themselves are dropped by the caller.
pub(crate) fn hold_components(resident: &Resident, components: &Components) {
    let holds: Vec<Hold> = components
        .iter()
        .map(|(role, lease)| {
            lease.resident.users.fetch_add(1, Ordering::AcqRel);
            (Arc::clone(role), Arc::clone(&lease.resident))
        })
        .collect();
    *resident.components.lock() = holds;
}

/// The error of a model whose component failed.
pub(crate) fn component_failed(id: &str, role: &str, component: &str, e: CacheError) -> CacheError {
    CacheError::Component {
        id: id.into(),
        role: role.into(),
        component: component.into(),
        source: Arc::new(e),
    }
}

/// The hit path: O(1), no allocation. Marks `id` most recently used.
pub(crate) fn hit(st: &mut State, id: &str) -> Option<Lease> {
    let Some(Slot::Ready(r)) = st.map.to_back(id) else {
        return None;
    };
    if r.home.is_some() {
        return None; // demoted: its request promotes it
    }
    // Rising from any count under the lock: see `Resident::users`.
    r.users.fetch_add(1, Ordering::AcqRel);
    if st.eviction == EvictionPolicy::Cost {
        // No allocation: a model that is resident was requested before.
        st.costs.requested(id);
    }
    let lease = Lease::adopt(Arc::clone(r));
    st.counters.hits += 1;
    Some(lease)
}

fn job_for<'a>(st: &State, id: &str, work: Option<(u64, Work<'a>)>) -> Result<Job<'a>, CacheError> {
    let registered = st.models.get(id);
    let policy = registered.map(|r| &r.policy);
    let pool = registered.and_then(|r| r.pool);
    let pin = policy.is_some_and(|p| p.pin);
    let keep_alive = policy.and_then(|p| p.keep_alive);
    let size = policy.and_then(|p| p.size);
    match (work, registered) {
        (Some((hint, work)), _) => Ok(Job {
            backend: "closure".into(),
            size: Some(size.unwrap_or(hint)),
            keep_alive,
            pin,
            pool,
            uses: Vec::new(),
            work,
        }),
        (None, Some(r)) => Ok(Job {
            backend: Arc::clone(&r.backend),
            size,
            keep_alive,
            pin,
            pool,
            uses: r.uses.clone(),
            work: Work::Loader(Arc::clone(&r.loader)),
        }),
        (None, None) => Err(CacheError::UnknownModel { id: id.into() }),
    }
}
