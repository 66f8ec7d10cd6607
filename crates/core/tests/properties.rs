//! Every public method is panic-free for every argument: random caches (budgets and pools from
//! zero to `u64::MAX`, timeouts, oversized models allowed or not), random models (hints and
//! measured sizes anywhere in `u64`, loads that fail or panic, any policy) and random sequences
//! of operations on one thread. Debug builds check the ledger identity after every change
//! inside the cache; here the reports must agree with it and with the budget events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modelcache_core::{
    AnyHandle, BackendError, CacheEvent, FnLoader, Loaded, ManualClock, ModelCache, ModelPolicy,
    NoProgress,
};
use proptest::prelude::*;

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        1u64..200,
        Just(u64::MAX / 2),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

fn keep_alive() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::from_secs(1))),
        Just(Some(Duration::MAX)),
    ]
}

#[derive(Debug, Clone)]
enum Outcome {
    Ok,
    Fails,
    Panics,
}

#[derive(Debug, Clone)]
struct ModelSpec {
    hint: u64,
    measured: u64,
    outcome: Outcome,
    hint_fails: bool,
    pin: bool,
    keep_alive: Option<Duration>,
    size: Option<u64>,
    /// Index into the pools; one past the end names a pool that does not exist.
    pool: Option<usize>,
}

fn model() -> impl Strategy<Value = ModelSpec> {
    (
        size(),
        size(),
        prop_oneof![
            8 => Just(Outcome::Ok),
            1 => Just(Outcome::Fails),
            1 => Just(Outcome::Panics)
        ],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        keep_alive(),
        prop::option::weighted(0.2, size()),
        prop::option::weighted(0.4, 0usize..3),
    )
        .prop_map(
            |(hint, measured, outcome, hint_fails, pin, keep_alive, size, pool)| ModelSpec {
                hint,
                measured,
                outcome,
                hint_fails,
                pin,
                keep_alive,
                size,
                pool,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Get(usize, bool),
    Request(usize, bool),
    GetOrLoadWith(usize, u64, u64),
    Release(usize),
    Plan(Vec<usize>, bool),
    Invalidate(usize),
    Clear,
    Expire(u64),
    SetPinned(usize, bool),
    Register(usize),
    Report,
}

fn op() -> impl Strategy<Value = Op> {
    let m = 0usize..6;
    prop_oneof![
        6 => (m.clone(), any::<bool>()).prop_map(|(m, keep)| Op::Get(m, keep)),
        2 => (m.clone(), any::<bool>()).prop_map(|(m, keep)| Op::Request(m, keep)),
        1 => (m.clone(), size(), size()).prop_map(|(m, h, s)| Op::GetOrLoadWith(m, h, s)),
        3 => (0usize..8).prop_map(Op::Release),
        1 => (prop::collection::vec(m.clone(), 0..5), any::<bool>())
            .prop_map(|(ids, hold)| Op::Plan(ids, hold)),
        1 => m.clone().prop_map(Op::Invalidate),
        1 => Just(Op::Clear),
        1 => prop_oneof![Just(0u64), Just(2), Just(u64::MAX)].prop_map(Op::Expire),
        1 => (m.clone(), any::<bool>()).prop_map(|(m, p)| Op::SetPinned(m, p)),
        1 => m.prop_map(Op::Register),
        1 => Just(Op::Report),
    ]
}

struct Setup {
    budget: u64,
    pools: Vec<u64>,
    timeout: Duration,
    allow_oversized: bool,
    models: Vec<ModelSpec>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        size(),
        prop::collection::vec(size(), 0..3),
        // The clock is manual and never moves during a wait: only a zero timeout ends one.
        Just(Duration::ZERO),
        any::<bool>(),
        prop::collection::vec(model(), 1..6),
    )
        .prop_map(|(budget, pools, timeout, allow_oversized, models)| Setup {
            budget,
            pools,
            timeout,
            allow_oversized,
            models,
        })
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("budget", &self.budget)
            .field("pools", &self.pools)
            .field("timeout", &self.timeout)
            .field("allow_oversized", &self.allow_oversized)
            .field("models", &self.models)
            .finish()
    }
}

