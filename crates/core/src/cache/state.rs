//! The state behind the cache lock: entries in LRU order, registered models, the ledger, the
//! queue of requests waiting for room, and events not yet delivered.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hashlink::LinkedHashMap;

use super::admission::{Candidate, Choice};
use super::effects::Effects;
use super::events::{CacheEvent, EvictReason};
use super::eviction::{self, Costs, EvictionPolicy};
use super::flight::Flight;
use super::holds::{Held as HeldComponent, settle};
use super::policy::ModelPolicy;
use super::resident::Resident;
use super::stats::Counters;
use crate::error::HolderState;
use modelcache_backend::ModelLoader;

/// A key's entry: loading, or loaded.
pub(crate) enum Slot {
    Loading(Arc<Flight>),
    Ready(Arc<Resident>),
}

/// A model's components: (role, component ID), in the order its policy lists them.
pub(crate) type Uses = Vec<(Arc<str>, Arc<str>)>;

/// A registered model.
#[derive(Clone)]
pub(crate) struct Registered {
    pub loader: Arc<dyn ModelLoader>,
    /// The loader's backend name, read once at registration (no user code under the lock).
    pub backend: Arc<str>,
    pub policy: ModelPolicy,
    pub pool: Option<usize>,
    /// `policy.uses`, as the leader needs them: (role, component ID).
    pub uses: Uses,
}

pub(crate) struct Pool {
    pub name: Arc<str>,
    pub budget: u64,
    /// Wide enough that no sum of `u64` sizes can overflow it.
    pub charged: u128,
    /// Whether the last budget check found it over its budget.
    pub over: bool,
    /// A device (`CacheBuilder::device`): its members count against it alone, not against
    /// the global budget, which is host memory's.
    pub device: bool,
}

/// An evicted resident that callers still hold.
pub(crate) struct Held {
    pub id: Arc<str>,
    pub bytes: u64,
    pub pool: Option<usize>,
    /// The device copy of a model being demoted: dropped when its move ends.
    pub leaving: bool,
}

/// A request waiting for room, in arrival order, and the budgets it is short in.
pub(crate) struct Queued {
    pub flight: Arc<Flight>,
    /// Bytes it needs.
    pub need: u64,
    /// Short in the global budget: every later request waits behind it.
    pub global: bool,
    /// Short in this pool: later requests of the pool wait behind it.
    pub pool: Option<usize>,
    /// The device copies its admission demoted (by address): while one is still moving, it
    /// waits for them (see `Attempt::AwaitMoves`).
    pub moves: Vec<usize>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Front = least recently used.
    pub map: LinkedHashMap<Arc<str>, Slot>,
    pub models: HashMap<Arc<str>, Registered>,
    pub pools: Vec<Pool>,
    /// The global budget.
    pub budget: u64,
    /// A lone model larger than its budget may be admitted (and is not "over budget" alone).
    pub allow_oversized: bool,
    /// Resident + reserved for loads in flight + held after eviction.
    pub charged: u128,
    /// Whether the last budget check found the global budget exceeded.
    pub over: bool,
    /// Keyed by the resident's address.
    pub held: HashMap<usize, Held>,
    /// Loads invalidated while in flight: still charged, never to be inserted.
    pub orphans: Vec<(Arc<str>, Arc<Flight>)>,
    /// Requests waiting for room, first come first served within a budget.
    pub queue: VecDeque<Queued>,
    /// Events in the order the state changed, waiting to be delivered.
    pub events: VecDeque<CacheEvent>,
    /// A thread is delivering events: others leave theirs in `events` for it.
    pub delivering: bool,
    pub counters: Counters,
    /// How idle models are chosen for eviction.
    pub eviction: EvictionPolicy,
    /// What loads have cost so far, for the policies that weigh it.
    pub costs: Costs,
}

pub(crate) fn address(r: &Resident) -> usize {
    std::ptr::from_ref(r) as usize
}

