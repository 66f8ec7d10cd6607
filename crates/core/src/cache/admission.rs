//! Admission: deciding what to evict to admit a model (one pure function, shared with
//! preflight), the first-come-first-served queue of requests waiting for room, and the
//! blocking wait for room.
//!
//! Fairness rule: a request that must wait for room joins the queue, noting the budgets it is
//! short in. A later request that counts against one of those budgets waits behind it, even if
//! it would fit now, so that a large model is not starved by a stream of small ones. A request
//! that reserves nothing never waits behind anyone (it takes nothing the queue needs).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Shared;
use super::acquire::Components;
use super::effects::Effects;
use super::events::EvictReason;
use super::flight::Flight;
use super::state::{Queued, Slot, State, address};
use super::tiers::Demotion;
use crate::error::{CacheError, Holder, HolderState};
use crate::sync::{AtomicUsize, MutexGuard, wait_for};

/// One charged item, in least-recently-used order.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: Arc<str>,
    pub bytes: u64,
    pub pool: Option<usize>,
    /// `None` = idle and evictable.
    pub holder: Option<HolderState>,
    /// Its estimated reload time in seconds (resident models; 0 otherwise).
    pub cost: f64,
    /// What evicting it would cost under the cost policy: its recent demand times its reload
    /// time, in seconds (resident models; 0 otherwise).
    pub value: f64,
    /// Its keep-alive (resident models).
    pub keep_alive: Option<std::time::Duration>,
    /// For a component that only idle models hold (its `holder` says in use): those holders'
    /// IDs. Evicting them all lets it go too, so it can be evicted with them.
    pub freed_with: Vec<Arc<str>>,
    /// Held by the very request being admitted (a component its leader got for it): waiting
    /// cannot free it.
    pub fixed: bool,
}

impl Candidate {
    /// A charged item that is not resident (a load, or a model held after eviction): nothing
    /// for a policy to weigh.
    pub fn charged(id: &Arc<str>, bytes: u64, pool: Option<usize>, holder: HolderState) -> Self {
        Self {
            id: Arc::clone(id),
            bytes,
            pool,
            holder: Some(holder),
            cost: 0.0,
            value: 0.0,
            keep_alive: None,
            freed_with: Vec::new(),
            fixed: false,
        }
    }
}

/// How to choose among the idle candidates: `order` lists them in the order to evict them
/// (from [`eviction::order`](super::eviction::order)); with `least_value`, the set of victims
/// of least total [`Candidate::value`] that makes room is chosen instead (exactly among up to
/// [`EXACT_UP_TO`](super::eviction::EXACT_UP_TO) idle candidates, else in `order` with the
/// victims the others make unnecessary spared).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Choice<'a> {
    pub order: &'a [usize],
    pub least_value: bool,
}

/// Budgets and what is charged against them.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub charged: u128,
    pub budget: u64,
    /// `(charged, budget)` per pool.
    pub pools: Vec<(u128, u64)>,
    /// The pools that are devices: their members' bytes are not in host memory, so they count
    /// against the device alone, not against the global (host) budget.
    pub devices: Vec<usize>,
}

impl Ledger {
    /// Whether bytes charged with `pool` count against the global (host) budget.
    pub fn on_host(&self, pool: Option<usize>) -> bool {
        pool.is_none_or(|p| !self.devices.contains(&p))
    }

    /// Whether `c`'s bytes count against `scope`.
    pub fn counts(&self, c: &Candidate, scope: Scope) -> bool {
        match scope {
            None => self.on_host(c.pool),
            Some(_) => c.pool == scope,
        }
    }

