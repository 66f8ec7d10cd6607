//! The state behind the cache lock: entries in LRU order, registered models and the ledger.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hashlink::LinkedHashMap;

use super::admission::{Candidate, Ledger};
use super::events::{CacheEvent, EvictReason};
use super::flight::Flight;
use super::policy::ModelPolicy;
use super::resident::Resident;
use super::stats::Counters;
use crate::backend::ModelLoader;
use crate::error::HolderState;

/// A key's entry: loading, or loaded.
pub(crate) enum Slot {
    Loading(Arc<Flight>),
    Ready(Arc<Resident>),
}

/// A registered model.
#[derive(Clone)]
pub(crate) struct Registered {
    pub loader: Arc<dyn ModelLoader>,
    pub policy: ModelPolicy,
    pub pool: Option<usize>,
}

pub(crate) struct Pool {
    pub name: Arc<str>,
    pub budget: u64,
    pub charged: u64,
}

/// An evicted resident that callers still hold.
pub(crate) struct Held {
    pub id: Arc<str>,
    pub bytes: u64,
    pub pool: Option<usize>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Front = least recently used.
    pub map: LinkedHashMap<Arc<str>, Slot>,
    pub models: HashMap<Arc<str>, Registered>,
    pub pools: Vec<Pool>,
    /// Resident + reserved for loads in flight + held after eviction.
    pub charged: u64,
    /// Keyed by the resident's address.
    pub held: HashMap<usize, Held>,
    /// Loads invalidated while in flight: still charged, never to be inserted.
    pub orphans: Vec<(Arc<str>, Arc<Flight>)>,
    pub counters: Counters,
}

/// Work to do once the lock is released: drop evicted models (their destructors may be slow and
/// must not run under the lock) and report events.
#[derive(Default)]
#[must_use]
pub(crate) struct Effects {
    pub dropped: Vec<Arc<Resident>>,
    pub events: Vec<CacheEvent>,
}

pub(crate) fn address(r: &Resident) -> usize {
    std::ptr::from_ref(r) as usize
}

impl State {
    pub fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.iter().position(|p| &*p.name == name)
    }

    pub fn charge(&mut self, bytes: u64, pool: Option<usize>) {
        self.charged = self.charged.saturating_add(bytes);
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.charged = p.charged.saturating_add(bytes);
        }
    }

    pub fn uncharge(&mut self, bytes: u64, pool: Option<usize>) {
        debug_assert!(
            self.charged >= bytes,
            "uncharging {bytes} with {} charged",
            self.charged
        );
        self.charged = self.charged.saturating_sub(bytes);
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.charged = p.charged.saturating_sub(bytes);
        }
    }

    pub fn ledger(&self) -> Ledger {
        Ledger {
            charged: self.charged,
            budget: 0,
            pools: self.pools.iter().map(|p| (p.charged, p.budget)).collect(),
        }
    }

    /// Everything charged, least recently used first, then what is held after eviction.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self
            .map
            .iter()
            .map(|(id, slot)| match slot {
                Slot::Loading(f) => Candidate {
                    id: Arc::clone(id),
                    bytes: f.reserved.load(Ordering::Relaxed),
                    pool: f.pool,
                    holder: Some(HolderState::Loading),
                },
                Slot::Ready(r) => Candidate {
                    id: Arc::clone(id),
                    bytes: r.bytes,
                    pool: r.pool,
                    holder: if r.is_pinned() {
                        Some(HolderState::Pinned)
                    } else if !r.is_idle() {
                        Some(HolderState::InUse)
                    } else {
                        None
                    },
                },
            })
            .collect();
        out.extend(self.orphans.iter().map(|(id, f)| Candidate {
            id: Arc::clone(id),
            bytes: f.reserved.load(Ordering::Relaxed),
            pool: f.pool,
            holder: Some(HolderState::Loading),
        }));
        out.extend(self.held.values().map(|h| Candidate {
            id: Arc::clone(&h.id),
            bytes: h.bytes,
            pool: h.pool,
            holder: Some(HolderState::HeldAfterEviction),
        }));
        out
    }

    /// Forgets a finished flight that had been invalidated.
    pub fn drop_orphan(&mut self, flight: &Arc<Flight>) -> Option<Arc<Flight>> {
        let i = self
            .orphans
            .iter()
            .position(|(_, f)| Arc::ptr_eq(f, flight))?;
        Some(self.orphans.swap_remove(i).1)
    }

    /// Removes a resident entry. An idle one is released now; one still held moves to the held
    /// set and is released when its last handle drops.
    pub fn evict(&mut self, id: &str, reason: EvictReason, fx: &mut Effects) {
        let Some(Slot::Ready(r)) = self.map.remove(id) else {
            return;
        };
        let _span =
            tracing::debug_span!(target: "modelcache", "evict", model = %r.id, ?reason).entered();
        let still_held = !r.is_idle();
        if still_held {
            self.held.insert(
                address(&r),
                Held {
                    id: Arc::clone(&r.id),
                    bytes: r.bytes,
                    pool: r.pool,
                },
            );
        } else {
            r.settled.store(true, Ordering::Release);
            self.uncharge(r.bytes, r.pool);
        }
        self.counters.evictions += 1;
        self.counters.bytes_evicted += r.bytes;
        if reason == EvictReason::Expired {
            self.counters.expirations += 1;
        }
        tracing::info!(target: "modelcache", model = %r.id, bytes = r.bytes, ?reason, still_held, "evicted");
        fx.events.push(CacheEvent::Evicted {
            id: r.id.to_string(),
            bytes: r.bytes,
            reason,
            still_held,
        });
        fx.dropped.push(r);
    }
}
