//! The async API (feature `tokio`): no runtime worker ever blocks, no request holds a thread
//! while it waits, and a dropped future withdraws at once.
//!
//! * Hits are served inline (the cache lock is only held for O(1) map work).
//! * A request that misses joins the model's flight and waits on a notification, not a thread.
//! * A flight started by an async request is led by a task of its own (spawned on the
//!   runtime): the open (headers) and the load run on the blocking pool, the wait for room is an
//!   async wait. The flight outlives the request that started it, so others may join it.
//! * Dropping a request's future withdraws it: it stops being counted among the flight's
//!   waiters; if it was the last before the load started, the flight is cancelled (it leaves
//!   the queue for room and the map, having charged nothing). Once the loader runs, the load
//!   completes; a model loaded for nobody becomes resident and idle.
//!
//! Waits for room time out by the cache's clock; they use tokio's timer, so the runtime needs
//! timers enabled (tokio's default runtimes have them).

use std::future::Future;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use super::ModelCache;
use super::acquire::{Components, Deadline, Start, component_failed, hit};
use super::admission::{Attempt, RoomWaiter, must_give_way, own};
use super::effects::Effects;
use super::flight::{Flight, Kind, Leader, Work, panicked};
use super::handle::Handle;
use super::resident::Lease;
use super::state::Uses;
use crate::error::CacheError;
use modelcache_backend::ModelLoader;
use modelcache_backend::NoProgress;

impl ModelCache {
    /// [`get`](ModelCache::get) for async code: never blocks a runtime worker, and never holds a
    /// thread while it waits for a load or for room. Dropping the future withdraws the request
    /// (see the module documentation); a load others wait for goes on.
    ///
    /// # Errors
    /// As [`get`](ModelCache::get), plus [`CacheError::Runtime`] when called outside a tokio
    /// runtime or when the runtime cannot run the load.
    pub async fn get_async<T: Send + Sync + 'static>(
        &self,
        id: &str,
    ) -> Result<Handle<T>, CacheError> {
        let lease = hit(&mut self.shared.lock_ledger_unchanged(), id);
        if let Some(lease) = lease {
            return Handle::from_lease(lease);
        }
        Handle::from_lease(self.lease_async(id, None).await?)
    }

    /// The untyped part of [`get_async`](Self::get_async), past the inline hit; `deadline`
    /// as for [`acquire`](ModelCache::acquire).
    async fn lease_async(&self, id: &str, deadline: Option<Deadline>) -> Result<Lease, CacheError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| CacheError::Runtime {
            id: id.into(),
            message: e.to_string(),
        })?;
        let begin = loop {
            match self.begin(id, &runtime, deadline)? {
                // As in `acquire`: once it has moved to host memory, ask again (promoting it).
                Begin::Join(join) if join.flight.kind == Kind::Demote => drop(join.wait().await),
                begin => break begin,
            }
        };
        let lease = match begin {
            Begin::Hit(lease) => lease,
            Begin::Join(join) => join.wait().await?,
            Begin::Uncached(backend, keep_alive, loader, uses) => {
                let cache = self.clone();
                let owned = id.to_owned();
                let deadline = deadline.unwrap_or_else(|| self.request_deadline());
                runtime
                    .spawn_blocking(move || {
                        let work = Work::Loader(loader);
                        let components =
                            cache.acquire_components(&owned, &uses, &NoProgress, deadline)?;
                        cache.load_uncached(
                            &owned,
                            &backend,
                            keep_alive,
                            work,
                            components,
                            &NoProgress,
                        )
                    })
                    .await
                    .map_err(|e| runtime_error(id, &e))??
            }
        };
        Ok(lease)
    }

    /// The components of a model an async leader loads, each an async request of its own.
    async fn components_async(
        &self,
        id: &str,
        uses: &Uses,
        deadline: Deadline,
    ) -> Result<Components, CacheError> {
        let mut out = Vec::with_capacity(uses.len());
        for (role, component) in uses {
            // Boxed: a component's own components are loaded by a task of their own, but the
            // future type would otherwise contain itself.
            let lease: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                Box::pin(self.lease_async(component, Some(deadline)));
            match lease.await {
                Ok(lease) => out.push((Arc::clone(role), lease)),
                Err(e) => return Err(component_failed(id, role, component, e)),
            }
        }
        Ok(out)
    }

    /// The synchronous part of a request: a hit, or the flight to wait for (a new one is led by
    /// a task spawned here).
    fn begin(
        &self,
        id: &str,
        runtime: &tokio::runtime::Handle,
        deadline: Option<Deadline>,
    ) -> Result<Begin, CacheError> {
        let mut fx = Effects::default();
        let start = self.start(self.shared.lock(), id, &mut None, &mut fx, deadline);
        let begin = match start {
            Ok(Start::Hit(lease)) => Ok(Begin::Hit(lease)),
            Ok(Start::Join(flight)) => Ok(Begin::Join(Join::new(self, flight))),
            Ok(Start::Lead(leader, job)) => {
                let join = Join::new(self, Arc::clone(&leader.flight));
                match job.work {
                    Work::Loader(loader) => {
                        runtime.spawn(drive(leader, loader, None, job.size, job.uses));
                    }
                    Work::Promote { loader, device } => {
                        runtime.spawn(drive(leader, loader, Some(device), job.size, job.uses));
                    }
                    Work::Opened(_) | Work::Once(_) => leader.fail(not_registered(id), false),
                }
                Ok(Begin::Join(join))
            }
            Ok(Start::Uncached(job)) => match job.work {
                Work::Loader(loader) | Work::Promote { loader, .. } => Ok(Begin::Uncached(
                    job.backend,
                    job.keep_alive,
                    loader,
                    job.uses,
                )),
                Work::Opened(_) | Work::Once(_) => Err(not_registered(id)),
            },
            Err(e) => Err(e),
        };
        // Any flight created above has its leader: user code may run now.
        fx.finish(&self.shared);
        begin
    }
}