    pub fn remove(&mut self, bytes: u64, pool: Option<usize>) {
        if self.on_host(pool) {
            self.charged = self.charged.saturating_sub(u128::from(bytes));
        }
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.0 = p.0.saturating_sub(u128::from(bytes));
        }
    }

    pub fn add(&mut self, bytes: u64, pool: Option<usize>) {
        if self.on_host(pool) {
            self.charged += u128::from(bytes);
        }
        if let Some(p) = pool.and_then(|p| self.pools.get_mut(p)) {
            p.0 += u128::from(bytes);
        }
    }

    /// `(charged, budget)` of a scope.
    pub fn scope(&self, scope: Scope) -> (u128, u64) {
        match scope.and_then(|p| self.pools.get(p)) {
            Some(&pool) => pool,
            None => (self.charged, self.budget),
        }
    }
}

/// Which budget a verdict is about: `None` = the global one.
pub(crate) type Scope = Option<usize>;

/// A budget that is short, and who holds it.
#[derive(Debug, Clone)]
pub(crate) struct Shortfall {
    pub scope: Scope,
    pub holders: Vec<Holder>,
}

#[derive(Debug)]
pub(crate) enum Verdict {
    /// Evicting these candidates (indices) makes room.
    Fit(Vec<usize>),
    /// Larger than the whole budget of `scope`.
    TooLarge { scope: Scope, budget: u64 },
    /// Not enough room now in these budgets (the global one first); it may come when holders
    /// let go.
    Wait(Vec<Shortfall>),
    /// Not enough room in this budget, and waiting cannot help (the rest is pinned).
    Never(Shortfall),
}

