//! Which idle models to evict first: the eviction policy, and the reload costs it weighs.
//!
//! Every policy only orders the idle, unpinned models; which models may be evicted at all
//! (pins, handles out, loads in flight, pools) is admission's rule and the same for all.
//!
//! * [`EvictionPolicy::Lru`]: least recently used first.
//! * [`EvictionPolicy::Cost`]: what an eviction will cost in reloading. Each model's *value*
//!   is its recent demand times its reload time: demand counts the requests for it, each
//!   weighing less as later requests come (it halves every [`DEMAND_HALF_LIFE`] requests to
//!   the cache), so recency counts and a model no longer asked for ages out however expensive
//!   it is. The victims are the set of idle models of least total value that frees the room
//!   (searched exactly among up to [`EXACT_UP_TO`] idle models; beyond that, greedily by value
//!   per byte, sparing victims the others make unnecessary). Why not GreedyDual-Size, the
//!   classic cost-aware rule (priority `L + cost / size`, aged by an inflation `L`)? Tried on
//!   the trace benchmark's workload, it saved far less of LRU's load time: its ageing forgets
//!   a rarely used but very expensive model after a few evictions, its priority ignores how
//!   often a model is asked for, and ranking by cost per byte cannot see that one large
//!   victim frees the room of several small ones.
//! * [`EvictionPolicy::ShortestKeepAlive`]: the shortest keep-alive first (models without one
//!   last), then least recently used: Ollama's scheduler rule.
//! * [`EvictionPolicy::CheapestReload`]: the smallest reload time first, then least recently
//!   used: llama-swap's rule (its cost is a multiple of the median measured load time; the
//!   multiple does not change the order).
//!
//! A model's reload cost is the median of its last [`HISTORY`] measured load times; before its
//! first load, its bytes divided by the throughput measured for its backend so far (bytes per
//! second over every load of that backend), or by [`DEFAULT_THROUGHPUT`] when the backend has
//! loaded nothing yet.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::admission::Candidate;

/// How the cache chooses which idle models to evict when it needs room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Least recently used first (the default).
    #[default]
    Lru,
    /// Least reload time per byte first, aged by recency (GreedyDual-Size).
    Cost,
    /// Shortest keep-alive first, then least recently used (Ollama's rule).
    ShortestKeepAlive,
    /// Cheapest reload first, then least recently used (llama-swap's rule).
    CheapestReload,
}

impl EvictionPolicy {
    /// Every policy, in the order reports list them.
    pub const ALL: [EvictionPolicy; 4] = [
        EvictionPolicy::Lru,
        EvictionPolicy::Cost,
        EvictionPolicy::ShortestKeepAlive,
        EvictionPolicy::CheapestReload,
    ];

    /// The name used in models.toml (`eviction = "cost"`) and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Cost => "cost",
            EvictionPolicy::ShortestKeepAlive => "shortest-keep-alive",
            EvictionPolicy::CheapestReload => "cheapest-reload",
        }
    }
}

