//! Tiers: a model evicted from its device for room can wait in host memory instead of being
//! unloaded (demotion), and its next request moves it back (promotion).
//!
//! Accounting rule: a copy is charged where it is, for as long as it exists. Demoting a model
//! reserves its bytes in host memory (only when the global budget has room for them now, with
//! nobody waiting for it; otherwise it is unloaded as before), while its device copy stays
//! charged to the device, as held, until the host copy exists and the device copy is dropped.
//! So the request that needed the room waits for the move (`Attempt::Moving`), and no budget
//! counts memory that is not free yet. Promoting is a load whose work is the move: it reserves
//! on the device as any load does, and the host copy stays charged, as held, until the move
//! is done; a failed move loads the model from its checkpoint instead. A promotion that ends
//! before its move (no room on the device in time, every request withdrawn) puts the host
//! copy back, still demoted (`Flight::leave_map`).
//!
//! A demoted model is an ordinary idle host entry: evicting it for room in host memory drops
//! it, and a request never gets it as a hit (`acquire::hit`), it promotes it. The move itself
//! is the backend's ([`ModelLoader::relocate`]), user code, run outside the lock like a load.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::effects::Effects;
use super::events::CacheEvent;
use super::flight::{Flight, Kind, panic_message};
use super::resident::Resident;
use super::state::{Slot, State};
use crate::error::CacheError;
use modelcache_backend::{BackendError, LoadProgress, Loaded, ModelLoader, Move};

/// A demotion in progress: the device copy (held, charged to its device until dropped) and
/// the flight whose reservation in host memory its copy lands in.
pub(crate) struct Demotion {
    flight: Arc<Flight>,
    /// `None` once completed.
    from: Option<Arc<Resident>>,
    loader: Arc<dyn ModelLoader>,
    device: Arc<str>,
}

impl State {
    /// Whether `id`, an idle victim of admission, should be demoted rather than unloaded: it
    /// is on a device, its policy asks for it, and host memory has room for it now with no
    /// request waiting for host memory.
    pub fn demotable(&self, id: &str) -> bool {
        let Some(Slot::Ready(r)) = self.map.get(id) else {
            return false;
        };
        let Some(m) = self.models.get(id) else {
            return false;
        };
        let fits = self.charged + u128::from(r.bytes) <= u128::from(self.budget);
        m.policy.demote
            && self.is_device(r.pool)
            && r.is_idle()
            && r.components.lock().is_empty()
            && fits
            && !self.queue.iter().any(|q| q.global)
    }

    /// Demotes the idle resident `id` (see [`demotable`](Self::demotable)): its bytes in host
    /// memory are reserved by a flight in its place, its device copy moves to the held set,
    /// and the move itself is left in `fx` for after the lock.
    pub fn demote(&mut self, id: &str, fx: &mut Effects) {
        let Some(Slot::Ready(r)) = self.map.remove(id) else {
            return;
        };
        let Some(m) = self.models.get(id) else {
            self.map.insert(Arc::clone(&r.id), Slot::Ready(r));
            return;
        };
        let loader = Arc::clone(&m.loader);
        let device = self.device_name(r.pool);
        self.hold_as(&r, true);
        let flight = Arc::new(Flight::of_kind(id, None, false, Kind::Demote));
        flight.waiters.store(0, Ordering::Relaxed);
        flight.reserved.store(r.bytes, Ordering::Relaxed);
        flight.started.store(true, Ordering::Relaxed);
        self.charge(r.bytes, None);
        self.map
            .insert(Arc::clone(&r.id), Slot::Loading(Arc::clone(&flight)));
        fx.demotions.push(Demotion {
            flight,
            from: Some(r),
            loader,
            device,
        });
    }
}

impl Demotion {
    /// The address of the device copy it moves (the held entry marked `leaving`).
    pub fn source(&self) -> Option<usize> {
        self.from.as_deref().map(super::state::address)
    }

