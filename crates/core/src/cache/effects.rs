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
use super::signals::Signals;
use super::state::Slot;

#[derive(Default)]
#[must_use]
pub(crate) struct Effects {
    pub dropped: Vec<Arc<Resident>>,
    pub flights: Vec<Arc<Flight>>,
    /// A model became idle under the lock (a component let go by its evicted holder): requests
    /// waiting for room are woken once the lock is released.
    pub room: bool,
    /// Models to move from a device to host memory (`tiers.rs`), first thing after the lock.
    pub demotions: Vec<super::tiers::Demotion>,
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

    /// As [`finish`](Self::finish), running the moves on this thread: a blocking request
    /// waits for them anyway, and on tokio's blocking pool a move queued as a task of its own
    /// could wait for the very thread the request holds.
    pub(crate) fn finish_here(mut self, shared: &Shared) {
        for demotion in std::mem::take(&mut self.demotions) {
            demotion.run(shared);
        }
        self.finish(shared);
    }

    /// Runs after the lock is released: drops evicted models, then delivers events.
    pub(crate) fn finish(self, shared: &Shared) {
        let Effects {
            dropped,
            flights,
            room,
            demotions,
        } = self;
        if room {
            shared.room.notify_all();
        }
        for demotion in demotions {
            demotion.start(shared);
        }
        drop_all(&shared.signals, dropped, flights);
        shared.deliver_events();
    }
}

/// Drops removed models and flights, each destructor guarded.
fn drop_all(signals: &Arc<Signals>, dropped: Vec<Arc<Resident>>, flights: Vec<Arc<Flight>>) {
    if dropped.is_empty() && flights.is_empty() {
        return;
    }
    signals.dispose(move |signals| {
        for value in dropped {
            signals.guarded("a model destructor", || drop(value));
        }
        for flight in flights {
            signals.guarded("a model destructor", || drop(flight));
        }
    });
}

impl Signals {
    /// Runs user code, catching a panic (logged and counted).
    pub(crate) fn guarded(&self, what: &str, f: impl FnOnce()) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            self.callback_panics.fetch_add(1, Ordering::Relaxed);
            let message = super::flight::panic_message(&*panic);
            // The subscriber may be what panicked: its panic here is dropped too.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                tracing::error!(
                    target: "modelcache",
                    panic = %message,
                    "{what} panicked; the cache caught it and carries on"
                );
            }));
        }
    }

    /// Runs `drop_them`, which drops models (their destructors may free gigabytes): inside a
    /// tokio runtime on its blocking pool, so that no runtime worker stalls; elsewhere here.
    pub(crate) fn dispose(self: &Arc<Self>, drop_them: impl FnOnce(&Signals) + Send + 'static) {
        #[cfg(feature = "tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let signals = Arc::clone(self);
            // A runtime that is shutting down refuses the task: the closure is then dropped
            // here, and with it what it holds, as it would have been without a runtime.
            drop(runtime.spawn_blocking(move || drop_them(&signals)));
            return;
        }
        drop_them(self);
    }
}

impl Shared {
    /// Delivers pending events to the hook, one thread at a time and in the order they were
    /// recorded. A thread that finds another delivering leaves its events to it, so the hook is
    /// never called concurrently, never out of order, and a hook that calls back into the
    /// cache neither deadlocks nor recurses.
    pub(crate) fn deliver_events(&self) {
        let mut st = self.lock_ledger_unchanged();
        if st.delivering || st.events.is_empty() {
            return;
        }
        st.delivering = true;
        loop {
            let batch = std::mem::take(&mut st.events);
            drop(st);
            for event in &batch {
                // Tracing subscribers are user code too.
                self.signals.guarded("a tracing subscriber", || event.log());
                if let Some(hook) = &self.on_event {
                    self.signals.guarded("an event hook", || hook(event));
                }
            }
            st = self.lock_ledger_unchanged();
            if st.events.is_empty() {
                st.delivering = false;
                return;
            }
        }
    }
}