impl fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An eviction policy name that is not one of [`EvictionPolicy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown eviction policy {name:?}; expected one of \"lru\", \"cost\", \"shortest-keep-alive\", \"cheapest-reload\""
)]
pub struct UnknownPolicy {
    /// What was given.
    pub name: String,
}

impl FromStr for EvictionPolicy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicy { name: s.to_owned() })
    }
}

/// Load times kept per model: the cost is their median.
pub const HISTORY: usize = 5;

/// Bytes per second assumed for a backend that has loaded nothing yet: 1 GiB/s, about what a
/// local NVMe drive gives a lean safetensors load.
pub const DEFAULT_THROUGHPUT: f64 = (1u64 << 30) as f64;

/// How fast a model's demand is forgotten: its request count halves every this many requests
/// to the cache (for any model).
pub const DEMAND_HALF_LIFE: f64 = 512.0;

/// What loads have cost so far: per model, its last load times; per backend, its throughput;
/// and how much each model is asked for (requests, decayed by [`DEMAND_HALF_LIFE`]).
#[derive(Debug, Default)]
pub(crate) struct Costs {
    models: HashMap<Arc<str>, VecDeque<Duration>>,
    /// `(bytes, nanoseconds)` summed over a backend's loads.
    backends: HashMap<Arc<str>, (u128, u128)>,
    /// Per model: its decayed request count, as of request number `.1`.
    demand: HashMap<Arc<str>, (f64, u64)>,
    /// Requests seen (the clock demand decays by).
    requests: u64,
    /// Models tracked before the next prune (at least [`PRUNE_AT`]).
    prune_at: usize,
}

impl Costs {
    /// Counts a request for a model already known (a hit): no allocation.
    pub fn requested(&mut self, id: &str) {
        self.requests += 1;
        let now = self.requests;
        if let Some(d) = self.demand.get_mut(id) {
            *d = (decayed(*d, now) + 1.0, now);
        }
    }

    /// Counts a request for a model that may not be known yet (a miss).
    pub fn requested_new(&mut self, id: &str) {
        if self.demand.contains_key(id) {
            return self.requested(id);
        }
        self.requests += 1;
        self.demand.insert(id.into(), (1.0, self.requests));
        if self.demand.len() > self.prune_at.max(PRUNE_AT) {
            self.prune();
        }
    }

    /// Forgets the models whose demand has decayed to nothing (and their load times), so that
    /// a caller loading ever new IDs (`get_or_load_with`) does not grow the cache without
    /// bound. The next prune waits until the count has doubled: amortized constant time per
    /// request.
    fn prune(&mut self) {
        let now = self.requests;
        self.demand.retain(|_, d| decayed(*d, now) >= FORGOTTEN);
        let demand = &self.demand;
        self.models.retain(|id, _| demand.contains_key(id));
        self.prune_at = self.demand.len().saturating_mul(2);
    }

    /// [`value`](Self::value) as it will be once `id` is requested: what a plan's simulated
    /// load of it is worth.
    pub fn value_if_requested(&self, id: &str, backend: Option<&str>, bytes: u64) -> f64 {
        let demand = self
            .demand
            .get(id)
            .map_or(0.0, |&d| decayed(d, self.requests));
        (demand + 1.0) * self.estimate(id, backend, bytes)
    }

    /// What evicting model `id` would cost, in expected seconds of reloading: its demand
    /// (requests, decayed to now) times its reload time.
    pub fn value(&self, id: &str, backend: Option<&str>, bytes: u64) -> f64 {
        let demand = self
            .demand
            .get(id)
            .map_or(0.0, |&d| decayed(d, self.requests));
        demand * self.estimate(id, backend, bytes)
    }

    /// Records a successful load of `bytes` that took `elapsed`.
    pub fn record(&mut self, id: &Arc<str>, backend: &Arc<str>, bytes: u64, elapsed: Duration) {
        let times = self.models.entry(Arc::clone(id)).or_default();
        if times.len() == HISTORY {
            times.pop_front();
        }
        times.push_back(elapsed);
        let total = self.backends.entry(Arc::clone(backend)).or_default();
        total.0 = total.0.saturating_add(u128::from(bytes));
        total.1 = total.1.saturating_add(elapsed.as_nanos());
    }

    /// The reload time of model `id` of `backend` holding `bytes`, in seconds.
    pub fn estimate(&self, id: &str, backend: Option<&str>, bytes: u64) -> f64 {
        if let Some(times) = self.models.get(id).filter(|t| !t.is_empty()) {
            let mut buf = [Duration::ZERO; HISTORY];
            let n = times.len().min(HISTORY);
            for (slot, t) in buf.iter_mut().zip(times.iter()) {
                *slot = *t;
            }
            let sorted = &mut buf[..n];
            sorted.sort_unstable();
            let mid = sorted.len() / 2;
            let median = if sorted.len() % 2 == 1 {
                sorted[mid]
            } else {
                (sorted[mid - 1] + sorted[mid]) / 2
            };
            return median.as_secs_f64();
        }
        let throughput = backend
            .and_then(|b| self.backends.get(b))
            .filter(|&&(bytes, nanos)| bytes > 0 && nanos > 0)
            .map_or(DEFAULT_THROUGHPUT, |&(bytes, nanos)| {
                bytes as f64 / (nanos as f64 / 1e9)
            });
        bytes as f64 / throughput
    }
}

/// The candidates (indices into `candidates`, which are in least-recently-used order) in the
/// order `policy` would evict them; only idle ones are listed.
pub(crate) fn order(policy: EvictionPolicy, candidates: &[Candidate]) -> Vec<usize> {
    let mut idle: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].holder.is_none())
        .collect();
    let key = |i: &usize| -> f64 {
        let c = &candidates[*i];
        match policy {
            EvictionPolicy::Lru => 0.0,
            EvictionPolicy::Cost => c.value / (c.bytes.max(1) as f64),
            EvictionPolicy::ShortestKeepAlive => {
                c.keep_alive.map_or(f64::INFINITY, |k| k.as_secs_f64())
            }
            EvictionPolicy::CheapestReload => c.cost,
        }
    };
    // Stable: ties stay in least-recently-used order.
    idle.sort_by(|a, b| key(a).total_cmp(&key(b)));
    idle
}

/// Models tracked before [`Costs::prune`] forgets those no longer asked for.
const PRUNE_AT: usize = 4096;

/// A decayed demand below which a model is forgotten (under 7 half-lives after its last
/// request, for a model asked for once): worth nothing beside any model in use.
const FORGOTTEN: f64 = 1e-2;

/// A demand `(count, as of request)` decayed to request `now`.
fn decayed((count, at): (f64, u64), now: u64) -> f64 {
    let age = now.saturating_sub(at) as f64;
    count * (-age / DEMAND_HALF_LIFE).exp2()
}

/// Idle candidates up to which [`least_value`] searches every set of victims (`2^n` sets).
pub const EXACT_UP_TO: usize = 12;

/// The set of idle candidates of least total value that frees `global` bytes and, with
/// `pool = Some((p, deficit))`, `deficit` bytes of pool `p`'s members; `None` when no set does,
/// or when there are more than [`EXACT_UP_TO`] idle candidates (the caller then goes by order).
/// Ties go to the set that comes first in `order`.
pub(crate) fn least_value(
    candidates: &[Candidate],
    order: &[usize],
    global: u128,
    pool: Option<(usize, u128)>,
    on_host: impl Fn(&Candidate) -> bool,
) -> Option<Vec<usize>> {
    if order.len() > EXACT_UP_TO {
        return None;
    }
    let mut best: Option<(f64, u32)> = None;
    for set in 1u32..(1u32 << order.len()) {
        let (mut freed, mut freed_pool, mut value) = (0u128, 0u128, 0.0);
        for (bit, &i) in order.iter().enumerate() {
            if set & (1 << bit) != 0 {
                let c = &candidates[i];
                if on_host(c) {
                    freed += u128::from(c.bytes);
                }
                if pool.is_some_and(|(p, _)| c.pool == Some(p)) {
                    freed_pool += u128::from(c.bytes);
                }
                value += c.value;
            }
        }
        let fits = freed >= global && pool.is_none_or(|(_, deficit)| freed_pool >= deficit);
        if fits && best.is_none_or(|(v, _)| value < v) {
            best = Some((value, set));
        }
    }
    let (_, set) = best?;
    let mut victims: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(bit, _)| set & (1 << bit) != 0)
        .map(|(_, &i)| i)
        .collect();
    victims.sort_unstable();
    Some(victims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_no_longer_asked_for_are_forgotten_so_costs_stay_bounded() {
        let mut costs = Costs::default();
        let backend: Arc<str> = "b".into();
        for i in 0..100_000 {
            let id: Arc<str> = format!("m{i}").into();
            costs.requested_new(&id);
            costs.record(&id, &backend, 1, Duration::from_millis(1));
        }
        // Forgotten within 7 half-lives (3,400 requests), pruned when the count doubles.
        assert!(costs.demand.len() <= 2 * PRUNE_AT, "{}", costs.demand.len());
        assert!(costs.models.len() <= costs.demand.len());
        // The newest model is still known by its measured load time.
        assert_eq!(costs.estimate("m99999", Some("b"), 1), 0.001);
    }
}
