//! State shared by the cache and every resident without a strong reference to the cache: the
//! clock, and the flags a handle drop reads without taking the lock.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::state::nanos;

use crate::clock::Clock;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize};

pub(crate) struct Signals {
    clock: Arc<dyn Clock>,
    pub epoch: Instant,
    /// The latest reading of the clock, in nanoseconds since `epoch`.
    latest: AtomicU64,
    /// Requests waiting for room: handle drops wake them when an entry becomes idle.
    pub room_waiters: AtomicUsize,
    /// Some budget is exceeded: handle drops trim when an entry becomes idle.
    pub over_budget: AtomicBool,
    /// Event hooks and model destructors that panicked (caught; see `Effects::finish`).
    pub callback_panics: AtomicU64,
}

impl Signals {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        // Guarded as every reading is (see `now`).
        let epoch =
            catch_unwind(AssertUnwindSafe(|| clock.now())).unwrap_or_else(|_| Instant::now());
        Self {
            clock,
            epoch,
            latest: AtomicU64::new(0),
            room_waiters: AtomicUsize::new(0),
            over_budget: AtomicBool::new(false),
            callback_panics: AtomicU64::new(0),
        }
    }

    /// The clock's time. A clock is user code: if it panics, the panic is caught and counted
    /// and the latest good reading is used (time stands still rather than unwinding through
    /// the cache, possibly under its lock).
    pub fn now(&self) -> Instant {
        match catch_unwind(AssertUnwindSafe(|| self.clock.now())) {
            Ok(now) => {
                let nanos = nanos(now.saturating_duration_since(self.epoch));
                self.latest.fetch_max(nanos, Ordering::Relaxed);
                now
            }
            Err(_) => {
                self.guarded("a tracing subscriber", || {
                    tracing::error!(target: "modelcache", "the cache's clock panicked; using its latest reading");
                });
                self.callback_panics.fetch_add(1, Ordering::Relaxed);
                self.epoch + Duration::from_nanos(self.latest.load(Ordering::Relaxed))
            }
        }
    }

    /// The clock's time in nanoseconds since the cache was built.
    pub fn nanos_since_epoch(&self) -> u64 {
        nanos(self.now().saturating_duration_since(self.epoch))
    }

    /// The clock's instant `timeout` from now; `None` when that is beyond what an `Instant`
    /// can hold (a timeout of `Duration::MAX` means no timeout).
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.now().checked_add(timeout)
    }

    /// How long until `deadline` by the clock (zero once it passed); `None`: no deadline.
    pub fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(self.now()))
    }
}
