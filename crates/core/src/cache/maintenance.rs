//! Removing models: invalidation, clearing, keep-alive expiry, pinning, and releasing held bytes.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::effects::Effects;
use super::events::EvictReason;
use super::resident::Resident;
use super::state::{Slot, State, address};
use super::{ModelCache, Shared};
use crate::CacheError;

impl Shared {
    /// The last handle to an evicted model is gone: release its bytes.
    pub(crate) fn release_held(&self, r: &Resident) {
        let mut st = self.lock();
        if st.unhold(r) {
            st.uncharge(r.bytes, r.pool);
            st.note_budget(&self.signals);
        }
        drop(st);
        self.room.notify_all();
        self.deliver_events();
    }

    /// A model became idle: unload it if its keep-alive is zero, trim if a budget is exceeded,
    /// and wake requests waiting for room.
    pub(crate) fn on_idle(self: &Arc<Self>, r: &Resident, unload_now: bool) {
        let mut fx = Effects::default();
        let mut st = self.lock();
        let current =
            matches!(st.map.get(&*r.id), Some(Slot::Ready(x)) if address(x) == address(r));
        if unload_now && current && r.is_idle() && !r.is_pinned() {
            st.evict(&r.id, EvictReason::Expired, &mut fx);
        }
        st.trim(&self.signals, &mut fx);
        st.note_budget(&self.signals);
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
        let mut st = self.shared.lock();
        let removed = remove(&mut st, id, EvictReason::Invalidated, &mut fx);
        st.note_budget(&self.shared.signals);
        drop(st);
        self.shared.room.notify_all();
        fx.finish(&self.shared);
        removed
    }

    /// Removes every model (as [`invalidate`](Self::invalidate) does for one).
    pub fn clear(&self) {
        let mut fx = Effects::default();
        let mut st = self.shared.lock();
        let ids: Vec<Arc<str>> = st.map.keys().cloned().collect();
        for id in ids {
            remove(&mut st, &id, EvictReason::Cleared, &mut fx);
        }
        st.note_budget(&self.shared.signals);
        drop(st);
        self.shared.room.notify_all();
        fx.finish(&self.shared);
    }

    /// Unloads idle models whose keep-alive has run out, and wakes requests waiting for room so
    /// that they look at the clock. Misses do this too; call it (or start a [`Reaper`]) to
    /// expire models when no requests arrive, and after moving a manual clock.
    pub fn expire(&self) {
        let mut fx = Effects::default();
        let now = self.shared.signals.nanos_since_epoch();
        let mut st = self.shared.lock();
        st.expire(now, &mut fx);
        st.note_budget(&self.shared.signals);
        drop(st);
        self.shared.room.notify_all();
        fx.finish(&self.shared);
    }

    /// Pins or unpins `id`: a pinned model is never evicted (it still counts against budgets).
    /// A model loading now lands with the new setting.
    ///
    /// # Errors
    /// [`CacheError::UnknownModel`] when `id` is neither registered nor resident nor loading.
    pub fn set_pinned(&self, id: &str, pin: bool) -> Result<(), CacheError> {
        let mut fx = Effects::default();
        let mut st = self.shared.lock();
        let mut known = false;
        if let Some(m) = st.models.get_mut(id) {
            m.policy.pin = pin;
            known = true;
        }
        match st.map.get(id) {
            Some(Slot::Ready(r)) => {
                r.pinned.store(pin, Ordering::Relaxed);
                known = true;
            }
            Some(Slot::Loading(f)) => {
                f.pinned.store(pin, Ordering::Relaxed);
                known = true;
            }
            None => {}
        }
        if !pin {
            st.trim(&self.shared.signals, &mut fx);
            st.note_budget(&self.shared.signals);
        }
        drop(st);
        if !pin {
            self.shared.room.notify_all();
        }
        fx.finish(&self.shared);
        if !known {
            return Err(CacheError::UnknownModel { id: id.into() });
        }
        Ok(())
    }

    /// Starts a background thread that calls [`expire`](Self::expire) every `period` (at
    /// least every millisecond: a shorter period is taken as one millisecond).
    /// It stops when the returned [`Reaper`] is dropped (or the cache is).
    pub fn start_reaper(&self, period: Duration) -> Reaper {
        let period = period.max(Duration::from_millis(1));
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

/// Removes one key, and every model that uses it as a component (at any depth): they were
/// built with what is being removed. Returns whether something was removed.
pub(crate) fn remove(st: &mut State, id: &str, reason: EvictReason, fx: &mut Effects) -> bool {
    let mut removed = false;
    for user in st.users_of(id) {
        removed |= remove_one(st, &user, reason, fx);
    }
    remove_one(st, id, reason, fx) || removed
}

fn remove_one(st: &mut State, id: &str, reason: EvictReason, fx: &mut Effects) -> bool {
    match st.map.get(id) {
        Some(Slot::Loading(f)) => {
            let flight = Arc::clone(f);
            fx.drop_slot(st.map.remove(id));
            st.orphans.push((id.into(), flight));
            true
        }
        Some(Slot::Ready(_)) => {
            st.evict(id, reason, fx);
            true
        }
        None => false,
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
