//! Preflight: what would requesting these models in order evict, and would they fit? Nothing is
//! loaded: hints read checkpoint headers only, and the requests are simulated on a copy of the
//! ledger with the same decision function admission uses.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ModelCache;
use super::admission::{Candidate, Ledger, Shortfall, Verdict, decide, queued_ahead};
use super::flight::panicked;
use super::holds::{Held, settle};
use super::ledger::saturate;
use super::state::{Registered, Slot, State};
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

    /// The steps of the requested models themselves, in request order, without the steps of
    /// their components.
    pub fn requested(&self) -> impl Iterator<Item = &PlanStep> {
        self.steps.iter().filter(|s| s.component_of.is_none())
    }

    /// Every model the plan would evict.
    pub fn evictions(&self) -> impl Iterator<Item = &Victim> {
        self.steps.iter().flat_map(|s| match &s.outcome {
            StepOutcome::Load { evicts } => evicts.as_slice(),
            _ => &[],
        })
    }
}

/// One request of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlanStep {
    /// The model ID.
    pub id: String,
    /// Bytes it needs (its size if resident, else its hint or configured size).
    pub bytes: u64,
    /// What would happen.
    pub outcome: StepOutcome,
    /// Bytes charged against the global budget after this step.
    pub charged_after: u64,
    /// For a component's step: the model it is requested for (its step comes next).
    pub component_of: Option<String>,
}

/// A model a plan would evict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Victim {
    /// The model ID.
    pub id: String,
    /// Its size.
    pub bytes: u64,
    /// What reloading it would cost: the median of its measured load times, or before its
    /// first load an estimate from its size and its backend's measured throughput.
    pub reload_cost: Duration,
    /// It would be demoted to host memory rather than unloaded (a `demote` model on a device,
    /// with room in host memory). The plan follows it there: it takes host memory in the
    /// later steps, and a later step asking for it [promotes](StepOutcome::Promote) it.
    pub demoted: bool,
}

/// What one request would do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StepOutcome {
    /// Resident (now, or loaded by an earlier step): a hit.
    Resident,
    /// Loading now: the request would join that load.
    Loading,
    /// It would load after evicting these idle models (possibly none).
    Load {
        /// The models evicted to make room.
        evicts: Vec<Victim>,
    },
    /// It is demoted (in host memory): it would move back to its device after evicting these
    /// idle models there (possibly none), without reading its checkpoint.
    Promote {
        /// The models evicted to make room.
        evicts: Vec<Victim>,
    },
    /// The budget is zero: it would load and be handed over without being retained.
    Uncached,
    /// It would wait for these holders to let go (up to the load timeout).
    WouldWait {
        /// The pool that is short, if not the global budget.
        pool: Option<String>,
        /// Who holds the room (and earlier requests waiting for it, as
        /// [`HolderState::Queued`]).
        holders: Vec<Holder>,
    },
    /// It would fail.
    WouldFail(CacheError),
}

/// A charged item of the simulation.
struct Sim {
    candidate: Candidate,
    /// A resident entry of the map (or a model an earlier step loaded), so a request is a hit.
    resident: bool,
    /// A load in flight now.
    loading: bool,
    /// Its holder state of its own, before the models holding it are counted (for resident
    /// items: pinned, in use by a caller, or idle).
    own: Option<HolderState>,
    /// The models holding it as a component (resident items).
    held_by: Vec<Arc<str>>,
    /// Requested as a component of the next step's model: in use until that step.
    pending: bool,
    /// A demoted model's copy in host memory: its request promotes it (never a hit).
    demoted: bool,
}

impl ModelCache {
    /// Says what requesting `ids` in this order would do, without loading anything: each step's
    /// model is used and then released (idle, so later steps may evict it), as
    /// `modelcache load A B C` does. A repeated ID is a hit. A model whose hint fails (a
    /// missing or malformed checkpoint) is a step that [would fail](StepOutcome::WouldFail),
    /// taking no room, as its request would. See [`plan_holding`](Self::plan_holding) for
    /// callers that keep every model.
    ///
    /// # Errors
    /// An unknown ID.
    pub fn plan(&self, ids: &[&str]) -> Result<Plan, CacheError> {
        self.simulate(ids, false)
    }