impl State {
    pub fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.iter().position(|p| &*p.name == name)
    }

    /// Whether `pool` is a device (its members' bytes are not host memory).
    pub fn is_device(&self, pool: Option<usize>) -> bool {
        pool.and_then(|p| self.pools.get(p))
            .is_some_and(|p| p.device)
    }

    pub fn pool_name(&self, pool: Option<usize>) -> Option<String> {
        pool.and_then(|p| self.pools.get(p))
            .map(|p| p.name.to_string())
    }

    /// The name of the device `pool` is, for the events of a move ("" if it is none).
    pub fn device_name(&self, pool: Option<usize>) -> Arc<str> {
        pool.and_then(|p| self.pools.get(p))
            .map_or_else(|| "".into(), |p| Arc::clone(&p.name))
    }

    /// For each held component (by address), the resident models that hold it, as indices in
    /// map order.
    fn holders(&self) -> HashMap<usize, Vec<usize>> {
        let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, slot) in self.map.values().enumerate() {
            if let Slot::Ready(r) = slot {
                for (_, c) in r.components.lock().iter() {
                    out.entry(address(c)).or_default().push(i);
                }
            }
        }
        out
    }

    /// For each resident component (by address), the IDs of the resident models that hold it.
    pub fn used_by(&self) -> HashMap<usize, Vec<Arc<str>>> {
        let holders = self.holders();
        if holders.is_empty() {
            return HashMap::new();
        }
        let ids: Vec<&Arc<str>> = self.map.keys().collect();
        holders
            .into_iter()
            .map(|(c, by)| (c, by.into_iter().map(|i| Arc::clone(ids[i])).collect()))
            .collect()
    }

    /// Bytes sharing saves now: each resident component's bytes times its resident holders,
    /// less the one copy charged.
    pub fn shared_bytes_saved(&self) -> u64 {
        let by = self.used_by();
        let saved: u128 = self
            .map
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready(r) => by.get(&address(r)).map(|h| (r.bytes, h.len())),
                Slot::Loading(_) => None,
            })
            .map(|(bytes, holders)| u128::from(bytes) * (holders.saturating_sub(1) as u128))
            .sum();
        super::ledger::saturate(saved)
    }

    /// The registered models that use `id` as a component, directly or through others, each
    /// before every model it uses (so removing them in this order finds each one idle).
    pub fn users_of(&self, id: &str) -> Vec<Arc<str>> {
        let mut users: Vec<Arc<str>> = Vec::new();
        let mut todo = vec![Arc::<str>::from(id)];
        while let Some(c) = todo.pop() {
            for (user, m) in &self.models {
                if m.uses.iter().any(|(_, u)| *u == c) && !users.contains(user) {
                    users.push(Arc::clone(user));
                    todo.push(Arc::clone(user));
                }
            }
        }
        // Users first: take, each round, those no remaining user uses.
        let uses = |a: &Arc<str>, b: &Arc<str>| {
            self.models
                .get(a)
                .is_some_and(|m| m.uses.iter().any(|(_, u)| u == b))
        };
        let mut out = Vec::with_capacity(users.len());
        while !users.is_empty() {
            let (top, rest): (Vec<_>, Vec<_>) = users
                .iter()
                .cloned()
                .partition(|u| !users.iter().any(|v| uses(v, u)));
            if top.is_empty() {
                out.extend(rest); // a cycle, which registration refuses
                break;
            }
            out.extend(top);
            users = rest;
        }
        out
    }

    /// Records an event to deliver once the lock is released.
    pub fn emit(&mut self, event: CacheEvent) {
        self.events.push_back(event);
    }

    /// Everything charged, least recently used first, then what is held after eviction.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self
            .map
            .iter()
            .map(|(id, slot)| match slot {
                Slot::Loading(f) => Candidate::charged(
                    id,
                    f.reserved.load(Ordering::Relaxed),
                    f.pool,
                    HolderState::Loading,
                ),
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
                    cost: self.costs.estimate(id, Some(&r.backend), r.bytes),
                    value: self.costs.value(id, Some(&r.backend), r.bytes),
                    keep_alive: r.keep_alive,
                    freed_with: Vec::new(),
                    fixed: false,
                },
            })
            .collect();
        self.mark_freed_with(&mut out);
        out.extend(self.orphans.iter().map(|(id, f)| {
            Candidate::charged(
                id,
                f.reserved.load(Ordering::Relaxed),
                f.pool,
                HolderState::Loading,
            )
        }));
        out.extend(
            self.held.values().map(|h| {
                Candidate::charged(&h.id, h.bytes, h.pool, HolderState::HeldAfterEviction)
            }),
        );
        out
    }

    /// Marks the components resident models hold (see `holds::settle`): evicting their
    /// holders makes them idle, under the same lock, so admission may evict them together.
    /// `candidates` starts with the map's entries, in map order.
    fn mark_freed_with(&self, candidates: &mut [Candidate]) {
        // The map's entries come first among the candidates, so map indices are theirs.
        let mut holders = self.holders();
        if holders.is_empty() {
            return;
        }
        let held: Vec<HeldComponent> = self
            .map
            .values()
            .enumerate()
            .filter_map(|(at, slot)| match slot {
                Slot::Ready(r) => holders.remove(&address(r)).map(|by| HeldComponent {
                    at,
                    others: r.users.load(Ordering::SeqCst) > by.len(),
                    holders: by,
                }),
                Slot::Loading(_) => None,
            })
            .collect();
        settle(candidates, &held);
    }

    /// The idle candidates in the order the cache's policy evicts them.
    pub fn eviction_order(&self, candidates: &[Candidate]) -> Vec<usize> {
        eviction::order(self.eviction, candidates)
    }

    /// How admission chooses among the idle candidates, `order` being [`Self::eviction_order`].
    pub fn choice<'a>(&self, order: &'a [usize]) -> Choice<'a> {
        Choice {
            order,
            least_value: self.eviction == EvictionPolicy::Cost,
        }
    }

    /// Forgets a finished flight that had been invalidated.
    pub fn drop_orphan(&mut self, flight: &Arc<Flight>) -> Option<Arc<Flight>> {
        let i = self
            .orphans
            .iter()
            .position(|(_, f)| Arc::ptr_eq(f, flight))?;
        Some(self.orphans.swap_remove(i).1)
    }

    /// Moves `r`, out of the map, to the held set: its bytes stay charged until its last
    /// handle drops (`Resident::drop`).
    pub fn hold(&mut self, r: &Resident) {
        self.hold_as(r, false);
    }

    /// As [`hold`](Self::hold), marking the device copy of a model being demoted (`leaving`).
    pub fn hold_as(&mut self, r: &Resident, leaving: bool) {
        let held = Held {
            id: Arc::clone(&r.id),
            bytes: r.bytes,
            pool: r.pool,
            leaving,
        };
        self.held.insert(address(r), held);
    }

    /// Takes `r` out of the held set: back into the map (see `Flight::leave_map`), or, its
    /// last handle gone, released (`Shared::release_held`). Whether it was held.
    pub fn unhold(&mut self, r: &Resident) -> bool {
        self.held.remove(&address(r)).is_some()
    }

    /// Whether any of the device copies at `moves` (a request's demotions) is still moving.
    pub fn moving(&self, moves: &[usize]) -> bool {
        moves
            .iter()
            .any(|m| self.held.get(m).is_some_and(|h| h.leaving))
    }

    /// Takes `flight` out of the queue for room; returns whether it was there.
    pub fn dequeue(&mut self, flight: &Arc<Flight>) -> bool {
        let before = self.queue.len();
        self.queue.retain(|q| !Arc::ptr_eq(&q.flight, flight));
        self.queue.len() != before
    }

    /// Removes a resident entry. An idle one is released now; one still held moves to the held
    /// set and is released when its last handle drops.
    pub fn evict(&mut self, id: &str, reason: EvictReason, fx: &mut Effects) {
        let Some(Slot::Ready(r)) = self.map.remove(id) else {
            return;
        };
        let still_held = !r.is_idle();
        if still_held {
            self.hold(&r);
        } else {
            r.settled.store(true, Ordering::Release);
            self.uncharge(r.bytes, r.pool);
        }
        self.counters.evictions += 1;
        self.counters.evicted_by.add(reason);
        self.counters.bytes_evicted = self.counters.bytes_evicted.saturating_add(r.bytes);
        if reason == EvictReason::Expired {
            self.counters.expirations += 1;
        }
        self.emit(CacheEvent::Evicted {
            id: r.id.to_string(),
            bytes: r.bytes,
            reason,
            still_held,
        });
        if !still_held {
            // Nobody can reach it any more: its components are let go now, under the lock.
            self.release_holds(&r, fx);
        }
        fx.dropped.push(r);
    }

    /// Lets go, under the lock, of the components an evicted idle model held. A component whose
    /// count falls to zero is idle at once, so the same admission can evict it; one with a
    /// keep-alive of zero is unloaded, as the drop of its last handle would do. The residents
    /// themselves are dropped after the lock is released.
    fn release_holds(&mut self, r: &Resident, fx: &mut Effects) {
        let holds = std::mem::take(&mut *r.components.lock());
        for (_, c) in holds {
            self.release_count(c, fx);
        }
    }

    /// Gives back one count of `c`'s users under the lock (a hold, or a lease given up with
    /// `Lease::into_count`), as the drop of a lease would: idle at once when it was the last,
    /// unloaded then if its keep-alive is zero; `c` is dropped after the lock.
    pub fn release_count(&mut self, c: Arc<Resident>, fx: &mut Effects) {
        if c.keep_alive.is_some() {
            c.idle_since
                .fetch_max(c.signals.nanos_since_epoch(), Ordering::Relaxed);
        }
        if c.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            fx.room = true;
            let current =
                matches!(self.map.get(&*c.id), Some(Slot::Ready(x)) if Arc::ptr_eq(x, &c));
            if current && c.keep_alive == Some(Duration::ZERO) && !c.is_pinned() {
                self.evict(&c.id, EvictReason::Expired, fx);
            }
        }
        fx.dropped.push(c);
    }

    /// Unloads idle, unpinned models whose keep-alive ran out by `now` (nanoseconds since the
    /// clock's epoch).
    pub fn expire(&mut self, now: u64, fx: &mut Effects) {
        let due: Vec<Arc<str>> = self
            .map
            .iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Ready(r) if r.is_idle() && !r.is_pinned() => {
                    let keep = nanos(r.keep_alive?);
                    let idle_for = now.saturating_sub(r.idle_since.load(Ordering::Relaxed));
                    (idle_for >= keep).then(|| Arc::clone(id))
                }
                _ => None,
            })
            .collect();
        for id in due {
            self.evict(&id, EvictReason::Expired, fx);
        }
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
