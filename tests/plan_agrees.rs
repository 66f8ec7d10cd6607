//! `plan` and `load` agree: random request sequences over the bundled models (tiny generated
//! checkpoints, real backends) are planned, then requested for real in the same order, and
//! each step's outcome must be the one planned: a hit, a load evicting exactly the planned
//! models, a load not kept (budget 0), or the planned failure (too large, or no room with the
//! same holders), with the same bytes charged after it.
//!
//! Budgets, the video pool, `allow_oversized`, kokoro's pin and `--hold` (every handle kept)
//! vary from case to case. `load_timeout = "0s"`: a request that would wait for room fails at
//! once with who holds it, which is what the plan says it would wait for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use modelcache::core::{AnyHandle, CacheError, NoProgress, Served, StepOutcome};
use modelcache::registry::{Config, Registry};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

const BUNDLED: &str = include_str!("../models.toml");
const IDS: [&str; 4] = ["flux-schnell", "flux-mflux-4bit", "ltx-video", "kokoro"];

/// A folder holding the tiny bundled checkpoints, written once for every case.
fn fixtures() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        modelcache_testkit::write_bundle(&dir.path().join("models/generated"), 2024, None).unwrap();
        let file = dir.path().join("models.toml");
        (dir, file)
    })
    .1
}

#[derive(Debug, Clone)]
struct Case {
    budget: &'static str,
    pool: &'static str,
    oversized: bool,
    pin: bool,
    hold: bool,
    steps: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            "0",
            "\"300KiB\"",
            "\"1MiB\"",
            "\"1500KiB\"",
            "\"2MiB\"",
            "\"4MiB\"",
        ]),
        prop::sample::select(vec!["\"500KiB\"", "\"1MiB\"", "\"96MiB\""]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0..IDS.len(), 1..=8),
    )
        .prop_map(|(budget, pool, oversized, pin, hold, steps)| Case {
            budget,
            pool,
            oversized,
            pin,
            hold,
            steps,
        })
}

fn registry(case: &Case) -> Registry {
    let text = BUNDLED
        .replace("budget = \"160MiB\"", &format!("budget = {}", case.budget))
        .replace(
            "load_timeout = \"2m\"",
            &format!(
                "load_timeout = \"0s\"\nallow_oversized = {}",
                case.oversized
            ),
        )
        .replace("budget = \"96MiB\"", &format!("budget = {}", case.pool))
        .replace("pin = true", &format!("pin = {}", case.pin));
    let config = Config::parse(&text, fixtures()).unwrap();
    Registry::build_with(
        &modelcache::backends(),
        &config,
        modelcache::core::ModelCache::builder(),
        None,
    )
    .unwrap()
}