    /// As [`plan`](Self::plan), with the caller keeping a handle to every model it requested
    /// (so no step evicts an earlier one).
    ///
    /// # Errors
    /// As [`plan`](Self::plan).
    pub fn plan_holding(&self, ids: &[&str]) -> Result<Plan, CacheError> {
        self.simulate(ids, true)
    }

    fn simulate(&self, ids: &[&str], hold: bool) -> Result<Plan, CacheError> {
        let requests = self.with_components(ids);
        let expanded: Vec<&str> = requests.iter().map(|(id, _)| &**id).collect();
        let needs = self.needs(&expanded)?;
        let st = self.shared.lock();
        let mut sim = snapshot(&st);
        let mut ledger = st.ledger();
        let mut steps = Vec::with_capacity(ids.len());
        for (id, component_of) in &requests {
            let id: &str = id;
            // A caller holding what it requested holds the models, not their components: a
            // component is in use for its model's step (`pending`), then held by that model.
            let hold_this = hold && component_of.is_none();
            let need = match needs.get(id) {
                Some(Ok(need)) => need.clone(),
                Some(Err(e)) => {
                    steps.push(PlanStep {
                        id: id.to_owned(),
                        bytes: 0,
                        outcome: StepOutcome::WouldFail(e.clone()),
                        charged_after: saturate(ledger.charged),
                        component_of: component_of.clone(),
                    });
                    continue;
                }
                None => Need::default(),
            };
            let found = sim
                .iter()
                .position(|s| (s.resident || s.loading) && &*s.candidate.id == id);
            let (bytes, outcome) = match found {
                Some(i) if sim[i].demoted => {
                    self.promotion(&st, &mut sim, &mut ledger, i, &need, hold_this)
                }
                Some(i) => {
                    // A hit (or a join): most recently used now, in use while held.
                    let mut s = sim.remove(i);
                    let outcome = if s.loading {
                        StepOutcome::Loading
                    } else {
                        StepOutcome::Resident
                    };
                    s.loading = false;
                    s.resident = true;
                    if s.own != Some(HolderState::Pinned) && component_of.is_none() {
                        s.own = hold_this.then_some(HolderState::InUse);
                    }
                    let bytes = s.candidate.bytes;
                    sim.push(s);
                    (bytes, outcome)
                }
                None => {
                    let outcome = if st.budget == 0 {
                        StepOutcome::Uncached
                    } else {
                        self.step(&st, &mut sim, &mut ledger, id, &need, hold_this)
                    };
                    (need.bytes, outcome)
                }
            };
            steps.push(PlanStep {
                id: id.to_owned(),
                bytes,
                outcome,
                charged_after: saturate(ledger.charged),
                component_of: component_of.clone(),
            });
            if component_of.is_some() {
                if let Some(s) = sim.last_mut().filter(|s| &*s.candidate.id == id) {
                    s.pending = true;
                }
            }
            if component_of.is_none() {
                held_by(&st, &mut sim, id);
            }
            refresh(&mut sim);
        }
        Ok(Plan { steps })
    }

    /// `ids` with each model's components requested before it (theirs before them), as a
    /// request gets them; each paired with the model a component is requested for.
    fn with_components(&self, ids: &[&str]) -> Vec<(Arc<str>, Option<String>)> {
        let st = self.shared.lock_ledger_unchanged();
        let mut out = Vec::new();
        for &id in ids {
            let mut stack: Vec<(Arc<str>, Option<String>, bool)> = vec![(id.into(), None, false)];
            while let Some((m, of, expanded)) = stack.pop() {
                let uses = st.models.get(&*m).map_or(&[][..], |r| &r.uses[..]);
                if expanded || uses.is_empty() || stack.len() > st.models.len() * 2 {
                    out.push((m, of));
                    continue;
                }
                stack.push((Arc::clone(&m), of, true));
                for (_, c) in uses.iter().rev() {
                    stack.push((Arc::clone(c), Some(m.to_string()), false));
                }
            }
        }
        out
    }