/// What the synchronous part of an async request found.
enum Begin {
    Hit(Lease),
    Join(Join),
    Uncached(Arc<str>, Option<Duration>, Arc<dyn ModelLoader>, Uses),
}

fn runtime_error(id: &str, e: &tokio::task::JoinError) -> CacheError {
    CacheError::Runtime {
        id: id.into(),
        message: e.to_string(),
    }
}

fn not_registered(id: &str) -> CacheError {
    CacheError::UnknownModel { id: id.into() }
}

/// Leads a flight started by an async request: open (headers) and load on the blocking pool,
/// the wait for room here. With `promote` (the device of a demoted model, whose host copy
/// the flight keeps) the work is the move back, loading with `loader` if the move fails.
async fn drive(
    mut leader: Leader,
    loader: Arc<dyn ModelLoader>,
    promote: Option<Arc<str>>,
    size: Option<u64>,
    uses: Uses,
) {
    if leader.withdrawn() {
        return;
    }
    // Components first, before this model reserves anything (as `Leader::lead_blocking`).
    // Every request for this model withdrawing drops the requests for its components too (a
    // component whose load started goes on, and lands idle).
    let Some(components) = components_unless_withdrawn(&leader, &uses).await else {
        leader.withdrawn();
        return;
    };
    let mut components = match components {
        Ok(components) => components,
        // The component's own failure was counted; this model's loader never ran.
        Err(e) => return leader.fail(e, false),
    };
    if leader.withdrawn() {
        return;
    }
    let (need, opened) = match size {
        Some(size) => (size, None),
        None => {
            let l = Arc::clone(&loader);
            let open =
                tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(|| l.open())));
            match open.await {
                Ok(Ok(Ok(opened))) => (opened.inspection().bytes, Some(opened)),
                Ok(Ok(Err(e))) => {
                    let error = leader.load_error(e);
                    return leader.fail(error, true);
                }
                Ok(Err(panic)) => {
                    let error = panicked(&leader.flight.id, &*panic);
                    return leader.fail(error, true);
                }
                Err(e) => {
                    let error = runtime_error(&leader.flight.id, &e);
                    return leader.fail(error, true);
                }
            }
        }
    };
    loop {
        match admit(&leader, need, components).await {
            Admission::Admitted(held) => {
                components = held;
                break;
            }
            Admission::Withdrawn => {
                leader.withdrawn();
                return;
            }
            Admission::Failed(e) => return leader.fail(e, false),
            // As in `Leader::lead_blocking`: get the components again and retry.
            Admission::GaveWay => match components_unless_withdrawn(&leader, &uses).await {
                None => {
                    leader.withdrawn();
                    return;
                }
                Some(Ok(again)) => components = again,
                Some(Err(e)) => return leader.fail(e, false),
            },
        }
    }
    // From here the load completes the flight itself, even if this task is dropped; if the
    // runtime cannot run it, dropping the leader fails the flight.
    drop(tokio::task::spawn_blocking(move || {
        let work = match (opened, promote) {
            (Some(opened), _) => Work::Opened(opened),
            (None, Some(device)) => Work::Promote { loader, device },
            (None, None) => Work::Loader(loader),
        };
        leader.load(work, components, &NoProgress);
    }));
}

enum Admission {
    Admitted(Components),
    Withdrawn,
    Failed(CacheError),
    /// See [`Refused::GaveWay`](super::admission::Refused::GaveWay).
    GaveWay,
}

