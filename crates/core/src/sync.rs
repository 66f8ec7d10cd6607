//! The synchronization primitives of the cache, in one place so that model checking can swap
//! them: with the `shuttle` feature they are shuttle's, whose scheduler explores interleavings
//! at every lock, wait and atomic operation.
//!
//! The per-model lock of [`Handle::lock`](crate::Handle::lock) is not swapped: it serializes
//! callers of a model and takes no part in the cache's bookkeeping.

#[cfg(not(feature = "shuttle"))]
mod imp {
    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

    /// Waits until notified or `deadline` passes.
    pub(crate) fn wait_until<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: std::time::Instant,
    ) {
        cv.wait_until(guard, deadline);
    }
}

#[cfg(feature = "shuttle")]
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
        pub(crate) fn new() -> Self {
            Self(shuttle::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            if let Some(inner) = guard.0.take() {
                guard.0 = Some(self.0.wait(inner).unwrap_or_else(PoisonError::into_inner));
            }
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// Shuttle's timed waits never time out, so a lost wake-up shows up as a deadlock.
    pub(crate) fn wait_until<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        _deadline: std::time::Instant,
    ) {
        cv.wait(guard);
    }
}

pub(crate) use imp::*;