    /// The step of a demoted model (`sim[at]`, its host copy): a load onto its device, as a
    /// promotion reserves one, with the host copy held meanwhile and dropped once it is there.
    /// If the step would wait or fail, the copy stays, demoted, as it does in the cache.
    fn promotion(
        &self,
        st: &State,
        sim: &mut Vec<Sim>,
        ledger: &mut Ledger,
        at: usize,
        need: &Need,
        hold: bool,
    ) -> (u64, StepOutcome) {
        let id = Arc::clone(&sim[at].candidate.id);
        let registered = st.models.get(&*id);
        let need = Need {
            bytes: registered
                .and_then(|m| m.policy.size)
                .unwrap_or(sim[at].candidate.bytes),
            pool: registered.map_or(need.pool, |m| m.pool),
            pin: need.pin,
            waiting: None,
        };
        let own = sim[at].own.replace(HolderState::HeldAfterEviction);
        refresh(sim);
        let outcome = self.step(st, sim, ledger, &id, &need, hold);
        let host = sim.iter().position(|s| s.demoted && s.candidate.id == id);
        let outcome = match (outcome, host) {
            (StepOutcome::Load { evicts }, Some(h)) => {
                let copy = sim.remove(h);
                ledger.remove(copy.candidate.bytes, copy.candidate.pool);
                StepOutcome::Promote { evicts }
            }
            (outcome, host) => {
                if let Some(h) = host {
                    // Put back as it was (a pinned copy stays pinned).
                    sim[h].own = own;
                    refresh(sim);
                }
                outcome
            }
        };
        (need.bytes, outcome)
    }

