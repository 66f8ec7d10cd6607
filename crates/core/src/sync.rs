//! The synchronization primitives of the cache, in one place so that model checking can swap
//! them: built with `RUSTFLAGS="--cfg shuttle"` they are shuttle's, whose scheduler explores
//! interleavings at every lock, wait and atomic operation. A cfg rather than a cargo feature,
//! so that `--all-features` never turns the real-thread tests into shuttle ones.
//!
//! [`Signal`] is the one way the cache wakes waiters: a condition variable for threads and,
//! with the `tokio` feature, a [`tokio::sync::Notify`] for tasks, notified together.
//!
//! The per-model lock of [`Handle::lock`](crate::Handle::lock) is not swapped: it serializes
//! callers of a model and takes no part in the cache's bookkeeping.

#[cfg(not(shuttle))]
mod imp {
    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

    /// Waits until notified or `timeout` passes (`None`: until notified).
    pub(crate) fn wait_for<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        timeout: Option<std::time::Duration>,
    ) {
        match timeout {
            // parking_lot treats a timeout too large for an `Instant` as no timeout.
            Some(timeout) => {
                cv.wait_for(guard, timeout);
            }
            None => cv.wait(guard),
        }
    }
}

#[cfg(shuttle)]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;

    pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

    /// parking_lot's API over shuttle's mutex (shuttle poisons; the cache never panics while
    /// holding it, so a poisoned lock is taken as is).
    #[derive(Default)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    pub(crate) struct MutexGuard<'a, T>(Option<shuttle::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            #[allow(clippy::expect_used)]
            // Invariant: the guard is only absent inside `Condvar::wait`.
            self.0.as_ref().expect("guard present")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            #[allow(clippy::expect_used)]
            // Invariant: the guard is only absent inside `Condvar::wait`.
            self.0.as_mut().expect("guard present")
        }
    }

    #[derive(Default)]
    pub(crate) struct Condvar(shuttle::sync::Condvar);

    impl Condvar {
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            if let Some(inner) = guard.0.take() {
                guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
            }
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Shuttle's timed waits never time out, so a lost wake-up shows up as a deadlock; time
    /// moves only by the cache's clock, and [`ModelCache::expire`](crate::ModelCache::expire)
    /// wakes waiters to look at it.
    pub(crate) fn wait_for<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        _timeout: Option<std::time::Duration>,
    ) {
        cv.wait(guard);
    }
}

pub(crate) use imp::*;

/// Wakes threads (through a condition variable used with the cache lock) and, with the
/// `tokio` feature, tasks.
///
/// A task registers (`Notify::notified` + `enable`) while it holds the cache lock and looks
/// at the state; whoever changes the state does so under the lock and notifies afterwards, so
/// a wake-up cannot be lost.
#[derive(Default)]
pub(crate) struct Signal {
    pub cv: Condvar,
    #[cfg(feature = "tokio")]
    pub tasks: tokio::sync::Notify,
}

impl Signal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes every thread and task waiting now.
    pub fn notify_all(&self) {
        self.cv.notify_all();
        #[cfg(feature = "tokio")]
        self.tasks.notify_waiters();
    }
}
