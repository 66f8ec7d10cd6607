//! Work left for after the lock is released: dropping evicted models (their destructors are
//! user code and may be slow) and delivering events to the hook, in order.
//!
//! User code never unwinds through the cache: a model destructor or an event hook that panics
//! is caught here, logged and counted (`CacheStats::callback_panics`), and the remaining work
//! still runs. Every guard that keeps the cache consistent (a flight's leader, a handle's lease)
//! exists before any of this runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::flight::Flight;
use super::resident::Resident;
use super::state::Slot;

#[derive(Default)]
#[must_use]
pub(crate) struct Effects {
    pub dropped: Vec<Arc<Resident>>,
    pub flights: Vec<Arc<Flight>>,
}

impl Effects {
    /// Keeps a removed slot to drop after the lock is released.
    pub fn drop_slot(&mut self, slot: Option<Slot>) {
        match slot {
            Some(Slot::Ready(r)) => self.dropped.push(r),
            Some(Slot::Loading(f)) => self.flights.push(f),
            None => {}
        }
    }

    /// Runs after the lock is released: drops evicted models, then delivers events.
    pub(crate) fn finish(self, shared: &Shared) {
        let Effects { dropped, flights } = self;
        for value in dropped {
            shared.guarded("a model destructor", || drop(value));
        }
        for flight in flights {
            shared.guarded("a model destructor", || drop(flight));
        }
        shared.deliver_events();
    }
}

impl Shared {
    /// Runs user code, catching a panic (logged and counted).
    pub(crate) fn guarded(&self, what: &str, f: impl FnOnce()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            self.signals.callback_panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                target: "modelcache",
                panic = %super::flight::panic_message(&*panic),
                "{what} panicked; the cache caught it and carries on"
            );
        }
    }

    /// Delivers pending events to the hook, one thread at a time and in the order they were
    /// recorded. A thread that finds another delivering leaves its events to it, so the hook is
    /// never called concurrently, never out of order, and a hook that calls back into the
    /// cache neither deadlocks nor recurses.
    pub(crate) fn deliver_events(&self) {
        let Some(hook) = &self.on_event else { return };
        let mut st = self.lock_ledger_unchanged();
        if st.delivering || st.events.is_empty() {
            return;
        }
        st.delivering = true;
        loop {
            let batch = std::mem::take(&mut st.events);
            drop(st);
            for event in &batch {
                self.guarded("an event hook", || hook(event));
            }
            st = self.lock_ledger_unchanged();
            if st.events.is_empty() {
                st.delivering = false;
                return;
            }
        }
    }
}
