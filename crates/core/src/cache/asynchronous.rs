//! The async API (feature `tokio`): no runtime worker thread ever blocks on a load, on room, or
//! on a model's lock. Hits are served inline (the cache lock is only ever held for O(1) map
//! work, never across a load); everything that can wait runs on tokio's blocking pool.

use std::ops::Deref;

use parking_lot::{ArcMutexGuard, RawMutex};

use super::ModelCache;
use super::acquire::hit;
use super::handle::Handle;
use crate::CacheError;

impl ModelCache {
    /// [`get`](ModelCache::get) for async code. A miss (load, join a load, wait for room) runs
    /// on the blocking pool; dropping the future does not cancel a load others may share.
    ///
    /// # Errors
    /// As [`get`](ModelCache::get), plus [`CacheError::Runtime`] if the blocking task fails.
    pub async fn get_async<T: Send + Sync + 'static>(
        &self,
        id: &str,
    ) -> Result<Handle<T>, CacheError> {
        let lease = hit(&mut self.shared.state.lock(), id);
        if let Some(lease) = lease {
            return Handle::from_lease(lease);
        }
        let cache = self.clone();
        let owned = id.to_owned();
        tokio::task::spawn_blocking(move || cache.get::<T>(&owned))
            .await
            .map_err(|e| CacheError::Runtime {
                id: id.into(),
                message: e.to_string(),
            })?
    }
}

impl<T: Send + Sync + 'static> Handle<T> {
    /// [`lock`](Handle::lock) for async code: waiting for another caller of the same model
    /// happens on the blocking pool, never on a runtime worker.
    ///
    /// # Errors
    /// [`CacheError::Runtime`] if the blocking task fails.
    pub async fn lock_async(&self) -> Result<OwnedModelGuard<T>, CacheError> {
        let Some(mutex) = self.lease.resident.exclusive.clone() else {
            return Ok(OwnedModelGuard {
                handle: self.clone(),
                _guard: None,
            });
        };
        if let Some(guard) = mutex.try_lock_arc() {
            return Ok(OwnedModelGuard {
                handle: self.clone(),
                _guard: Some(guard),
            });
        }
        let guard = tokio::task::spawn_blocking(move || mutex.lock_arc())
            .await
            .map_err(|e| CacheError::Runtime {
                id: self.id().into(),
                message: e.to_string(),
            })?;
        Ok(OwnedModelGuard {
            handle: self.clone(),
            _guard: Some(guard),
        })
    }
}

/// Access to a model from [`Handle::lock_async`]; it owns a handle, so it can cross `.await`s
/// and move between tasks.
pub struct OwnedModelGuard<T> {
    handle: Handle<T>,
    _guard: Option<ArcMutexGuard<RawMutex, ()>>,
}

impl<T: Send + Sync + 'static> Deref for OwnedModelGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.handle.value()
    }
}
