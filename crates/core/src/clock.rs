//! Time sources, so keep-alive can be tested without sleeping.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A monotonic clock: the cache's time for keep-alive, load timeouts and load durations.
///
/// `now` may be called with the cache lock held, so it must be quick and must not call into
/// the cache.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: for tests of keep-alive and timeouts. Requests
/// waiting for room look at it when woken; [`ModelCache::expire`](crate::ModelCache::expire)
/// wakes them, so call it after [`advance`](Self::advance).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Instant>,
}

impl ManualClock {
    /// A clock standing at the present instant.
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Instant::now()),
        }
    }

    /// Moves the clock forward (as far as an `Instant` goes: `Duration::MAX` does not panic).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        if let Some(later) = now.checked_add(by) {
            *now = later;
            return;
        }
        // Too far: go as far as an `Instant` can.
        let mut step = by / 2;
        while !step.is_zero() {
            if let Some(later) = now.checked_add(step) {
                *now = later;
            }
            step /= 2;
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock()
    }
}