/// Decides how to admit `need` bytes into `pool`: evict idle, unpinned candidates, in the
/// order `choice` gives, only if that makes the model fit both the global and the pool budget.
/// Each budget that stays short is judged on its own: if what could ever be released in it
/// (everything but pinned models) is less than its shortfall, waiting cannot help.
pub(crate) fn decide(
    candidates: &[Candidate],
    ledger: &Ledger,
    need: u64,
    pool: Option<usize>,
    allow_oversized: bool,
    choice: Choice<'_>,
) -> Verdict {
    let need128 = u128::from(need);
    let pool_ledger = pool.and_then(|p| ledger.pools.get(p).copied());
    // A model on a device takes no host memory: the global budget is not its business.
    let on_host = ledger.on_host(pool);
    if !allow_oversized {
        if on_host && need > ledger.budget {
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
    // A lone oversized model needs everything else in its scope gone.
    let deficit = |charged: u128, budget: u64| {
        let budget = u128::from(budget);
        if need128 > budget {
            charged
        } else {
            (charged + need128).saturating_sub(budget)
        }
    };
    let global_deficit = if on_host {
        deficit(ledger.charged, ledger.budget)
    } else {
        0
    };
    let pool_deficit = pool_ledger.map_or(0, |(c, b)| deficit(c, b));
    if choice.least_value && (global_deficit > 0 || pool_deficit > 0) {
        let pool_of = pool.map(|p| (p, pool_deficit));
        if let Some(victims) =
            super::eviction::least_value(candidates, choice.order, global_deficit, pool_of, |c| {
                ledger.on_host(c.pool)
            })
        {
            return Verdict::Fit(victims);
        }
    }
    let (mut global, mut in_pool) = (global_deficit, pool_deficit);
    // Idle members of the pool first (in the policy's order): each frees room in both
    // budgets. Then, for what the global budget still lacks, any idle model.
    let mut victims = Vec::new();
    if pool.is_some() {
        for &i in choice.order {
            if in_pool == 0 {
                break;
            }
            let c = &candidates[i];
            if c.pool == pool && c.holder.is_none() {
                victims.push(i);
                in_pool = in_pool.saturating_sub(u128::from(c.bytes));
                if on_host {
                    global = global.saturating_sub(u128::from(c.bytes));
                }
            }
        }
    }
    for &i in choice.order {
        if global == 0 {
            break;
        }
        let c = &candidates[i];
        if c.holder.is_none() && ledger.on_host(c.pool) && !victims.contains(&i) {
            victims.push(i);
            global = global.saturating_sub(u128::from(candidates[i].bytes));
        }
    }
    // Then components that only idle models hold, with those holders: evicting a pipeline
    // alone may not make room, but the pipelines and the encoder they share may.
    for (i, c) in candidates.iter().enumerate() {
        if global == 0 && in_pool == 0 {
            break;
        }
        if c.freed_with.is_empty() || victims.contains(&i) {
            continue;
        }
        if c.pool.is_none_or(|p| Some(p) != pool) && global == 0 {
            continue; // it would not help the pool that is short
        }
        for v in with_holders(candidates, i) {
            if !victims.contains(&v) {
                victims.push(v);
                if ledger.on_host(candidates[v].pool) {
                    global = global.saturating_sub(u128::from(candidates[v].bytes));
                }
                if pool.is_some() && candidates[v].pool == pool {
                    in_pool = in_pool.saturating_sub(u128::from(candidates[v].bytes));
                }
            }
        }
    }
    if global == 0 && in_pool == 0 {
        if choice.least_value && victims.iter().all(|&v| candidates[v].freed_with.is_empty()) {
            spare_needless(
                candidates,
                ledger,
                &mut victims,
                pool,
                global_deficit,
                pool_deficit,
            );
        }
        victims.sort_unstable();
        return Verdict::Fit(victims);
    }
    let mut short = Vec::new();
    for (scope, deficit) in [(None, global), (pool, in_pool)] {
        if deficit == 0 {
            continue;
        }
        let holders = holders_in(candidates, ledger, scope);
        let may_free: u128 = candidates
            .iter()
            .filter(|c| ledger.counts(c, scope))
            .filter(|c| c.holder.is_some_and(|h| h != HolderState::Pinned) && !c.fixed)
            .map(|c| u128::from(c.bytes))
            .sum();
        let shortfall = Shortfall { scope, holders };
        if may_free < deficit {
            return Verdict::Never(shortfall);
        }
        short.push(shortfall);
    }
    Verdict::Wait(short)
}

/// The candidate an ID in `freed_with` names: the evictable entry of that ID.
fn holder_index(candidates: &[Candidate], id: &str) -> Option<usize> {
    candidates
        .iter()
        .position(|c| &*c.id == id && (c.holder.is_none() || !c.freed_with.is_empty()))
}

/// Candidate `i` after every holder it is freed with (theirs first), each once.
fn with_holders(candidates: &[Candidate], i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack = vec![(i, false)];
    while let Some((j, expanded)) = stack.pop() {
        if out.contains(&j) {
            continue;
        }
        if expanded || candidates[j].freed_with.is_empty() {
            out.push(j);
        } else {
            stack.push((j, true));
            // Registration refuses cycles; `out` and the bound keep a bad graph finite anyway.
            if stack.len() <= candidates.len() * 2 {
                let holders = candidates[j].freed_with.iter();
                stack.extend(
                    holders
                        .filter_map(|h| holder_index(candidates, h))
                        .map(|h| (h, false)),
                );
            }
        }
    }
    out
}

/// Keeps the victims (last chosen first: the ones the policy values most) whose bytes the
/// others already free in both budgets.
fn spare_needless(
    candidates: &[Candidate],
    ledger: &Ledger,
    victims: &mut Vec<usize>,
    pool: Option<usize>,
    global_deficit: u128,
    pool_deficit: u128,
) {
    let freed = |victims: &[usize], in_pool: bool| -> u128 {
        victims
            .iter()
            .filter(|&&i| {
                let c = &candidates[i];
                if in_pool {
                    c.pool == pool
                } else {
                    ledger.on_host(c.pool)
                }
            })
            .map(|&i| u128::from(candidates[i].bytes))
            .sum()
    };
    let mut k = victims.len();
    while k > 0 {
        k -= 1;
        let without: Vec<usize> = victims
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != k)
            .map(|(_, &i)| i)
            .collect();
        if freed(&without, false) >= global_deficit
            && (pool.is_none() || freed(&without, true) >= pool_deficit)
        {
            *victims = without;
        }
    }
}

/// The candidates that hold bytes in `scope` and cannot be evicted now.
fn holders_in(candidates: &[Candidate], ledger: &Ledger, scope: Scope) -> Vec<Holder> {
    candidates
        .iter()
        .filter(|c| ledger.counts(c, scope))
        .filter(|c| c.bytes > 0)
        .filter_map(|c| {
            c.holder.map(|state| Holder {
                id: c.id.to_string(),
                bytes: c.bytes,
                state,
            })
        })
        .collect()
}

/// The outcome of one look at whether a flight can be admitted.
pub(crate) enum Attempt {
    /// Its bytes are reserved; drop these evicted models once the lock is released.
    Admitted(Effects),
    /// Wait for room (the flight is queued).
    Wait,
    /// Room is being made by moving models off the device (the flight is queued): finish these
    /// effects, which run the moves, once the lock is released, then look again.
    Moving(Effects),
    /// Its own demotions are still moving (the flight is queued): wait for room without a
    /// deadline (each move ends, and notifies `room`, whatever it does).
    AwaitMoves,
    /// It cannot be admitted; the flight is out of the queue.
    Failed(CacheError),
}

/// The earlier requests in the queue that a request in `pool` must wait behind (all of them
/// if `flight` is not queued), and the budget the first of them waits in.
pub(crate) fn queued_ahead(
    st: &State,
    flight: Option<&Arc<Flight>>,
    pool: Option<usize>,
) -> Option<(Scope, Vec<Holder>)> {
    let mut scope = None;
    let mut ahead = Vec::new();
    let before = |q: &&Queued| flight.is_none_or(|f| !Arc::ptr_eq(&q.flight, f));
    for q in st.queue.iter().take_while(before) {
        let blocks_pool = q.pool.is_some() && q.pool == pool;
        // A request for a device takes no host memory: it never waits for the global budget.
        if (q.global && !st.is_device(pool)) || blocks_pool {
            if ahead.is_empty() {
                scope = if q.global { None } else { q.pool };
            }
            ahead.push(Holder {
                id: q.flight.id.to_string(),
                bytes: q.need,
                state: HolderState::Queued,
            });
        }
    }
    (!ahead.is_empty()).then_some((scope, ahead))
}

impl Shared {
    /// One look, under the lock, at whether `flight` can reserve `need` bytes now: evicts idle
    /// models to make room, queues the flight to wait, or fails it (too large, waiting cannot
    /// help, or `deadline` passed by the cache's clock).
    pub(crate) fn try_admit(
        &self,
        st: &mut State,
        flight: &Arc<Flight>,
        need: u64,
        deadline: Option<Instant>,
        own: &[usize],
    ) -> Attempt {
        let queued = st.queue.iter().find(|q| Arc::ptr_eq(&q.flight, flight));
        let was_queued = queued.is_some();
        if queued.is_some_and(|q| st.moving(&q.moves)) {
            // Its own demotions are making its room: making it again would evict twice, and
            // this wait is for its own moves, not for room that others hold.
            return Attempt::AwaitMoves;
        }
        let mut candidates = st.candidates();
        if !own.is_empty() {
            // The request's own components stay while it waits: no room from them.
            for (c, slot) in candidates.iter_mut().zip(st.map.values()) {
                if matches!(slot, Slot::Ready(r) if own.contains(&address(r))) {
                    c.fixed = true;
                }
            }
        }
        let order = st.eviction_order(&candidates);
        let verdict = decide(
            &candidates,
            &st.ledger(),
            need,
            flight.pool,
            st.allow_oversized,
            st.choice(&order),
        );
        let short = match verdict {
            Verdict::Fit(victims) => {
                match queued_ahead(st, Some(flight), flight.pool).filter(|_| need > 0) {
                    None => {
                        let mut fx = Effects::default();
                        // Holders before the components they free: a component is idle by
                        // the time it is evicted.
                        let (shared, alone): (Vec<usize>, Vec<usize>) = victims
                            .into_iter()
                            .partition(|&i| !candidates[i].freed_with.is_empty());
                        for i in alone {
                            let id = &candidates[i].id;
                            if st.demotable(id) {
                                st.demote(id, &mut fx);
                            } else {
                                st.evict(id, EvictReason::Capacity, &mut fx);
                            }
                        }
                        for i in order_components(&candidates, shared) {
                            st.evict(&candidates[i].id, EvictReason::Capacity, &mut fx);
                        }
                        if !fx.demotions.is_empty() {
                            // The room is free once the demoted models' device copies are
                            // gone: wait for the moves in the queue, keeping this place.
                            let moves = fx.demotions.iter().filter_map(Demotion::source);
                            match st.queue.iter_mut().find(|q| Arc::ptr_eq(&q.flight, flight)) {
                                Some(q) => q.moves.extend(moves),
                                None => {
                                    let moves = moves.collect();
                                    st.queue.push_back(Queued {
                                        flight: Arc::clone(flight),
                                        need,
                                        global: false,
                                        pool: flight.pool,
                                        moves,
                                    });
                                }
                            }
                            st.note_budget(&self.signals);
                            return Attempt::Moving(fx);
                        }
                        st.charge(need, flight.pool);
                        flight.reserved.store(need, Ordering::Relaxed);
                        flight.started.store(true, Ordering::Relaxed);
                        if st.dequeue(flight) {
                            // Requests queued behind this one may go now.
                            self.room.notify_all();
                        }
                        st.note_budget(&self.signals);
                        return Attempt::Admitted(fx);
                    }
                    Some((scope, ahead)) => {
                        let mut holders = holders_in(&candidates, &st.ledger(), scope);
                        holders.extend(ahead);
                        vec![Shortfall { scope, holders }]
                    }
                }
            }
            Verdict::TooLarge { scope, budget } => {
                self.leave_queue(st, flight);
                return Attempt::Failed(CacheError::TooLarge {
                    id: flight.id.to_string(),
                    needed: need,
                    budget,
                    pool: st.pool_name(scope),
                    device: st.is_device(scope),
                });
            }
            Verdict::Never(shortfall) => {
                self.leave_queue(st, flight);
                return Attempt::Failed(no_room(st, flight, need, shortfall, was_queued));
            }
            Verdict::Wait(short) => short,
        };
        let timed_out = deadline.is_some_and(|d| self.signals.now() >= d);
        if timed_out {
            if was_queued {
                st.counters.wait_timeouts += 1;
            }
            self.leave_queue(st, flight);
            let first = short.into_iter().next().unwrap_or(Shortfall {
                scope: None,
                holders: vec![],
            });
            return Attempt::Failed(no_room(st, flight, need, first, was_queued));
        }
        let global = short.iter().any(|s| s.scope.is_none());
        let pool = short.iter().find_map(|s| s.scope);
        match st.queue.iter_mut().find(|q| Arc::ptr_eq(&q.flight, flight)) {
            Some(q) => {
                let freed = (q.global && !global) || (q.pool.is_some() && q.pool != pool);
                (q.global, q.pool) = (global, pool);
                if freed {
                    // Requests behind it that it blocked by those budgets may go now.
                    self.room.notify_all();
                }
            }
            None => {
                st.counters.waits += 1;
                st.queue.push_back(Queued {
                    flight: Arc::clone(flight),
                    need,
                    global,
                    pool,
                    moves: Vec::new(),
                });
            }
        }
        Attempt::Wait
    }

    /// Takes a flight out of the queue, waking those behind it.
    pub(crate) fn leave_queue(&self, st: &mut State, flight: &Arc<Flight>) {
        if st.dequeue(flight) {
            self.room.notify_all();
        }
    }

    /// Reserves `need` bytes for `flight`, evicting idle models or waiting (blocking this
    /// thread) for room until the load timeout passes by the cache's clock.
    pub(crate) fn admit_blocking(
        &self,
        flight: &Arc<Flight>,
        need: u64,
        deadline: Option<Instant>,
        components: Components,
    ) -> Result<Components, Refused> {
        let own = own(&components);
        let _waiting = RoomWaiter::register(&self.signals.room_waiters);
        let mut st = self.lock();
        flight.holds.store(!own.is_empty(), Ordering::Relaxed);
        loop {
            match self.try_admit(&mut st, flight, need, deadline, &own) {
                Attempt::Admitted(fx) => {
                    flight.holds.store(false, Ordering::Relaxed);
                    drop(st);
                    fx.finish(self);
                    return Ok(components);
                }
                Attempt::Failed(e) => {
                    flight.holds.store(false, Ordering::Relaxed);
                    drop(st);
                    drop(components);
                    return Err(Refused::Failed(e));
                }
                Attempt::Moving(fx) => {
                    drop(st);
                    fx.finish_here(self);
                    st = self.lock();
                }
                // Not after `finish_here` above, which ran this request's moves to their end;
                // correct all the same.
                Attempt::AwaitMoves => {
                    st.wait(|guard: &mut MutexGuard<'_, State>| {
                        wait_for(&self.room.cv, guard, None);
                    });
                }
                Attempt::Wait if must_give_way(&st, flight) => {
                    let fx = self.give_way(&mut st, flight, components);
                    // Registered before the lock is released (the wait releases it): no
                    // change of room after the release can be missed.
                    let timeout = self.signals.remaining(deadline);
                    st.wait(|guard: &mut MutexGuard<'_, State>| {
                        wait_for(&self.room.cv, guard, timeout);
                    });
                    drop(st);
                    fx.finish(self);
                    return Err(Refused::GaveWay);
                }
                Attempt::Wait => {
                    let timeout = self.signals.remaining(deadline);
                    st.wait(|guard: &mut MutexGuard<'_, State>| {
                        wait_for(&self.room.cv, guard, timeout);
                    });
                }
            }
        }
    }
}

