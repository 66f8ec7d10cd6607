//! A loaded model and the reference count that decides when it is idle.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Shared;
use super::signals::Signals;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex};

/// A component a resident model holds: the part it plays and the component's resident, whose
/// `users` count includes this hold. The hold is released when the holder is evicted idle
/// (under the cache lock, see `State::evict`) or, otherwise, when the holder is dropped.
pub(crate) type Hold = (Arc<str>, Arc<Resident>);

/// A loaded model as the cache holds it.
///
/// Accounting rule: while it is in the cache map its bytes are charged as resident. When it is
/// evicted idle, the evictor releases its bytes and marks it `settled`. When it is evicted while
/// handles are out (or its load was invalidated), its bytes move to the held-after-eviction set
/// and are released by `Drop` when the last handle goes.
pub(crate) struct Resident {
    pub id: Arc<str>,
    pub backend: Arc<str>,
    pub value: Box<dyn Any + Send + Sync>,
    pub type_name: &'static str,
    /// The value's type, kept beside it so the hit path checks it without a virtual call.
    pub type_id: std::any::TypeId,
    pub bytes: u64,
    pub pool: Option<usize>,
    /// For a model demoted from a device to host memory: that device (the pool index its
    /// next request promotes it to). A demoted model is never a hit; its request promotes it.
    pub home: Option<usize>,
    pub keep_alive: Option<Duration>,
    pub pinned: AtomicBool,
    /// `None` for shareable models: callers are not serialized.
    pub exclusive: Option<Arc<async_lock::Mutex<()>>>,
    /// Outstanding leases (handles). Zero means idle. It only rises from zero under the cache lock.
    pub users: AtomicUsize,
    /// When the model was last in use, in nanoseconds since `signals.epoch` (kept only for
    /// models with a keep-alive): every lease drop raises it before it lowers `users`.
    pub idle_since: AtomicU64,
    /// Its bytes are no longer charged.
    pub settled: AtomicBool,
    /// The components it uses, held while it is resident (each counted in their `users`).
    pub components: Mutex<Vec<Hold>>,
    pub cache: Weak<Shared>,
    pub signals: Arc<Signals>,
}

impl Resident {
    /// A copy of `from` moved to another tier (`loaded`, from the backend's move), in the place
    /// `from` is demoted to: host memory, with `from`'s device as its home.
    pub fn moved(from: &Resident, loaded: modelcache_backend::Loaded, users: usize) -> Arc<Self> {
        let loaded = loaded.into_parts();
        Arc::new(Resident {
            id: Arc::clone(&from.id),
            backend: Arc::clone(&from.backend),
            value: loaded.value,
            type_name: loaded.type_name,
            type_id: loaded.type_id,
            bytes: loaded.bytes,
            pool: None,
            home: from.pool,
            keep_alive: from.keep_alive,
            pinned: AtomicBool::new(false),
            exclusive: (!loaded.shareable).then(|| Arc::new(async_lock::Mutex::new(()))),
            users: AtomicUsize::new(users),
            // Idle from now, for its keep-alive.
            idle_since: AtomicU64::new(from.signals.nanos_since_epoch()),
            settled: AtomicBool::new(false),
            components: Mutex::new(Vec::new()),
            cache: Weak::clone(&from.cache),
            signals: Arc::clone(&from.signals),
        })
    }

    /// SeqCst: paired with the room-waiter and over-budget flags (see `Lease::drop`).
    pub fn is_idle(&self) -> bool {
        self.users.load(Ordering::SeqCst) == 0
    }

    pub fn is_pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    /// The resident of the component playing `role`, if this model holds one.
    pub fn component(&self, role: &str) -> Option<Arc<Resident>> {
        let holds = self.components.lock();
        holds
            .iter()
            .find(|(r, _)| &**r == role)
            .map(|(_, c)| Arc::clone(c))
    }

    pub fn idle_since(&self) -> Option<Instant> {
        let nanos = self.idle_since.load(Ordering::Relaxed);
        (self.is_idle() && self.keep_alive.is_some())
            .then(|| self.signals.epoch + Duration::from_nanos(nanos))
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        if !self.settled.load(Ordering::Acquire) {
            // Evicted (or invalidated) while held: the last handle is gone, so its memory is.
            if let Some(cache) = self.cache.upgrade() {
                cache.release_held(self);
            }
        }
        // The model's destructor is user code: never unwound through a handle drop, never run
        // on a runtime worker (see `Signals::dispose`). (`Box<()>` does not allocate.)
        let value: Box<dyn Any + Send + Sync> = std::mem::replace(&mut self.value, Box::new(()));
        self.signals.dispose(move |signals| {
            signals.guarded("a model destructor", || drop(value));
        });
        // Components still held (it was not evicted idle) are let go as leases, so that a
        // component that becomes idle is seen by waiters for room. Every drop of a resident
        // runs outside the cache lock (invariant 6), and releasing a lease runs no user code.
        let holds = std::mem::take(&mut *self.components.lock());
        for (_, component) in holds {
            drop(Lease::adopt(component));
        }
    }
}

/// A counted reference to a resident: the untyped part of a [`Handle`](crate::Handle).
pub(crate) struct Lease {
    pub resident: Arc<Resident>,
    /// Its count is still to be given back by `drop` (not yet released under the lock).
    armed: bool,
}

impl Lease {
    /// Wraps a resident whose `users` count already includes this lease.
    pub fn adopt(resident: Arc<Resident>) -> Self {
        Self {
            resident,
            armed: true,
        }
    }

    /// Gives the lease up under the cache lock: the caller releases its count there (see
    /// `State::release_count`), and the resident returned is dropped after the lock.
    pub fn into_count(mut self) -> Arc<Resident> {
        self.armed = false;
        Arc::clone(&self.resident)
    }

    /// A new lease on a resident that is in use (a hold or a lease keeps its count above zero).
    pub fn share(resident: &Arc<Resident>) -> Self {
        resident.users.fetch_add(1, Ordering::AcqRel);
        Self::adopt(Arc::clone(resident))
    }
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        // Rising from a count of at least one (ours), so no lock is needed.
        Self::share(&self.resident)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let r = &self.resident;
        // The last use is noted before the count falls, so an expiry that sees the model idle
        // also sees when it became idle (the decrement publishes this store). The clock is read
        // only for models that can expire, to keep it off the hit path.
        if r.keep_alive.is_some() {
            r.idle_since
                .fetch_max(r.signals.nanos_since_epoch(), Ordering::Relaxed);
        }
        // SeqCst pairs with admission: a request registers as a room waiter before it looks at
        // who is idle, and this drop looks for waiters after it made the model idle, so one of
        // the two always sees the other (no lost wake-up).
        if r.users.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        let unload_now = r.keep_alive == Some(Duration::ZERO);
        if unload_now
            || r.signals.room_waiters.load(Ordering::SeqCst) > 0
            || r.signals.over_budget.load(Ordering::SeqCst)
        {
            if let Some(cache) = r.cache.upgrade() {
                cache.on_idle(r, unload_now);
            }
        }
    }
}
