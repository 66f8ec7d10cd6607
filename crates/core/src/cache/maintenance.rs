//! Removing models: invalidation, clearing, keep-alive expiry, pinning, and releasing held bytes.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::admission::{Verdict, decide};
use super::events::EvictReason;
use super::resident::Resident;
use super::state::{Effects, Slot, State, address};
use super::{ModelCache, Shared};
use crate::CacheError;
use crate::sync::MutexGuard;

impl Effects {
    /// Runs after the lock is released: drops evicted models, then reports events.
    pub(crate) fn finish(self, shared: &Shared) {
        let Effects { dropped, events } = self;
        drop(dropped);
        if let Some(hook) = &shared.on_event {
            for event in &events {
                hook(event);
            }
        }
    }
}

impl Shared {
    /// The last handle to an evicted model is gone: release its bytes.
    pub(crate) fn release_held(&self, r: &Resident) {
        let mut st = self.state.lock();
        if st.held.remove(&address(r)).is_some() {
            st.uncharge(r.bytes, r.pool);
        }
        drop(st);
        self.room.notify_all();
    }

    /// A model became idle: unload it if its keep-alive is zero, and wake requests waiting for room.
    pub(crate) fn on_idle(self: &Arc<Self>, r: &Resident, unload_now: bool) {
        let mut fx = Effects::default();
        let mut st = self.state.lock();
        let current =
            matches!(st.map.get(&*r.id), Some(Slot::Ready(x)) if address(x) == address(r));
        if unload_now && current && r.is_idle() && !r.is_pinned() {
            st.evict(&r.id, EvictReason::Expired, &mut fx);
        }
        drop(st);
        self.room.notify_all();
        fx.finish(self);
    }
}

impl ModelCache {
    /// Removes `id`. A load in flight is marked stale: its result goes to those who asked but is
    /// never inserted. Outstanding handles keep working; their bytes stay charged until dropped.
    /// Returns whether anything was removed.
    pub fn invalidate(&self, id: &str) -> bool {
        let mut fx = Effects::default();
        let mut st = self.shared.state.lock();
        let removed = remove(&mut st, id, EvictReason::Invalidated, &mut fx);
        drop(st);
        drop(removed.1);
        self.shared.room.notify_all();
        fx.finish(&self.shared);
        removed.0
    }

    /// Removes every model (as [`invalidate`](Self::invalidate) does for one).
    pub fn clear(&self) {
        let mut fx = Effects::default();
        let mut st = self.shared.state.lock();
        let ids: Vec<Arc<str>> = st.map.keys().cloned().collect();
        let flights: Vec<_> = ids
            .iter()
            .filter_map(|id| remove(&mut st, id, EvictReason::Cleared, &mut fx).1)
            .collect();
        drop(st);
        drop(flights);
        self.shared.room.notify_all();
        fx.finish(&self.shared);
    }

    /// Unloads idle models whose keep-alive has run out. Misses do this too; call it (or start a
    /// [`Reaper`]) to expire models when no requests arrive.
    pub fn expire(&self) {
        let mut fx = Effects::default();
        let mut st = self.shared.state.lock();
        self.expire_locked(&mut st, &mut fx);
        drop(st);
        fx.finish(&self.shared);
    }

    pub(crate) fn expire_locked(&self, st: &mut MutexGuard<'_, State>, fx: &mut Effects) {
        let now = self.shared.signals.nanos_since_epoch();
        let due: Vec<Arc<str>> = st
            .map
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Ready(r) if r.is_idle() && !r.is_pinned() => {
                    let keep = u64::try_from(r.keep_alive?.as_nanos()).unwrap_or(u64::MAX);
                    let idle_for = now.saturating_sub(r.idle_since.load(Ordering::Relaxed));
                    (idle_for >= keep).then(|| Arc::clone(id))
                }
                _ => None,
            })
            .collect();
        for id in due {
            st.evict(&id, EvictReason::Expired, fx);
        }
    }

    /// After a load measured more than it reserved: evict idle models until charged is back
    /// within the budgets, if that is possible.
    pub(crate) fn trim_locked(&self, st: &mut State, pool: Option<usize>, fx: &mut Effects) {
        let candidates = st.candidates();
        let mut ledger = st.ledger();
        ledger.budget = self.shared.budget;
        match decide(&candidates, &ledger, 0, pool, true) {
            Verdict::Fit(victims) => {
                for i in victims {
                    st.evict(&candidates[i].id, EvictReason::Capacity, fx);
                }
            }
            _ => tracing::warn!(
                target: "modelcache",
                charged = st.charged,
                budget = self.shared.budget,
                "a load measured more than its hint and the excess cannot be evicted now"
            ),
        }
    }

    /// Pins or unpins `id`: a pinned model is never evicted (it still counts against budgets).
    ///
    /// # Errors
    /// [`CacheError::UnknownModel`] when `id` is neither registered nor resident.
    pub fn set_pinned(&self, id: &str, pin: bool) -> Result<(), CacheError> {
        let mut st = self.shared.state.lock();
        let mut known = false;
        if let Some(m) = st.models.get_mut(id) {
            m.policy.pin = pin;
            known = true;
        }
        if let Some(Slot::Ready(r)) = st.map.get(id) {
            r.pinned.store(pin, Ordering::Relaxed);
            known = true;
        }
        drop(st);
        if !known {
            return Err(CacheError::UnknownModel { id: id.into() });
        }
        if !pin {
            self.shared.room.notify_all();
        }
        Ok(())
    }

    /// Starts a background thread that calls [`expire`](Self::expire) every `period`.
    /// It stops when the returned [`Reaper`] is dropped (or the cache is).
    pub fn start_reaper(&self, period: Duration) -> Reaper {
        let (stop, stopped) = mpsc::channel::<()>();
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let thread = std::thread::Builder::new()
            .name("modelcache-reaper".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    let Some(shared) = weak.upgrade() else { return };
                    ModelCache { shared }.expire();
                }
            })
            .ok();
        Reaper {
            stop: Some(stop),
            thread,
        }
    }
}

/// Removes one key. Returns whether something was removed, and a removed flight slot to drop
/// after the lock is released.
fn remove(st: &mut State, id: &str, reason: EvictReason, fx: &mut Effects) -> (bool, Option<Slot>) {
    match st.map.get(id) {
        Some(Slot::Loading(f)) => {
            let flight = Arc::clone(f);
            let slot = st.map.remove(id);
            st.orphans.push((id.into(), flight));
            (true, slot)
        }
        Some(Slot::Ready(_)) => {
            st.evict(id, reason, fx);
            (true, None)
        }
        None => (false, None),
    }
}

/// Stops the keep-alive thread started by [`ModelCache::start_reaper`] when dropped.
pub struct Reaper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").finish_non_exhaustive()
    }
}