/// Components to evict, each after the components among them that hold it.
fn order_components(candidates: &[Candidate], mut pending: Vec<usize>) -> Vec<usize> {
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let before = pending.len();
        let mut k = 0;
        while k < pending.len() {
            let i = pending[k];
            let held_by_pending = candidates[i]
                .freed_with
                .iter()
                .filter_map(|h| holder_index(candidates, h))
                .any(|h| pending.contains(&h));
            if held_by_pending {
                k += 1;
            } else {
                out.push(pending.remove(k));
            }
        }
        if pending.len() == before {
            out.append(&mut pending); // a cycle, which registration refuses
        }
    }
    out
}

/// Why a leader was not admitted.
pub(crate) enum Refused {
    /// It cannot be admitted.
    Failed(CacheError),
    /// It let go of its components for an earlier request (see [`must_give_way`]) and waited
    /// for room to change: it should get them again and retry.
    GaveWay,
}

/// The addresses of a leader's components.
pub(crate) fn own(components: &Components) -> Vec<usize> {
    components
        .iter()
        .map(|(_, l)| address(&l.resident))
        .collect()
}

/// Whether `flight`'s leader, holding components while it must wait for room, should let go
/// of them: an earlier request waiting for room holds components of its own, so each may be
/// waiting for room the other's components hold (hold and wait). The later one gives way;
/// the earlier one keeps its components, so the two cannot hand room back and forth.
pub(crate) fn must_give_way(st: &State, flight: &Arc<Flight>) -> bool {
    flight.holds.load(Ordering::Relaxed)
        && st
            .queue
            .iter()
            .take_while(|q| !Arc::ptr_eq(&q.flight, flight))
            .any(|q| q.flight.holds.load(Ordering::Relaxed))
}

