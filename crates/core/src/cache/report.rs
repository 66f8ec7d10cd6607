//! Snapshots for people and metrics: counters and the per-entry listing.

use std::sync::atomic::Ordering;

use super::ModelCache;
use super::ledger::saturate;
use super::state::Slot;
use super::stats::{CacheStats, EntryInfo, PoolStats};

impl ModelCache {
    /// Counters and current usage.
    pub fn stats(&self) -> CacheStats {
        let st = self.shared.lock_ledger_unchanged();
        let c = &st.counters;
        let mut resident = 0u128;
        let mut loading = 0u128;
        let mut s = CacheStats {
            budget: st.budget,
            charged: saturate(st.charged),
            // Only an exceeded budget counts (a lone model allowed to be oversized does not).
            over_budget: if st.over {
                saturate(st.charged.saturating_sub(u128::from(st.budget)))
            } else {
                0
            },
            held_bytes: saturate(
                st.held
                    .values()
                    .filter(|h| !st.is_device(h.pool))
                    .map(|h| u128::from(h.bytes))
                    .sum(),
            ),
            hits: c.hits,
            misses: c.misses,
            loads: c.loads,
            load_failures: c.load_failures,
            evictions: c.evictions,
            evicted_by: c.evicted_by,
            bytes_evicted: c.bytes_evicted,
            expirations: c.expirations,
            waits: c.waits,
            wait_timeouts: c.wait_timeouts,
            queued: st.queue.len(),
            withdrawn: c.withdrawn,
            overruns: c.overruns,
            callback_panics: self.shared.signals.callback_panics.load(Ordering::Relaxed),
            load_time: c.load_time,
            load_times: c.load_times.clone(),
            bytes_loaded: c.bytes_loaded,
            eviction: st.eviction,
            pools: st
                .pools
                .iter()
                .map(|p| PoolStats {
                    name: p.name.to_string(),
                    budget: p.budget,
                    charged: saturate(p.charged),
                    device: p.device,
                })
                .collect(),
            demotions: c.demotions,
            demotion_failures: c.demotion_failures,
            promotions: c.promotions,
            promotion_failures: c.promotion_failures,
            ..CacheStats::default()
        };
        // Bytes on devices are in their pools' figures, not in the global (host) ones.
        let host = |pool: Option<usize>| !st.is_device(pool);
        for (_, f) in &st.orphans {
            s.loading += 1;
            if host(f.pool) {
                loading += u128::from(f.reserved.load(Ordering::Relaxed));
            }
        }
        for slot in st.map.values() {
            match slot {
                Slot::Ready(r) => {
                    s.entries += 1;
                    if host(r.pool) {
                        resident += u128::from(r.bytes);
                    }
                }
                Slot::Loading(f) => {
                    s.loading += 1;
                    if host(f.pool) {
                        loading += u128::from(f.reserved.load(Ordering::Relaxed));
                    }
                }
            }
        }
        s.resident_bytes = saturate(resident);
        s.loading_bytes = saturate(loading);
        s.shared_bytes_saved = st.shared_bytes_saved();
        s
    }

    /// One row per resident or loading model, least recently used first.
    pub fn entries(&self) -> Vec<EntryInfo> {
        let st = self.shared.lock_ledger_unchanged();
        let used_by = st.used_by();
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
                    pool: st.pool_name(r.pool.filter(|_| !st.is_device(r.pool))),
                    device: st.pool_name(r.pool.filter(|_| st.is_device(r.pool))),
                    demoted_from: st.pool_name(r.home),
                    uses: r
                        .components
                        .lock()
                        .iter()
                        .map(|(role, c)| (role.to_string(), c.id.to_string()))
                        .collect(),
                    used_by: used_by
                        .get(&super::state::address(r))
                        .map(|by| by.iter().map(ToString::to_string).collect())
                        .unwrap_or_default(),
                },
                Slot::Loading(f) => EntryInfo {
                    id: id.to_string(),
                    backend: st
                        .models
                        .get(id)
                        .map(|m| m.backend.to_string())
                        .unwrap_or_default(),
                    bytes: f.reserved.load(Ordering::Relaxed),
                    handles: 0,
                    pinned: f.pinned.load(Ordering::Relaxed),
                    loading: true,
                    idle_since: None,
                    pool: st.pool_name(f.pool.filter(|_| !st.is_device(f.pool))),
                    device: st.pool_name(f.pool.filter(|_| st.is_device(f.pool))),
                    demoted_from: None,
                    uses: Vec::new(),
                    used_by: Vec::new(),
                },
            })
            .collect()
    }

    /// Whether `id` is resident now (not loading). Does not count as a use.
    pub fn contains(&self, id: &str) -> bool {
        matches!(
            self.shared.lock_ledger_unchanged().map.get(id),
            Some(Slot::Ready(_))
        )
    }

    /// The IDs of registered models.
    pub fn registered(&self) -> Vec<String> {
        let st = self.shared.lock_ledger_unchanged();
        let mut ids: Vec<String> = st.models.keys().map(ToString::to_string).collect();
        ids.sort();
        ids
    }
}
