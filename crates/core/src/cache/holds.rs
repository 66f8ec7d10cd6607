//! Which components can be evicted, and with whom: one rule for admission and preflight.
//!
//! A component that resident models hold is never idle on its own. It can be evicted together
//! with its holders when they are all the users it has and each holder is evictable, idle now
//! or itself freed with its own holders. A component that a pinned model holds, directly or
//! through other holders, can never be freed while the pin stays: it counts as pinned, so a
//! shortfall it holds fails at once instead of waiting.

use std::sync::Arc;

use super::admission::Candidate;
use crate::error::HolderState;

/// One component among the candidates.
pub(crate) struct Held {
    /// Its candidate index.
    pub at: usize,
    /// The candidates whose holds count among its users.
    pub holders: Vec<usize>,
    /// It has users besides those holds (handles, a leader loading a model with it).
    pub others: bool,
}

/// Sets the `holder` and `freed_with` of each held component from its holders.
pub(crate) fn settle(candidates: &mut [Candidate], held: &[Held]) {
    for h in held {
        let c = &mut candidates[h.at];
        c.freed_with.clear();
        if c.holder.is_none() {
            c.holder = Some(HolderState::InUse);
        }
    }
    // Until nothing changes; each round settles at least one more, so at most `held.len()`.
    for _ in 0..=held.len() {
        let mut changed = false;
        for h in held {
            if candidates[h.at].holder == Some(HolderState::Pinned) {
                continue;
            }
            let state = |i: &usize| candidates[*i].holder;
            if h.holders
                .iter()
                .any(|i| state(i) == Some(HolderState::Pinned))
            {
                candidates[h.at].holder = Some(HolderState::Pinned);
                candidates[h.at].freed_with.clear();
                changed = true;
                continue;
            }
            let evictable = |i: &usize| state(i).is_none() || !candidates[*i].freed_with.is_empty();
            if candidates[h.at].freed_with.is_empty()
                && !h.others
                && !h.holders.is_empty()
                && h.holders.iter().all(evictable)
            {
                let ids: Vec<Arc<str>> = h
                    .holders
                    .iter()
                    .map(|&i| Arc::clone(&candidates[i].id))
                    .collect();
                candidates[h.at].freed_with = ids;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}