impl Shared {
    /// Lets go of a waiting leader's components under the lock and takes it out of the queue
    /// (its components may have to load again, and they must not wait behind it). Returns
    /// the effects to finish once the lock is released.
    pub(crate) fn give_way(
        &self,
        st: &mut State,
        flight: &Arc<Flight>,
        components: Components,
    ) -> Effects {
        flight.holds.store(false, Ordering::Relaxed);
        self.leave_queue(st, flight);
        let mut fx = Effects::default();
        for (_, lease) in components {
            st.release_count(lease.into_count(), &mut fx);
        }
        st.note_budget(&self.signals);
        if std::mem::take(&mut fx.room) {
            self.room.notify_all();
        }
        fx
    }
}

fn no_room(st: &State, flight: &Flight, need: u64, short: Shortfall, waited: bool) -> CacheError {
    let (charged, budget) = st.ledger().scope(short.scope);
    CacheError::NoRoom {
        id: flight.id.to_string(),
        needed: need,
        budget,
        charged: super::ledger::saturate(charged),
        pool: st.pool_name(short.scope),
        device: st.is_device(short.scope),
        waited,
        holders: short.holders,
    }
}

/// Counts a request as waiting for room for as long as it lives. Registered before the request
/// looks at who is idle: see `Lease::drop`.
pub(crate) struct RoomWaiter<'a>(&'a AtomicUsize);

