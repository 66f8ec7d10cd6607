//! The ledger: what is charged against each budget, the one rule for byte arithmetic, and the
//! cache's answer when charged bytes exceed a budget.
//!
//! Bytes rule: sizes and budgets are `u64` (so `u64::MAX` is a natural "unlimited"); sums are
//! kept in `u128`, which no sum of `u64` sizes the cache can hold overflows, so charging never
//! saturates and uncharging returns exactly what was charged. Reports saturate at `u64::MAX`.
//!
//! Over budget: a load that measures more than it reserved can push charged bytes over a
//! budget. The cache then evicts idle models (least recently used first) until every budget is
//! met; what stays over is held by in-use, pinned or loading models. It reports that (a
//! [`CacheEvent::OverBudget`], `CacheStats::over_budget`), admits nothing new in that budget
//! until charged bytes are back within it (admission counts the excess as a deficit), and trims
//! again whenever a model becomes idle or unpinned, reporting [`CacheEvent::WithinBudget`] when
//! the budget is met again. The cache is never over its budget silently.

use std::sync::atomic::Ordering;

use super::admission::Ledger;
use super::effects::Effects;
use super::events::{CacheEvent, EvictReason};
use super::signals::Signals;
use super::state::{Slot, State};

/// A `u128` sum reported as `u64`.
pub(crate) fn saturate(bytes: u128) -> u64 {
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

impl State {
    /// Charges `bytes` to `pool` and, unless the pool is a device, to the global budget.
    pub fn charge(&mut self, bytes: u64, pool: Option<usize>) {
        if !self.is_device(pool) {
            self.charged += u128::from(bytes);
        }
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.charged += u128::from(bytes);
        }
    }

    pub fn uncharge(&mut self, bytes: u64, pool: Option<usize>) {
        let bytes = u128::from(bytes);
        if !self.is_device(pool) {
            debug_assert!(
                self.charged >= bytes,
                "uncharging {bytes} with {} charged",
                self.charged
            );
            self.charged = self.charged.saturating_sub(bytes);
        }
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            debug_assert!(
                p.charged >= bytes,
                "uncharging {bytes} from pool {}",
                p.name
            );
            p.charged = p.charged.saturating_sub(bytes);
        }
    }

    pub fn ledger(&self) -> Ledger {
        Ledger {
            charged: self.charged,
            budget: self.budget,
            pools: self.pools.iter().map(|p| (p.charged, p.budget)).collect(),
            devices: (0..self.pools.len())
                .filter(|&p| self.pools[p].device)
                .collect(),
        }
    }

    /// Whether the budget of `scope` is exceeded: more is charged than the budget, unless
    /// oversized models are allowed and one model alone holds it all.
    pub fn scope_exceeded(&self, scope: Option<usize>) -> bool {
        let (charged, budget) = match scope.and_then(|p| self.pools.get(p)) {
            Some(p) => (p.charged, p.budget),
            None => (self.charged, self.budget),
        };
        if charged <= u128::from(budget) {
            return false;
        }
        !(self.allow_oversized && self.charged_items(scope).filter(|&b| b > 0).count() == 1)
    }

    /// Whether any budget is exceeded now.
    pub fn exceeded(&self) -> bool {
        self.scope_exceeded(None) || (0..self.pools.len()).any(|p| self.scope_exceeded(Some(p)))
    }

    /// The bytes of every charged item in `scope`.
    fn charged_items(&self, scope: Option<usize>) -> impl Iterator<Item = u64> + '_ {
        let in_scope = move |pool: Option<usize>| match scope {
            None => !self.is_device(pool),
            Some(_) => pool == scope,
        };
        let slots = self.map.values().filter_map(move |slot| match slot {
            Slot::Loading(f) => in_scope(f.pool).then(|| f.reserved.load(Ordering::Relaxed)),
            Slot::Ready(r) => in_scope(r.pool).then_some(r.bytes),
        });
        let orphans = self
            .orphans
            .iter()
            .filter(move |(_, f)| in_scope(f.pool))
            .map(|(_, f)| f.reserved.load(Ordering::Relaxed));
        let held = self
            .held
            .values()
            .filter(move |h| in_scope(h.pool))
            .map(|h| h.bytes);
        slots.chain(orphans).chain(held)
    }

    /// Evicts idle models, least recently used first, while a budget is exceeded and the model
    /// counts against an exceeded budget.
    pub fn trim(&mut self, signals: &Signals, fx: &mut Effects) {
        if !self.exceeded() {
            return;
        }
        // Raised before looking at who is idle, as a room waiter registers (see `Lease::drop`):
        // a handle dropped meanwhile either is seen idle here or sees the flag and trims.
        signals.over_budget.store(true, Ordering::SeqCst);
        // Evicting a model may let go of a component only it held: then look again.
        let mut evicted = true;
        while evicted && self.exceeded() {
            evicted = false;
            for c in self.candidates() {
                if c.holder.is_some() {
                    continue;
                }
                let host = self.scope_exceeded(None) && !self.is_device(c.pool);
                if host || c.pool.is_some_and(|p| self.scope_exceeded(Some(p))) {
                    if matches!(self.map.get(&*c.id), Some(super::state::Slot::Ready(_))) {
                        self.evict(&c.id, EvictReason::Capacity, fx);
                        evicted = true;
                    }
                } else if !self.exceeded() {
                    return;
                }
            }
        }
    }

    /// Compares every budget with what is charged against it and reports the budgets that went
    /// over or came back within since the last check. Call after every change of the ledger;
    /// debug builds check that nobody forgot (see `check_invariants`).
    pub fn note_budget(&mut self, signals: &Signals) {
        let over = self.scope_exceeded(None);
        if over != self.over {
            self.over = over;
            let event = budget_event(over, None, self.charged, self.budget);
            self.note_transition(over, event);
        }
        for i in 0..self.pools.len() {
            let over = self.scope_exceeded(Some(i));
            let p = &self.pools[i];
            if over != p.over {
                let event = budget_event(over, Some(p.name.to_string()), p.charged, p.budget);
                self.pools[i].over = over;
                self.note_transition(over, event);
            }
        }
        let any = self.over || self.pools.iter().any(|p| p.over);
        signals.over_budget.store(any, Ordering::SeqCst);
    }

    fn note_transition(&mut self, over: bool, event: CacheEvent) {
        if over {
            self.counters.overruns += 1;
        }
        self.emit(event);
    }

    /// Debug builds: the ledger identity (charged = resident + loading + held, globally and per
    /// pool), the budget flags, and the queue holding only flights waiting for admission.
    #[cfg(debug_assertions)]
    pub fn check_invariants(&self) {
        let mut global = 0u128;
        let mut pools = vec![0u128; self.pools.len()];
        let devices: Vec<bool> = self.pools.iter().map(|p| p.device).collect();
        let mut add = |bytes: u64, pool: Option<usize>| {
            if pool.is_none_or(|p| !devices[p]) {
                global += u128::from(bytes);
            }
            if let Some(p) = pool {
                pools[p] += u128::from(bytes);
            }
        };
        for slot in self.map.values() {
            match slot {
                Slot::Loading(f) => add(f.reserved.load(Ordering::Relaxed), f.pool),
                Slot::Ready(r) => add(r.bytes, r.pool),
            }
        }
        for (_, f) in &self.orphans {
            add(f.reserved.load(Ordering::Relaxed), f.pool);
        }
        for h in self.held.values() {
            add(h.bytes, h.pool);
            assert!(
                !h.leaving || self.is_device(h.pool),
                "a copy leaving host memory ({})",
                h.id
            );
        }
        assert_eq!(self.charged, global, "global ledger out of balance");
        let c = &self.counters;
        assert_eq!(c.evicted_by.total(), c.evictions, "evictions by reason");
        assert_eq!(c.evicted_by.expired, c.expirations, "expirations");
        assert_eq!(c.load_times.count(), c.loads, "load histogram");
        assert_eq!(c.load_times.sum(), c.load_time, "load histogram sum");
        assert_eq!(self.over, self.scope_exceeded(None), "stale over flag");
        for (i, (p, sum)) in self.pools.iter().zip(pools).enumerate() {
            assert_eq!(p.charged, sum, "ledger of pool {} out of balance", p.name);
            assert_eq!(p.over, self.scope_exceeded(Some(i)), "stale over flag");
        }
        for q in &self.queue {
            assert!(
                q.flight.result.get().is_none() && !q.flight.started.load(Ordering::Relaxed),
                "a finished or admitted flight is queued"
            );
        }
    }
}

fn budget_event(over: bool, pool: Option<String>, charged: u128, budget: u64) -> CacheEvent {
    let charged = saturate(charged);
    if over {
        CacheEvent::OverBudget {
            pool,
            charged,
            budget,
        }
    } else {
        CacheEvent::WithinBudget {
            pool,
            charged,
            budget,
        }
    }
}