    /// Copies the model into host memory, then [`complete`](Self::complete)s. Outside the lock.
    pub fn run(mut self, shared: &Shared) {
        let Some(from) = self.from.as_ref() else {
            return;
        };
        let signals = &shared.signals;
        let started = signals.now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.loader.relocate(&*from.value, from.bytes, Move::Demote)
        }));
        let elapsed = signals.now().saturating_duration_since(started);
        let outcome = match outcome {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        };
        self.complete(shared, outcome, elapsed);
    }

    /// Publishes the host copy (or, if the copy failed or the model was invalidated
    /// meanwhile, unloads it), then drops the device copy, whose bytes its drop releases.
    fn complete(
        &mut self,
        shared: &Shared,
        outcome: Result<Loaded, String>,
        elapsed: std::time::Duration,
    ) {
        let Some(from) = self.from.take() else {
            return;
        };
        let flight = &self.flight;
        let mut fx = Effects::default();
        let mut unused: Option<Loaded> = None;
        let mut st = shared.lock();
        let reserved = flight.reserved.swap(0, Ordering::Relaxed);
        st.uncharge(reserved, None);
        let current = flight.is(st.map.get(&*flight.id));
        let result = match outcome {
            Ok(loaded) if current => {
                let measured = loaded.bytes();
                let users = flight.waiters.load(Ordering::Relaxed);
                let resident = Resident::moved(&from, loaded, users);
                flight.pin(&resident);
                st.charge(measured, None);
                let replaced = st
                    .map
                    .insert(Arc::clone(&flight.id), Slot::Ready(Arc::clone(&resident)));
                fx.drop_slot(replaced);
                st.counters.demotions += 1;
                st.emit(CacheEvent::Demoted {
                    id: flight.id.to_string(),
                    device: self.device.to_string(),
                    bytes: measured,
                    elapsed,
                });
                Ok(resident)
            }
            outcome => {
                if current {
                    fx.drop_slot(st.map.remove(&*flight.id));
                }
                fx.flights.extend(st.drop_orphan(flight));
                let reason = match outcome {
                    Ok(loaded) => {
                        unused = Some(loaded);
                        "invalidated while it was being demoted".to_owned()
                    }
                    Err(error) => {
                        st.counters.demotion_failures += 1;
                        st.emit(CacheEvent::DemotionFailed {
                            id: flight.id.to_string(),
                            device: self.device.to_string(),
                            error: error.clone(),
                        });
                        format!("its demotion failed ({error}), so it was unloaded")
                    }
                };
                Err(CacheError::Abandoned {
                    id: flight.id.to_string(),
                    reason,
                })
            }
        };
        let _ = flight.result.set(result);
        st.trim(&shared.signals, &mut fx);
        st.note_budget(&shared.signals);
        flight.done.notify_all();
        drop(st);
        shared.room.notify_all();
        let signals = &shared.signals;
        signals.guarded("a model destructor", || drop(from));
        if let Some(loaded) = unused {
            signals.guarded("a model destructor", || drop(loaded));
        }
        fx.finish(shared);
    }

    /// Runs it after the lock: on the blocking pool inside a tokio runtime (the copy may take
    /// seconds), else on this thread. A blocking request runs its own moves on its thread
    /// (`Effects::finish_here`).
    pub fn start(self, shared: &Shared) {
        #[cfg(feature = "tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // Refused by a runtime that is shutting down: the demotion is dropped, which
            // unloads the model (see `Drop`).
            drop(runtime.spawn_blocking(move || {
                if let Some(shared) = self.from.as_ref().and_then(|f| f.cache.upgrade()) {
                    self.run(&shared);
                }
            }));
            return;
        }
        self.run(shared);
    }
}

impl Drop for Demotion {
    /// A demotion that never ran (its task was refused) unloads the model, so that nobody
    /// waits for it forever.
    fn drop(&mut self) {
        if let Some(shared) = self.from.as_ref().and_then(|f| f.cache.upgrade()) {
            let never = Err("the move never ran (the runtime refused its task)".to_owned());
            self.complete(&shared, never, std::time::Duration::ZERO);
        }
    }
}

/// Moves a demoted model back onto `device` (the work of a promotion's flight), with progress
/// in bytes; the host copy is dropped once the device copy exists.
///
/// # Errors
/// When the backend's move fails or panics; the caller then loads the model instead.
pub(crate) fn promote(
    host: &Arc<Resident>,
    loader: &dyn ModelLoader,
    device: &str,
    progress: &dyn LoadProgress,
) -> Result<Loaded, BackendError> {
    progress.start(host.bytes);
    let moved = catch_unwind(AssertUnwindSafe(|| {
        loader.relocate(&*host.value, host.bytes, Move::Promote(device))
    }));
    match moved {
        Ok(Ok(loaded)) => {
            progress.advance(host.bytes);
            Ok(loaded)
        }
        Ok(Err(e)) => Err(e),
        Err(panic) => Err(BackendError::other(format!(
            "promote panicked: {}",
            panic_message(&*panic)
        ))),
    }
}

impl State {
    /// For a request of `id` that is demoted: takes its host copy out of the map (its bytes
    /// held until the copy is dropped) and returns it with its device, for a promotion flight.
    pub fn take_demoted(&mut self, id: &str) -> Option<(Arc<Resident>, usize, Arc<str>)> {
        let home = match self.map.get(id) {
            Some(Slot::Ready(r)) => r.home?,
            _ => return None,
        };
        let Some(Slot::Ready(r)) = self.map.remove(id) else {
            return None;
        };
        self.hold(&r);
        Some((r, home, self.device_name(Some(home))))
    }
}