    /// One step that is not a hit: decide as admission would, and apply it to the simulation.
    fn step(
        &self,
        st: &State,
        sim: &mut Vec<Sim>,
        ledger: &mut Ledger,
        id: &str,
        need: &Need,
        hold: bool,
    ) -> StepOutcome {
        let candidates: Vec<Candidate> = sim
            .iter()
            .map(|s| Candidate {
                // The components got for this very request: waiting cannot free them.
                fixed: s.pending,
                ..s.candidate.clone()
            })
            .collect();
        let order = st.eviction_order(&candidates);
        let verdict = decide(
            &candidates,
            ledger,
            need.bytes,
            need.pool,
            st.allow_oversized,
            st.choice(&order),
        );
        let ahead = queued_ahead(st, need.waiting.as_ref(), need.pool).filter(|_| need.bytes > 0);
        match verdict {
            Verdict::Fit(_) if ahead.is_some() => {
                let (scope, holders) = ahead.unwrap_or_default();
                StepOutcome::WouldWait {
                    pool: st.pool_name(scope),
                    holders,
                }
            }
            Verdict::Fit(victims) => {
                let mut evicts = Vec::with_capacity(victims.len());
                for &i in &victims {
                    let c = &candidates[i];
                    // Demoted as `try_admit` would: a demoting model on a device, with room
                    // for it in host memory now (charged there in the simulation from here).
                    let demotes = ledger.devices.iter().any(|&d| c.pool == Some(d))
                        && st.models.get(&*c.id).is_some_and(|m| m.policy.demote)
                        && c.freed_with.is_empty()
                        && ledger.charged + u128::from(c.bytes) <= u128::from(ledger.budget);
                    if demotes {
                        ledger.add(c.bytes, None);
                    }
                    evicts.push(Victim {
                        id: c.id.to_string(),
                        bytes: c.bytes,
                        reload_cost: Duration::try_from_secs_f64(c.cost.max(0.0))
                            .unwrap_or(Duration::MAX),
                        demoted: demotes,
                    });
                }
                let mut victims = victims.clone();
                victims.sort_unstable();
                let mut demoted = Vec::new();
                for &i in victims.iter().rev() {
                    let gone = sim.remove(i);
                    ledger.remove(gone.candidate.bytes, gone.candidate.pool);
                    for s in sim.iter_mut() {
                        s.held_by.retain(|h| *h != gone.candidate.id);
                    }
                    if evicts
                        .iter()
                        .any(|v| v.demoted && *v.id == *gone.candidate.id)
                    {
                        demoted.push(gone);
                    }
                }
                // Their host copies, idle host entries from now (their bytes were added above),
                // land before the model that made room for them.
                for mut copy in demoted.into_iter().rev() {
                    copy.candidate.pool = None;
                    copy.own = None;
                    copy.demoted = true;
                    sim.push(copy);
                }
                ledger.add(need.bytes, need.pool);
                let holder = if need.pin {
                    Some(HolderState::Pinned)
                } else {
                    hold.then_some(HolderState::InUse)
                };
                let backend = st.models.get(id).map(|r| &*r.backend);
                let cost = st.costs.estimate(id, backend, need.bytes);
                sim.push(Sim {
                    candidate: Candidate {
                        id: id.into(),
                        bytes: need.bytes,
                        pool: need.pool,
                        holder,
                        cost,
                        value: st.costs.value_if_requested(id, backend, need.bytes),
                        keep_alive: st.models.get(id).and_then(|r| r.policy.keep_alive),
                        freed_with: Vec::new(),
                        fixed: false,
                    },
                    resident: true,
                    loading: false,
                    own: holder,
                    held_by: Vec::new(),
                    pending: false,
                    demoted: false,
                });
                StepOutcome::Load { evicts }
            }
            Verdict::Wait(short) => {
                let first = short.into_iter().next();
                StepOutcome::WouldWait {
                    pool: first.as_ref().and_then(|s| st.pool_name(s.scope)),
                    holders: first.map(|s| s.holders).unwrap_or_default(),
                }
            }
            Verdict::TooLarge { scope, budget } => StepOutcome::WouldFail(CacheError::TooLarge {
                id: id.into(),
                needed: need.bytes,
                budget,
                pool: st.pool_name(scope),
                device: st.is_device(scope),
            }),
            Verdict::Never(Shortfall { scope, holders }) => {
                let (charged, budget) = ledger.scope(scope);
                StepOutcome::WouldFail(CacheError::NoRoom {
                    id: id.into(),
                    needed: need.bytes,
                    budget,
                    charged: saturate(charged),
                    pool: st.pool_name(scope),
                    device: st.is_device(scope),
                    waited: false,
                    holders,
                })
            }
        }
    }

    /// The size, pool and pin of every requested model: its charged size if it is resident or
    /// loading, else its configured size or hint (read outside the lock), or why its hint
    /// failed.
    fn needs<'a>(
        &self,
        ids: &[&'a str],
    ) -> Result<HashMap<&'a str, Result<Need, CacheError>>, CacheError> {
        let mut out = HashMap::with_capacity(ids.len());
        for &id in ids {
            if out.contains_key(id) {
                continue;
            }
            let st = self.shared.lock_ledger_unchanged();
            let mut waiting = None;
            let present = match st.map.get(id) {
                Some(Slot::Ready(r)) => Some(Need {
                    bytes: r.bytes,
                    pool: r.pool,
                    pin: r.is_pinned(),
                    waiting: None,
                }),
                Some(Slot::Loading(f)) if f.started.load(Ordering::Relaxed) => Some(Need {
                    bytes: f.reserved.load(Ordering::Relaxed),
                    pool: f.pool,
                    pin: f.pinned.load(Ordering::Relaxed),
                    waiting: None,
                }),
                // Not admitted yet (reading its hint, or waiting for room): planned as a
                // request of its own that waits behind whatever is queued before it.
                Some(Slot::Loading(f)) => {
                    waiting = Some(Arc::clone(f));
                    None
                }
                None => None,
            };
            let registered = st.models.get(id).cloned();
            drop(st);
            let need = match (present, registered) {
                (Some(need), _) => Ok(need),
                (None, None) => return Err(CacheError::UnknownModel { id: id.into() }),
                (None, Some(r)) => match r.policy.size {
                    Some(size) => Ok(size),
                    None => hint(id, &r),
                }
                .map(|bytes| Need {
                    bytes,
                    pool: r.pool,
                    pin: r.policy.pin,
                    waiting,
                }),
            };
            out.insert(id, need);
        }
        Ok(out)
    }
}