fn register(cache: &ModelCache, setup: &Setup, m: usize) {
    let Some(spec) = setup.models.get(m).cloned() else {
        return;
    };
    let (measured, outcome) = (spec.measured, spec.outcome.clone());
    let mut loader = FnLoader::new("prop", spec.hint, move |_| match outcome {
        Outcome::Ok => Ok(Loaded::new(m, measured)),
        Outcome::Fails => Err(BackendError::invalid("/prop", "fails")),
        Outcome::Panics => panic!("the loader panics"),
    });
    if spec.hint_fails {
        loader = loader.with_hint(|| Err(BackendError::invalid("/prop", "hint fails")));
    }
    let mut policy = ModelPolicy {
        pin: spec.pin,
        keep_alive: spec.keep_alive,
        size: spec.size,
        pool: None,
        uses: Vec::new(),
        ..ModelPolicy::default()
    };
    if let Some(p) = spec.pool {
        policy = policy.pool(format!("pool{p}"));
    }
    // An unknown pool is an error, never a panic.
    let _ = cache.register(format!("m{m}"), Arc::new(loader), policy);
}

/// Keeps the loaders' own panics (caught by the cache) out of the output.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"the loader panics") {
                default(info);
            }
        }));
    });
}

fn run(setup: &Setup, ops: &[Op]) {
    quiet_expected_panics();
    let clock = Arc::new(ManualClock::new());
    let over = Arc::new(Mutex::new(false));
    let seen = Arc::clone(&over);
    let mut builder = ModelCache::builder()
        .budget(setup.budget)
        .load_timeout(setup.timeout)
        .allow_oversized(setup.allow_oversized)
        .clock(clock.clone())
        .on_event(move |e| match e {
            CacheEvent::OverBudget { pool: None, .. } => *seen.lock().unwrap() = true,
            CacheEvent::WithinBudget { pool: None, .. } => *seen.lock().unwrap() = false,
            _ => {}
        });
    for (i, &b) in setup.pools.iter().enumerate() {
        builder = builder.pool(format!("pool{i}"), b);
    }
    let cache = builder.build();
    for m in 0..setup.models.len() {
        register(&cache, setup, m);
    }
    let mut kept: Vec<AnyHandle> = Vec::new();
    for op in ops {
        let id = |m: &usize| format!("m{m}");
        let step = catch_unwind(AssertUnwindSafe(|| match op {
            Op::Get(m, keep) => {
                if let Ok(h) = cache.get::<usize>(&id(m)) {
                    assert_eq!(*h.lock(), *m);
                    if *keep {
                        kept.push(cache.request(&id(m), &NoProgress).unwrap().0);
                    }
                }
            }
            Op::Request(m, keep) => {
                if let (Ok((h, _)), true) = (cache.request(&id(m), &NoProgress), *keep) {
                    kept.push(h);
                }
            }
            Op::GetOrLoadWith(m, hint, measured) => {
                let measured = *measured;
                let _ = cache.get_or_load_with(&format!("w{m}"), *hint, move || {
                    Ok::<_, std::io::Error>(measured)
                });
            }
            Op::Release(i) => {
                if *i < kept.len() {
                    kept.swap_remove(*i);
                }
            }
            Op::Plan(ms, hold) => {
                let ids: Vec<String> = ms.iter().map(id).collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                let _ = if *hold {
                    cache.plan_holding(&ids)
                } else {
                    cache.plan(&ids)
                };
            }
            Op::Invalidate(m) => drop(cache.invalidate(&id(m))),
            Op::Clear => cache.clear(),
            Op::Expire(secs) => {
                clock.advance(Duration::from_secs((*secs).min(1 << 40)));
                cache.expire();
            }
            Op::SetPinned(m, pin) => drop(cache.set_pinned(&id(m), *pin)),
            Op::Register(m) => register(&cache, setup, *m),
            Op::Report => {
                let _ = (cache.entries(), cache.registered(), cache.budget());
            }
        }));
        assert!(step.is_ok(), "{op:?} panicked");
        let s = cache.stats();
        let parts =
            u128::from(s.resident_bytes) + u128::from(s.loading_bytes) + u128::from(s.held_bytes);
        if s.charged < u64::MAX {
            assert_eq!(u128::from(s.charged), parts, "after {op:?}: {s:?}");
        }
        assert_eq!(s.loading, 0, "nothing loads between operations: {s:?}");
        if !setup.allow_oversized {
            assert_eq!(
                s.over_budget > 0,
                *over.lock().unwrap(),
                "after {op:?}, OverBudget/WithinBudget events disagree with {s:?}"
            );
        }
    }
    drop(kept);
    let s = cache.stats();
    assert_eq!(s.held_bytes, 0, "{s:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_public_method_is_panic_free_and_the_ledger_balances(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(&setup, &ops);
    }
}
