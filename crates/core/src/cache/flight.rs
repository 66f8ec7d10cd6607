//! One load in flight, shared by the request that runs it and every request that waits for it.

use crate::sync::{AtomicU64, AtomicUsize};
use std::sync::{Arc, OnceLock};

use crate::sync::Condvar;

use super::resident::Resident;
use crate::CacheError;

/// Every field is written under the cache lock; the atomics only make the type `Sync`.
pub(crate) struct Flight {
    /// Bytes reserved for this load (0 until admission succeeds).
    pub reserved: AtomicU64,
    pub pool: Option<usize>,
    /// Requests waiting for the result; each gets a lease counted before the leader lets go.
    pub waiters: AtomicUsize,
    pub result: OnceLock<Result<Arc<Resident>, CacheError>>,
    /// Waited on with the cache lock.
    pub done: Condvar,
}

impl Flight {
    pub fn new(pool: Option<usize>) -> Self {
        Self {
            reserved: AtomicU64::new(0),
            pool,
            waiters: AtomicUsize::new(0),
            result: OnceLock::new(),
            done: Condvar::new(),
        }
    }
}
