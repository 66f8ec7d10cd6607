//! Deciding what to evict to admit a model: one pure function, shared by admission and preflight.

use std::sync::Arc;

use crate::error::{Holder, HolderState};

/// One charged item, in least-recently-used order.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: Arc<str>,
    pub bytes: u64,
    pub pool: Option<usize>,
    /// `None` = idle and evictable.
    pub holder: Option<HolderState>,
}

/// Budgets and what is charged against them.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub charged: u64,
    pub budget: u64,
    /// `(charged, budget)` per pool.
    pub pools: Vec<(u64, u64)>,
}

/// Which budget a verdict is about: `None` = the global one.
pub(crate) type Scope = Option<usize>;

#[derive(Debug)]
pub(crate) enum Verdict {
    /// Evicting these candidates (indices) makes room.
    Fit(Vec<usize>),
    /// Larger than the whole budget of `scope`.
    TooLarge { scope: Scope, budget: u64 },
    /// Not enough room now; it may come when holders let go.
    Wait { scope: Scope, holders: Vec<Holder> },
    /// Not enough room, and waiting cannot help (the rest is pinned).
    Never { scope: Scope, holders: Vec<Holder> },
}

/// Decides how to admit `need` bytes into `pool`: evict idle, unpinned candidates, least
/// recently used first, only if that makes the model fit both the global and the pool budget.
pub(crate) fn decide(
    candidates: &[Candidate],
    ledger: &Ledger,
    need: u64,
    pool: Option<usize>,
    allow_oversized: bool,
) -> Verdict {
    let pool_ledger = pool.and_then(|p| ledger.pools.get(p).copied());
    // A lone oversized model needs everything else in its scope gone.
    let deficit = |charged: u64, budget: u64| {
        if need > budget {
            charged
        } else {
            (charged.saturating_add(need)).saturating_sub(budget)
        }
    };
    if !allow_oversized {
        if need > ledger.budget {
            return Verdict::TooLarge {
                scope: None,
                budget: ledger.budget,
            };
        }
        if let Some((_, budget)) = pool_ledger.filter(|&(_, b)| need > b) {
            return Verdict::TooLarge {
                scope: pool,
                budget,
            };
        }
    }
    let mut global = deficit(ledger.charged, ledger.budget);
    let mut in_pool = pool_ledger.map_or(0, |(c, b)| deficit(c, b));
    let mut victims = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        if global == 0 && in_pool == 0 {
            break;
        }
        let same_pool = pool.is_some() && c.pool == pool;
        if c.holder.is_some() || !(global > 0 || (in_pool > 0 && same_pool)) {
            continue;
        }
        victims.push(i);
        global = global.saturating_sub(c.bytes);
        if same_pool {
            in_pool = in_pool.saturating_sub(c.bytes);
        }
    }
    if global == 0 && in_pool == 0 {
        return Verdict::Fit(victims);
    }
    let scope = if in_pool > 0 { pool } else { None };
    let short = if in_pool > 0 { in_pool } else { global };
    let relevant = |c: &&Candidate| scope.is_none() || c.pool == scope;
    let holders: Vec<Holder> = candidates
        .iter()
        .filter(relevant)
        .filter(|c| c.bytes > 0)
        .filter_map(|c| {
            c.holder.map(|state| Holder {
                id: c.id.to_string(),
                bytes: c.bytes,
                state,
            })
        })
        .collect();
    let may_free: u64 = holders
        .iter()
        .filter(|h| h.state != HolderState::Pinned)
        .map(|h| h.bytes)
        .sum();
    if may_free < short {
        Verdict::Never { scope, holders }
    } else {
        Verdict::Wait { scope, holders }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, bytes: u64, pool: Option<usize>, holder: Option<HolderState>) -> Candidate {
        Candidate {
            id: id.into(),
            bytes,
            pool,
            holder,
        }
    }

    #[test]
    fn evicts_idle_lru_first_and_skips_in_use() {
        let c = [
            cand("in-use", 40, None, Some(HolderState::InUse)),
            cand("old", 30, None, None),
            cand("new", 30, None, None),
        ];
        let l = Ledger {
            charged: 100,
            budget: 100,
            pools: vec![],
        };
        match decide(&c, &l, 20, None, false) {
            Verdict::Fit(v) => assert_eq!(v, vec![1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pool_deficit_only_evicts_pool_members() {
        let c = [
            cand("a", 10, None, None),
            cand("v1", 10, Some(0), None),
            cand("v2", 10, Some(0), None),
        ];
        let l = Ledger {
            charged: 30,
            budget: 100,
            pools: vec![(20, 20)],
        };
        match decide(&c, &l, 10, Some(0), false) {
            Verdict::Fit(v) => assert_eq!(v, vec![1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pinned_shortfall_is_never_and_in_use_is_wait() {
        let pinned = [cand("p", 90, None, Some(HolderState::Pinned))];
        let l = Ledger {
            charged: 90,
            budget: 100,
            pools: vec![],
        };
        assert!(matches!(
            decide(&pinned, &l, 20, None, false),
            Verdict::Never { .. }
        ));
        let used = [cand("u", 90, None, Some(HolderState::InUse))];
        assert!(matches!(
            decide(&used, &l, 20, None, false),
            Verdict::Wait { .. }
        ));
    }

    #[test]
    fn oversized_is_refused_unless_allowed_alone() {
        let c = [cand("a", 10, None, None)];
        let l = Ledger {
            charged: 10,
            budget: 100,
            pools: vec![],
        };
        assert!(matches!(
            decide(&c, &l, 101, None, false),
            Verdict::TooLarge {
                scope: None,
                budget: 100
            }
        ));
        match decide(&c, &l, 101, None, true) {
            Verdict::Fit(v) => assert_eq!(v, vec![0]),
            other => panic!("{other:?}"),
        }
    }
}