impl<'a> RoomWaiter<'a> {
    pub fn register(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
            cost: 0.0,
            value: 0.0,
            keep_alive: None,
            freed_with: Vec::new(),
            fixed: false,
        }
    }

    /// Decides with least-recently-used order, as the default policy does.
    fn decide(
        c: &[Candidate],
        l: &Ledger,
        need: u64,
        pool: Option<usize>,
        allow_oversized: bool,
    ) -> Verdict {
        let order = super::super::eviction::order(super::super::eviction::EvictionPolicy::Lru, c);
        let choice = Choice {
            order: &order,
            least_value: false,
        };
        super::decide(c, l, need, pool, allow_oversized, choice)
    }

    fn ledger(charged: u128, budget: u64, pools: Vec<(u128, u64)>) -> Ledger {
        Ledger {
            charged,
            budget,
            pools,
            devices: Vec::new(),
        }
    }

    #[test]
    fn evicts_idle_lru_first_and_skips_in_use() {
        let c = [
            cand("in-use", 40, None, Some(HolderState::InUse)),
            cand("old", 30, None, None),
            cand("new", 30, None, None),
        ];
        match decide(&c, &ledger(100, 100, vec![]), 20, None, false) {
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
        match decide(&c, &ledger(30, 100, vec![(20, 20)]), 10, Some(0), false) {
            Verdict::Fit(v) => assert_eq!(v, vec![1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pinned_shortfall_is_never_and_in_use_is_wait() {
        let pinned = [cand("p", 90, None, Some(HolderState::Pinned))];
        let l = ledger(90, 100, vec![]);
        assert!(matches!(
            decide(&pinned, &l, 20, None, false),
            Verdict::Never(_)
        ));
        let used = [cand("u", 90, None, Some(HolderState::InUse))];
        assert!(matches!(
            decide(&used, &l, 20, None, false),
            Verdict::Wait(_)
        ));
    }

    #[test]
    fn a_pinned_global_shortfall_is_never_even_when_the_pool_could_wait() {
        // The pool is short but its member will be released; the global budget is short
        // because of pinned models outside the pool: no release can fix that.
        let c = [
            cand("pinned", 90, None, Some(HolderState::Pinned)),
            cand("member", 10, Some(0), Some(HolderState::InUse)),
        ];
        let l = ledger(100, 100, vec![(10, 20)]);
        match decide(&c, &l, 20, Some(0), false) {
            Verdict::Never(s) => {
                assert_eq!(s.scope, None);
                assert_eq!(s.holders.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_is_refused_unless_allowed_alone() {
        let c = [cand("a", 10, None, None)];
        let l = ledger(10, 100, vec![]);
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

    #[test]
    fn sizes_near_u64_max_do_not_overflow() {
        let c = [cand("a", u64::MAX - 10, None, None)];
        let l = ledger(u128::from(u64::MAX - 10), u64::MAX, vec![]);
        match decide(&c, &l, 20, None, false) {
            Verdict::Fit(v) => assert_eq!(v, vec![0]),
            other => panic!("{other:?}"),
        }
        match decide(&[], &ledger(0, u64::MAX, vec![]), u64::MAX, None, false) {
            Verdict::Fit(v) => assert!(v.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