#[derive(Clone, Default)]
struct Need {
    bytes: u64,
    pool: Option<usize>,
    pin: bool,
    /// Its flight, if one is waiting for admission now.
    waiting: Option<Arc<super::flight::Flight>>,
}

/// A registered model's hint, read as a load would read it: a panic is an error.
fn hint(id: &str, r: &Registered) -> Result<u64, CacheError> {
    match catch_unwind(AssertUnwindSafe(|| r.loader.memory_hint())) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(CacheError::Load {
            id: id.into(),
            backend: r.backend.to_string(),
            source: Arc::new(e),
        }),
        Err(panic) => Err(panicked(id, &*panic)),
    }
}

/// After the step of `id`, its components are held by it (and no longer by the step that
/// requested them for it): from here on they go only with their holders.
fn held_by(st: &State, sim: &mut [Sim], id: &str) {
    let Some(m) = st.models.get(id) else { return };
    // Only a model the step made resident holds them; one that would wait or fail lets go.
    let landed = sim.iter().any(|s| s.resident && &*s.candidate.id == id);
    for (_, c) in &m.uses {
        let Some(s) = sim.iter_mut().find(|s| s.resident && s.candidate.id == *c) else {
            continue;
        };
        s.pending = false;
        if landed && !s.held_by.iter().any(|h| &**h == id) {
            s.held_by.push(id.into());
        }
    }
}

/// Sets every item's holder state from its own and from the models holding it, by the rule
/// admission uses (`holds::settle`).
fn refresh(sim: &mut [Sim]) {
    let mut held = Vec::new();
    for (at, s) in sim.iter().enumerate() {
        if !s.resident || s.held_by.is_empty() {
            continue;
        }
        let holders: Vec<usize> = s
            .held_by
            .iter()
            .filter_map(|h| sim.iter().position(|o| o.resident && o.candidate.id == *h))
            .collect();
        held.push(Held {
            at,
            holders,
            others: s.own == Some(HolderState::InUse) || s.pending,
        });
    }
    let mut candidates: Vec<Candidate> = sim.iter().map(|s| s.candidate.clone()).collect();
    for (c, s) in candidates.iter_mut().zip(sim.iter()) {
        if s.resident {
            c.holder = s.own.or(s.pending.then_some(HolderState::InUse));
            c.freed_with.clear();
        }
    }
    settle(&mut candidates, &held);
    for (s, c) in sim.iter_mut().zip(candidates) {
        s.candidate = c;
    }
}

/// The charged items of the cache now, marked by what they are.
fn snapshot(st: &State) -> Vec<Sim> {
    let used_by = st.used_by();
    let mut sim: Vec<Sim> = st
        .candidates()
        .into_iter()
        .map(|candidate| {
            let slot = st.map.get(&*candidate.id);
            let held = candidate.holder == Some(HolderState::HeldAfterEviction);
            let resident = match slot {
                Some(Slot::Ready(r)) if !held => Some(r),
                _ => None,
            };
            let by: Vec<Arc<str>> = resident
                .and_then(|r| used_by.get(&super::state::address(r)))
                .cloned()
                .unwrap_or_default();
            let own = match resident {
                Some(r) if r.is_pinned() => Some(HolderState::Pinned),
                Some(r) if r.users.load(Ordering::SeqCst) > by.len() => Some(HolderState::InUse),
                Some(_) => None,
                None => candidate.holder,
            };
            Sim {
                resident: resident.is_some(),
                loading: !held
                    && candidate.holder == Some(HolderState::Loading)
                    && matches!(slot, Some(Slot::Loading(f)) if f.started.load(Ordering::Relaxed)),
                candidate,
                own,
                held_by: by,
                pending: false,
                demoted: resident.is_some_and(|r| r.home.is_some()),
            }
        })
        .collect();
    refresh(&mut sim);
    sim
}
