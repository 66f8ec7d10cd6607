//! State shared by the cache and every resident without a strong reference to the cache: the
//! clock, and the flags a handle drop reads without taking the lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize};

pub(crate) struct Signals {
    pub clock: Arc<dyn Clock>,
    pub epoch: Instant,
    /// Requests waiting for room: handle drops wake them when an entry becomes idle.
    pub room_waiters: AtomicUsize,
    /// Some budget is exceeded: handle drops trim when an entry becomes idle.
    pub over_budget: AtomicBool,
    /// Event hooks and model destructors that panicked (caught; see `Effects::finish`).
    pub callback_panics: AtomicU64,
}

impl Signals {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let epoch = clock.now();
        Self {
            clock,
            epoch,
            room_waiters: AtomicUsize::new(0),
            over_budget: AtomicBool::new(false),
            callback_panics: AtomicU64::new(0),
        }
    }

    /// The clock's time in nanoseconds since the cache was built.
    pub fn nanos_since_epoch(&self) -> u64 {
        u64::try_from(
            self.clock
                .now()
                .saturating_duration_since(self.epoch)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }

    /// The clock's instant `timeout` from now; `None` when that is beyond what an `Instant`
    /// can hold (a timeout of `Duration::MAX` means no timeout).
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.clock.now().checked_add(timeout)
    }

    /// How long until `deadline` by the clock (zero once it passed); `None`: no deadline.
    pub fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(self.clock.now()))
    }
}
