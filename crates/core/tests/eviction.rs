//! Eviction policies: the order each chooses, the reload costs the cost policy weighs (measured
//! by the cache's clock), its ageing by recency, and the rules every policy keeps (pins,
//! handles out, pools). Load times are simulated: each loader advances a `ManualClock`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::check_invariants;
use modelcache_core::{
    CacheEvent, EvictReason, EvictionPolicy, FnLoader, Loaded, ManualClock, ModelCache,
    ModelPolicy, StepOutcome,
};

const GIB: u64 = 1 << 30;

/// A cache of `budget` bytes under `policy`, with a manual clock and a log of evictions.
struct Bench {
    cache: ModelCache,
    clock: Arc<ManualClock>,
    evicted: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Bench {
    fn new(budget: u64, policy: EvictionPolicy) -> Self {
        let clock = Arc::new(ManualClock::new());
        let evicted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&evicted);
        let cache = ModelCache::builder()
            .budget(budget)
            .eviction(policy)
            .clock(Arc::clone(&clock) as Arc<dyn modelcache_core::Clock>)
            .on_event(move |e| {
                if let CacheEvent::Evicted {
                    id,
                    reason: EvictReason::Capacity,
                    ..
                } = e
                {
                    log.lock().unwrap().push(id.clone());
                }
            })
            .build();
        Self {
            cache,
            clock,
            evicted,
        }
    }

    /// Registers `id` of `bytes` whose every load takes `load` on the cache's clock.
    fn model(&self, id: &str, bytes: u64, load: Duration, policy: ModelPolicy) {
        self.model_of("sim", id, bytes, load, policy);
    }

    /// [`model`](Self::model) of another backend.
    fn model_of(&self, backend: &str, id: &str, bytes: u64, load: Duration, policy: ModelPolicy) {
        let clock = Arc::clone(&self.clock);
        let loader = FnLoader::new(backend, bytes, move |_| {
            clock.advance(load);
            Ok(Loaded::new(0u8, bytes))
        });
        self.cache.register(id, Arc::new(loader), policy).unwrap();
    }

    /// Requests each id in turn, dropping the handle at once.
    fn touch(&self, ids: &[&str]) {
        for id in ids {
            drop(self.cache.get::<u8>(id).unwrap());
        }
    }