/// The leader's components, or `None` when every request for its model withdrew first (the
/// requests for the components are then dropped, which withdraws them).
async fn components_unless_withdrawn(
    leader: &Leader,
    uses: &Uses,
) -> Option<Result<Components, CacheError>> {
    let (cache, flight) = (&leader.cache, &leader.flight);
    let wanted = cache.components_async(&flight.id, uses, leader.deadline);
    let mut wanted = std::pin::pin!(wanted);
    let mut gone = std::pin::pin!(published(cache, flight));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(got) = wanted.as_mut().poll(cx) {
            return Poll::Ready(Some(got));
        }
        gone.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Reserves `need` bytes for the leader's flight, waiting (asynchronously) for room.
async fn admit(leader: &Leader, need: u64, components: Components) -> Admission {
    let shared = &leader.cache.shared;
    let flight = &leader.flight;
    let deadline = leader.deadline;
    let held = own(&components);
    let mut components = Some(components);
    let _waiting = RoomWaiter::register(&shared.signals.room_waiters);
    loop {
        let notified = shared.room.tasks.notified();
        tokio::pin!(notified);
        // Effects to finish after the lock: of giving way, or the moves making room.
        let (timeout, fx, gave_way): (Option<Duration>, Option<Effects>, bool) = {
            let mut st = shared.lock();
            flight.holds.store(!held.is_empty(), Ordering::Relaxed);
            if flight.result.get().is_some() {
                flight.holds.store(false, Ordering::Relaxed);
                drop(st);
                drop(components);
                return Admission::Withdrawn;
            }
            notified.as_mut().enable();
            match shared.try_admit(&mut st, flight, need, deadline, &held) {
                Attempt::Admitted(fx) => {
                    flight.holds.store(false, Ordering::Relaxed);
                    drop(st);
                    fx.finish(shared);
                    return Admission::Admitted(components.unwrap_or_default());
                }
                Attempt::Failed(e) => {
                    flight.holds.store(false, Ordering::Relaxed);
                    drop(st);
                    drop(components);
                    return Admission::Failed(e);
                }
                Attempt::Wait if must_give_way(&st, flight) => {
                    let given = components.take().unwrap_or_default();
                    let fx = shared.give_way(&mut st, flight, given);
                    (shared.signals.remaining(deadline), Some(fx), true)
                }
                Attempt::Wait => (shared.signals.remaining(deadline), None, false),
                // The moves run on the blocking pool; their end notifies `room`.
                Attempt::Moving(fx) => (shared.signals.remaining(deadline), Some(fx), false),
                Attempt::AwaitMoves => (None, None, false),
            }
        };
        if let Some(fx) = fx {
            fx.finish(shared);
        }
        // `notified` was enabled under the lock: a change of room after it cannot be missed.
        match timeout {
            Some(timeout) => {
                let _ = tokio::time::timeout(timeout, notified).await;
            }
            None => notified.await,
        }
        if gave_way {
            return Admission::GaveWay;
        }
    }
}

/// Resolves once `flight` has a result (for a flight not started yet: it was cancelled, every
/// request for it withdrawn).
async fn published(cache: &ModelCache, flight: &Flight) {
    loop {
        let notified = flight.done.tasks.notified();
        tokio::pin!(notified);
        {
            let _st = cache.shared.lock_ledger_unchanged();
            if flight.result.get().is_some() {
                return;
            }
            notified.as_mut().enable();
        }
        notified.await;
    }
}

/// An async request waiting for a flight. Dropped before it has its result, it withdraws.
struct Join {
    cache: ModelCache,
    flight: Arc<Flight>,
    armed: bool,
}

impl Join {
    fn new(cache: &ModelCache, flight: Arc<Flight>) -> Self {
        Self {
            cache: cache.clone(),
            flight,
            armed: true,
        }
    }

    async fn wait(mut self) -> Result<Lease, CacheError> {
        published(&self.cache, &self.flight).await;
        // No await since the result was seen: a drop of this future cannot come in between.
        self.armed = false;
        self.flight.outcome()
    }
}

impl Drop for Join {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let shared = &self.cache.shared;
        let mut fx = Effects::default();
        let mut st = shared.lock();
        st.counters.withdrawn += 1;
        let lease = match self.flight.result.get() {
            // Published meanwhile: the lease counted for this request is released.
            Some(Ok(r)) => Some(Lease::adopt(Arc::clone(r))),
            Some(Err(_)) => None,
            None => {
                let left = self.flight.waiters.fetch_sub(1, Ordering::Relaxed) - 1;
                if left == 0 && !self.flight.started.load(Ordering::Relaxed) {
                    self.flight.cancel(shared, &mut st, &mut fx);
                }
                None
            }
        };
        drop(st);
        drop(lease);
        fx.finish(shared);
    }
}

impl<T: Send + Sync + 'static> Handle<T> {
    /// [`lock`](Handle::lock) for async code: waiting for another caller of the same model is
    /// an async wait, never a blocked thread.
    pub async fn lock_async(&self) -> OwnedModelGuard<T> {
        let guard = match &self.lease.resident.exclusive {
            Some(mutex) => Some(mutex.lock_arc().await),
            None => None,
        };
        OwnedModelGuard {
            handle: self.clone(),
            _guard: guard,
        }
    }
}

/// Access to a model from [`Handle::lock_async`]; it owns a handle, so it can cross `.await`s
/// and move between tasks.
pub struct OwnedModelGuard<T> {
    handle: Handle<T>,
    _guard: Option<async_lock::MutexGuardArc<()>>,
}

impl<T: Send + Sync + 'static> Deref for OwnedModelGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}
