//! Preflight: what would loading these models evict, and would they fit? Nothing is loaded.

use std::sync::Arc;

use super::ModelCache;
use super::admission::{Candidate, Verdict, decide};
use super::state::Slot;
use crate::error::{CacheError, Holder, HolderState};

/// The answer of [`ModelCache::plan`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// One step per requested model, in request order.
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// Whether every model would be served without waiting.
    pub fn fits(&self) -> bool {
        self.steps.iter().all(|s| {
            !matches!(
                s.outcome,
                StepOutcome::WouldWait { .. } | StepOutcome::WouldFail(_)
            )
        })
    }

    /// Every model the plan would evict.
    pub fn evictions(&self) -> impl Iterator<Item = &Holder> {
        self.steps.iter().flat_map(|s| match &s.outcome {
            StepOutcome::Load { evicts } => evicts.as_slice(),
            _ => &[],
        })
    }
}

/// One model of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlanStep {
    /// The model ID.
    pub id: String,
    /// Bytes it needs (its size if resident, else its hint or configured size).
    pub bytes: u64,
    /// What would happen.
    pub outcome: StepOutcome,
}

/// What a request for one model would do now.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StepOutcome {
    /// Already resident: a hit.
    Resident,
    /// Already loading: the request would join that load.
    Loading,
    /// It would load after evicting these idle models (possibly none).
    Load {
        /// The models evicted to make room (state is that of an idle model).
        evicts: Vec<Holder>,
    },
    /// It would wait for these holders to let go (up to the load timeout).
    WouldWait {
        /// The pool that is short, if not the global budget.
        pool: Option<String>,
        /// Who holds the room.
        holders: Vec<Holder>,
    },
    /// It would fail.
    WouldFail(CacheError),
}

impl ModelCache {
    /// Says what requesting `ids` in order would evict and whether they would fit, without
    /// loading anything (hints read checkpoint headers only). Earlier models of the list are
    /// treated as in use by the time later ones load.
    ///
    /// # Errors
    /// An unknown ID, or a hint that fails (a missing or malformed checkpoint).
    pub fn plan(&self, ids: &[&str]) -> Result<Plan, CacheError> {
        let mut needs = Vec::with_capacity(ids.len());
        for &id in ids {
            let st = self.shared.state.lock();
            let resident = match st.map.get(id) {
                Some(Slot::Ready(r)) => Some((r.bytes, StepOutcome::Resident)),
                Some(Slot::Loading(f)) => Some((
                    f.reserved.load(std::sync::atomic::Ordering::Relaxed),
                    StepOutcome::Loading,
                )),
                None => None,
            };
            let registered = st.models.get(id).cloned();
            drop(st);
            let step = match (resident, registered) {
                (Some((bytes, outcome)), _) => (bytes, None, Some(outcome)),
                (None, Some(r)) => {
                    let bytes = match r.policy.size {
                        Some(size) => size,
                        None => r.loader.memory_hint().map_err(|e| CacheError::Load {
                            id: id.into(),
                            backend: r.loader.backend().into(),
                            source: Arc::new(e),
                        })?,
                    };
                    (bytes, r.pool, None)
                }
                (None, None) => return Err(CacheError::UnknownModel { id: id.into() }),
            };
            needs.push((id, step));
        }

        let st = self.shared.state.lock();
        let mut candidates = st.candidates();
        let mut ledger = st.ledger();
        ledger.budget = self.shared.budget;
        let pool_name =
            |p: Option<usize>| p.and_then(|p| st.pools.get(p)).map(|p| p.name.to_string());
        let mut steps = Vec::with_capacity(needs.len());
        for (id, (bytes, pool, known)) in needs {
            let outcome = if let Some(outcome) = known {
                // A requested model is in use from now on.
                for c in candidates
                    .iter_mut()
                    .filter(|c| &*c.id == id && c.holder.is_none())
                {
                    c.holder = Some(HolderState::InUse);
                }
                outcome
            } else {
                match decide(
                    &candidates,
                    &ledger,
                    bytes,
                    pool,
                    self.shared.allow_oversized,
                ) {
                    Verdict::Fit(victims) => {
                        let evicts: Vec<Holder> = victims
                            .iter()
                            .map(|&i| Holder {
                                id: candidates[i].id.to_string(),
                                bytes: candidates[i].bytes,
                                state: HolderState::InUse,
                            })
                            .collect();
                        for &i in victims.iter().rev() {
                            let c = candidates.remove(i);
                            ledger.charged -= c.bytes;
                            if let Some(p) = c.pool {
                                ledger.pools[p].0 -= c.bytes;
                            }
                        }
                        ledger.charged += bytes;
                        if let Some(p) = pool {
                            ledger.pools[p].0 += bytes;
                        }
                        candidates.push(Candidate {
                            id: id.into(),
                            bytes,
                            pool,
                            holder: Some(HolderState::InUse),
                        });
                        StepOutcome::Load { evicts }
                    }
                    Verdict::Wait { scope, holders } => StepOutcome::WouldWait {
                        pool: pool_name(scope),
                        holders,
                    },
                    Verdict::TooLarge { scope, budget } => {
                        StepOutcome::WouldFail(CacheError::TooLarge {
                            id: id.into(),
                            needed: bytes,
                            budget,
                            pool: pool_name(scope),
                        })
                    }
                    Verdict::Never { scope, holders } => {
                        let (budget, charged) = match scope {
                            Some(p) => (ledger.pools[p].1, ledger.pools[p].0),
                            None => (ledger.budget, ledger.charged),
                        };
                        StepOutcome::WouldFail(CacheError::NoRoom {
                            id: id.into(),
                            needed: bytes,
                            budget,
                            charged,
                            pool: pool_name(scope),
                            waited: false,
                            holders,
                        })
                    }
                }
            };
            steps.push(PlanStep {
                id: id.into(),
                bytes,
                outcome,
            });
        }
        Ok(Plan { steps })
    }
}
