//! Snapshots for people and metrics: counters and the per-entry listing.

use std::sync::atomic::Ordering;

use super::ModelCache;
use super::state::Slot;
use super::stats::{CacheStats, EntryInfo, PoolStats};

impl ModelCache {
    /// Counters and current usage.
    pub fn stats(&self) -> CacheStats {
        let st = self.shared.state.lock();
        let mut s = CacheStats {
            budget: self.shared.budget,
            charged: st.charged,
            held_bytes: st.held.values().map(|h| h.bytes).sum(),
            hits: st.counters.hits,
            misses: st.counters.misses,
            loads: st.counters.loads,
            load_failures: st.counters.load_failures,
            evictions: st.counters.evictions,
            bytes_evicted: st.counters.bytes_evicted,
            expirations: st.counters.expirations,
            waits: st.counters.waits,
            wait_timeouts: st.counters.wait_timeouts,
            load_time: st.counters.load_time,
            pools: st
                .pools
                .iter()
                .map(|p| PoolStats {
                    name: p.name.to_string(),
                    budget: p.budget,
                    charged: p.charged,
                })
                .collect(),
            ..CacheStats::default()
        };
        for (_, f) in &st.orphans {
            s.loading += 1;
            s.loading_bytes += f.reserved.load(Ordering::Relaxed);
        }
        for slot in st.map.values() {
            match slot {
                Slot::Ready(r) => {
                    s.entries += 1;
                    s.resident_bytes += r.bytes;
                }
                Slot::Loading(f) => {
                    s.loading += 1;
                    s.loading_bytes += f.reserved.load(Ordering::Relaxed);
                }
            }
        }
        s
    }

    /// One row per resident or loading model, least recently used first.
    pub fn entries(&self) -> Vec<EntryInfo> {
        let st = self.shared.state.lock();
        let pool = |p: Option<usize>| p.and_then(|p| st.pools.get(p)).map(|p| p.name.to_string());
        st.map
            .iter()
            .map(|(id, slot)| match slot {
                Slot::Ready(r) => EntryInfo {
                    id: id.to_string(),
                    backend: r.backend.to_string(),
                    bytes: r.bytes,
                    handles: r.users.load(Ordering::Acquire),
                    pinned: r.is_pinned(),
                    loading: false,
                    idle_since: r.idle_since(),
                    pool: pool(r.pool),
                },
                Slot::Loading(f) => {
                    let registered = st.models.get(id);
                    EntryInfo {
                        id: id.to_string(),
                        backend: registered
                            .map(|m| m.loader.backend().to_owned())
                            .unwrap_or_default(),
                        bytes: f.reserved.load(Ordering::Relaxed),
                        handles: 0,
                        pinned: registered.is_some_and(|m| m.policy.pin),
                        loading: true,
                        idle_since: None,
                        pool: pool(f.pool),
                    }
                }
            })
            .collect()
    }

    /// Whether `id` is resident now (not loading). Does not count as a use.
    pub fn contains(&self, id: &str) -> bool {
        matches!(self.shared.state.lock().map.get(id), Some(Slot::Ready(_)))
    }

    /// The IDs of registered models.
    pub fn registered(&self) -> Vec<String> {
        let st = self.shared.state.lock();
        let mut ids: Vec<String> = st.models.keys().map(ToString::to_string).collect();
        ids.sort();
        ids
    }
}