    fn evicted(&self) -> Vec<String> {
        std::mem::take(&mut *self.evicted.lock().unwrap())
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn policy_names_parse_and_print() {
    for p in EvictionPolicy::ALL {
        assert_eq!(p.as_str().parse::<EvictionPolicy>().unwrap(), p);
    }
    let err = "mru".parse::<EvictionPolicy>().unwrap_err().to_string();
    assert!(err.contains("\"mru\"") && err.contains("cost"), "{err}");
    assert_eq!(EvictionPolicy::default(), EvictionPolicy::Lru);
}

/// LRU evicts the least recently used; the cost policy evicts the cheapest reload per byte,
/// even when it was used more recently.
#[test]
fn the_cost_policy_evicts_what_is_cheapest_to_reload() {
    for (policy, expected) in [
        (EvictionPolicy::Lru, "expensive"),
        (EvictionPolicy::Cost, "cheap"),
    ] {
        let b = Bench::new(2 * GIB, policy);
        b.model("expensive", GIB, secs(40), ModelPolicy::default());
        b.model("cheap", GIB, secs(1), ModelPolicy::default());
        b.model("new", GIB, secs(5), ModelPolicy::default());
        b.touch(&["expensive", "cheap", "new"]);
        assert_eq!(b.evicted(), [expected], "{policy}");
        check_invariants(&b.cache);
    }
}

/// What a model is worth is its recent demand times its reload time, and demand decays: a
/// model asked for a lot, then no more, ages out although it is the most expensive to reload.
#[test]
fn recency_ages_out_a_cold_expensive_model() {
    let b = Bench::new(2 * GIB, EvictionPolicy::Cost);
    b.model("cold", GIB, secs(20), ModelPolicy::default());
    b.model("m0", GIB, secs(1), ModelPolicy::default());
    b.model("m1", GIB, secs(1), ModelPolicy::default());
    // Asked for 30 times: worth 30 x 20 s while that is recent.
    for _ in 0..30 {
        b.touch(&["cold"]);
    }
    // Then two cheap models alternate, each request evicting one of the three.
    let mut evicted_at = None;
    for i in 0..10_000 {
        b.touch(&[if i % 2 == 0 { "m0" } else { "m1" }]);
        if !b.cache.contains("cold") {
            evicted_at = Some(i);
            break;
        }
    }
    // Its demand protected it for a while (the cheap models evicted each other), and then
    // it decayed below theirs: the cold model went, though it costs 20 times as much.
    let at = evicted_at.expect("the cold model was never evicted");
    assert!(at > 100, "cold evicted after {at} requests");
    check_invariants(&b.cache);
}

/// Reload costs are the median of the measured load times, so one slow load does not make a
/// model look expensive; a model not loaded yet is sized by its backend's throughput (or 1 GiB/s
/// for a backend that has loaded nothing), as `plan` shows.
#[test]
fn reload_costs_are_measured_medians_and_estimates_before_the_first_load() {
    let b = Bench::new(2 * GIB, EvictionPolicy::Cost);
    b.model("a", GIB, secs(2), ModelPolicy::default());
    b.model("x", GIB, secs(1), ModelPolicy::default());
    b.model("y", GIB, secs(1), ModelPolicy::default());
    b.touch(&["a", "x"]);
    let victim = |b: &Bench| {
        let plan = b.cache.plan(&["y"]).unwrap();
        let StepOutcome::Load { evicts } = &plan.steps[0].outcome else {
            panic!("{plan:?}");
        };
        assert_eq!(evicts.len(), 1, "{evicts:?}");
        (evicts[0].id.clone(), evicts[0].reload_cost)
    };
    // The plan names the victim and what reloading it would cost: measured, 1 s.
    assert_eq!(victim(&b), ("x".to_owned(), secs(1)));
    // Four more loads of "x", one of them slow: its cost is the median, still 1 s. ("x" is
    // now asked for five times as often as "a", so "a" is the cheaper victim: pin it.)
    for load in [1, 30, 1, 1] {
        b.model("x", GIB, secs(load), ModelPolicy::default());
        b.touch(&["x"]);
    }
    b.cache.set_pinned("a", true).unwrap();
    assert_eq!(victim(&b), ("x".to_owned(), secs(1)));

    // Before a first load: "a" loaded 1 GiB in 2 s, so a 2 GiB model of its backend would
    // take 4 s; one of a backend that never loaded, 2 s (at 1 GiB/s). "a" is pinned, so the
    // second step of the plan must evict the model its first step loads.
    for (backend, cost) in [("sim", secs(4)), ("other", secs(2))] {
        let b = Bench::new(3 * GIB, EvictionPolicy::Cost);
        b.model("a", GIB, secs(2), ModelPolicy::default().pinned(true));
        b.touch(&["a"]);
        b.model_of(backend, "n1", 2 * GIB, secs(9), ModelPolicy::default());
        b.model("n2", GIB, secs(1), ModelPolicy::default());
        let plan = b.cache.plan(&["n1", "n2"]).unwrap();
        let StepOutcome::Load { evicts } = &plan.steps[1].outcome else {
            panic!("{plan:?}");
        };
        assert_eq!(evicts.len(), 1, "{evicts:?}");
        assert_eq!((evicts[0].id.as_str(), evicts[0].reload_cost), ("n1", cost));
    }
}

/// Pins and handles bind the cost policy as they bind LRU: the cheapest model is kept when it
/// is pinned or in use, and the next cheapest goes.
#[test]
fn pins_and_handles_out_are_never_evicted_under_the_cost_policy() {
    let b = Bench::new(3 * GIB, EvictionPolicy::Cost);
    b.model(
        "pinned-cheap",
        GIB,
        secs(1),
        ModelPolicy::default().pinned(true),
    );
    b.model("used-cheap", GIB, secs(1), ModelPolicy::default());
    b.model("pricey", GIB, secs(30), ModelPolicy::default());
    b.model("new", GIB, secs(5), ModelPolicy::default());
    b.touch(&["pinned-cheap", "pricey"]);
    let held = b.cache.get::<u8>("used-cheap").unwrap();
    b.touch(&["new"]);
    assert_eq!(b.evicted(), ["pricey"]);
    assert!(b.cache.contains("pinned-cheap") && b.cache.contains("used-cheap"));
    drop(held);
    check_invariants(&b.cache);
}

/// Choosing by cost first can pick a small victim that a larger one chosen after it makes
/// unnecessary: it is spared.
#[test]
fn the_cost_policy_spares_victims_it_does_not_need() {
    let b = Bench::new(4 * GIB, EvictionPolicy::Cost);
    // Cheapest per byte first: "small" (0.5 s for 1 GiB), then "big" (2 s for 2 GiB).
    b.model(
        "small",
        GIB,
        Duration::from_millis(500),
        ModelPolicy::default(),
    );
    b.model("big", 2 * GIB, secs(2), ModelPolicy::default());
    b.model("keep", GIB, secs(60), ModelPolicy::default());
    b.model("new", 2 * GIB, secs(1), ModelPolicy::default());
    b.touch(&["small", "big", "keep"]);
    // 4 GiB used, 2 GiB needed: "small" then "big" are chosen; "big" alone frees the room.
    b.touch(&["new"]);
    assert_eq!(b.evicted(), ["big"]);
    assert!(b.cache.contains("small"));
    check_invariants(&b.cache);
}

/// Ollama's rule: the shortest keep-alive goes first, models without one last; llama-swap's:
/// the cheapest reload first.
#[test]
fn the_peers_rules_order_by_keep_alive_and_by_reload_time() {
    let b = Bench::new(3 * GIB, EvictionPolicy::ShortestKeepAlive);
    b.model("forever", GIB, secs(1), ModelPolicy::default());
    b.model(
        "short",
        GIB,
        secs(30),
        ModelPolicy::default().keep_alive(secs(60)),
    );
    b.model(
        "long",
        GIB,
        secs(1),
        ModelPolicy::default().keep_alive(secs(3600)),
    );
    b.model("new", GIB, secs(1), ModelPolicy::default());
    b.touch(&["forever", "short", "long", "new"]);
    assert_eq!(b.evicted(), ["short"]);

    let b = Bench::new(3 * GIB, EvictionPolicy::CheapestReload);
    b.model("old-pricey", GIB, secs(30), ModelPolicy::default());
    b.model(
        "fast-but-huge-per-byte",
        GIB,
        secs(2),
        ModelPolicy::default(),
    );
    b.model("recent", GIB, secs(5), ModelPolicy::default());
    b.model("new", GIB, secs(1), ModelPolicy::default());
    b.touch(&["old-pricey", "fast-but-huge-per-byte", "recent", "new"]);
    assert_eq!(b.evicted(), ["fast-but-huge-per-byte"]);
}

/// A pool's shortfall is met from the pool's members under every policy, cheapest first under
/// the cost policy.
#[test]
fn pools_evict_only_their_members_under_the_cost_policy() {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(10 * GIB)
        .pool("gpu", 2 * GIB)
        .eviction(EvictionPolicy::Cost)
        .clock(Arc::clone(&clock) as Arc<dyn modelcache_core::Clock>)
        .build();
    let add = |id: &str, load: u64, pool: Option<&str>| {
        let c = Arc::clone(&clock);
        let loader = FnLoader::new("sim", GIB, move |_| {
            c.advance(secs(load));
            Ok(Loaded::new(0u8, GIB))
        });
        let mut policy = ModelPolicy::default();
        if let Some(p) = pool {
            policy = policy.pool(p);
        }
        cache.register(id, Arc::new(loader), policy).unwrap();
    };
    add("host-cheap", 1, None);
    add("gpu-pricey", 30, Some("gpu"));
    add("gpu-cheap", 2, Some("gpu"));
    add("gpu-new", 5, Some("gpu"));
    for id in ["host-cheap", "gpu-pricey", "gpu-cheap", "gpu-new"] {
        drop(cache.get::<u8>(id).unwrap());
    }
    assert!(cache.contains("host-cheap") && cache.contains("gpu-pricey"));
    assert!(!cache.contains("gpu-cheap"));
    check_invariants(&cache);
}

/// Stats say which policy runs and what loads cost in time and bytes.
#[test]
fn stats_report_the_policy_and_what_loading_cost() {
    let b = Bench::new(GIB, EvictionPolicy::Cost);
    b.model("a", GIB, secs(3), ModelPolicy::default());
    b.model("b", GIB, secs(2), ModelPolicy::default());
    b.touch(&["a", "b", "a"]);
    let s = b.cache.stats();
    assert_eq!(s.eviction, EvictionPolicy::Cost);
    assert_eq!(
        (s.loads, s.load_time, s.bytes_loaded),
        (3, secs(8), 3 * GIB)
    );
}