fn resident(registry: &Registry) -> BTreeSet<String> {
    registry
        .cache()
        .entries()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

fn holders(e: &CacheError) -> BTreeSet<String> {
    match e {
        CacheError::NoRoom { holders, .. } => holders.iter().map(|h| h.id.clone()).collect(),
        _ => BTreeSet::new(),
    }
}

fn agree(case: &Case) -> Result<(), TestCaseError> {
    let registry = registry(case);
    let cache = registry.cache();
    let ids: Vec<&str> = case.steps.iter().map(|&i| IDS[i]).collect();
    let plan = if case.hold {
        cache.plan_holding(&ids)
    } else {
        cache.plan(&ids)
    }
    .unwrap();
    let mut kept: Vec<AnyHandle> = Vec::new();
    // Each requested model's step comes after the steps of its components (one `get` does
    // them all): their evictions add up, and a component that would wait or fail is the
    // outcome the request meets.
    let mut groups: Vec<Vec<&modelcache_core::PlanStep>> = Vec::new();
    let mut group = Vec::new();
    for s in &plan.steps {
        group.push(s);
        if s.component_of.is_none() {
            groups.push(std::mem::take(&mut group));
        }
    }
    for (steps, id) in groups.iter().zip(&ids) {
        let step = steps.last().copied().unwrap();
        let blocked = steps.iter().find(|s| {
            s.component_of.is_some()
                && matches!(
                    s.outcome,
                    StepOutcome::WouldWait { .. } | StepOutcome::WouldFail(_)
                )
        });
        let evicts_all: Vec<modelcache_core::Victim> = steps
            .iter()
            .flat_map(|s| match &s.outcome {
                StepOutcome::Load { evicts } => evicts.clone(),
                _ => Vec::new(),
            })
            .collect();
        let own_outcome = match &step.outcome {
            StepOutcome::Load { .. } => StepOutcome::Load {
                evicts: evicts_all.clone(),
            },
            other => other.clone(),
        };
        let step_outcome = blocked.map_or(own_outcome, |b| b.outcome.clone());
        let before = resident(&registry);
        let got = cache.request(id, &NoProgress).map_err(|e| match e {
            CacheError::Component { source, .. } if blocked.is_some() => (*source).clone(),
            other => other,
        });
        let after = resident(&registry);
        let evicted: BTreeSet<String> = before.difference(&after).cloned().collect();
        let step_outcome = &step_outcome;
        let what = format!("{id}: planned {step_outcome:?}, got {got:?}");
        match (step_outcome, &got) {
            (StepOutcome::Resident, Ok((_, Served::Hit))) => {}
            // A model loaded once its components were in (one of them may have loaded).
            (StepOutcome::Load { evicts }, Ok((_, Served::Loaded)))
                if steps.len() > 1 && evicts.is_empty() && evicted.is_empty() => {}
            (StepOutcome::Load { evicts }, Ok((_, Served::Loaded))) => {
                let planned: BTreeSet<String> = evicts.iter().map(|v| v.id.clone()).collect();
                prop_assert_eq!(planned, evicted, "{}", what);
                prop_assert!(after.contains(*id), "{}", what);
            }
            (StepOutcome::Uncached, Ok((_, Served::Loaded))) => {
                prop_assert!(!after.contains(*id), "{}", what);
            }
            (
                StepOutcome::WouldFail(CacheError::TooLarge { .. }),
                Err(CacheError::TooLarge { .. }),
            ) => {}
            (
                StepOutcome::WouldFail(planned @ CacheError::NoRoom { .. }),
                Err(e @ CacheError::NoRoom { .. }),
            ) => prop_assert_eq!(holders(planned), holders(e), "{}", what),
            (
                StepOutcome::WouldWait {
                    holders: planned, ..
                },
                Err(e @ CacheError::NoRoom { .. }),
            ) => {
                let planned: BTreeSet<String> = planned.iter().map(|h| h.id.clone()).collect();
                prop_assert_eq!(planned, holders(e), "{}", what);
            }
            _ => prop_assert!(false, "{}", what),
        }
        if let Ok((handle, _)) = got {
            prop_assert_eq!(handle.bytes(), step.bytes, "{}: hint = measured", id);
            if case.hold {
                kept.push(handle);
            }
        }
        prop_assert_eq!(
            cache.stats().charged,
            step.charged_after,
            "{}: charged after the step",
            what
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200),
        // The same sequences on every run; explore others with PROPTEST_RNG_SEED=<n>.
        rng_seed: RngSeed::Fixed(
            std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(16),
        ),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn plan_and_load_agree_on_random_sequences(case in case()) {
        agree(&case)?;
    }
}

/// The cases the issue reported, on the bundled budgets scaled to the tiny checkpoints.
#[test]
fn the_reported_sequences_agree() {
    let base = Case {
        budget: "\"1500KiB\"",
        pool: "\"1MiB\"",
        oversized: false,
        pin: true,
        hold: false,
        steps: vec![0, 1, 2, 3],
    };
    agree(&base).unwrap();
    agree(&Case {
        steps: vec![2, 2],
        ..base.clone()
    })
    .unwrap();
    agree(&Case {
        budget: "0",
        steps: vec![3, 3, 2],
        ..base
    })
    .unwrap();
}
