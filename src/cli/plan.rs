//! `plan`: what loading these models in order would do, as `load` runs them, without loading.

use modelcache_core::{StepOutcome, format_bytes};

use super::Failure;
use super::args::Args;
use super::output::{self, Table};
use super::report::{EXIT_PROBLEM, Problem};
use super::setup::open;

/// Plans `ids` with [`ModelCache::plan`](modelcache_core::ModelCache::plan) (each model idle
/// after its step, as `load` leaves it), or with `plan_holding` when `hold` (every model kept
/// in use). Exit 1 when a step would wait or fail.
pub fn plan(args: &Args, ids: &[String], hold: bool) -> Result<(), Failure> {
    let opened = open(args, false)?;
    for id in ids {
        opened.known(id)?;
    }
    let registry = &opened.registry;
    let cache = registry.cache();
    // A model left out for a configuration problem cannot be planned; the problem is
    // reported below, and the other steps are planned as if it were not asked for (its
    // request would take no room).
    let planned: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| registry.model(id).is_some())
        .collect();
    let plan = if hold {
        cache.plan_holding(&planned)
    } else {
        cache.plan(&planned)
    }?;
    let mut table = Table::new(&["step", "model", "needs", "outcome", "charged after"]);
    let mut problems = Vec::new();
    let mut steps = plan.steps.iter();
    let (mut waits, mut fails, mut unplanned, mut evictions) = (0, 0, 0, 0);
    for (n, id) in ids.iter().enumerate() {
        let step_no = (n + 1).to_string();
        if registry.model(id).is_none() {
            unplanned += 1;
            table.row(vec![
                step_no,
                id.clone(),
                "-".into(),
                "not planned: its configuration has a problem (below)".into(),
                "-".into(),
            ]);
            continue;
        }
        // A model's components have steps of their own before it: numbered 1a, 1b, ...
        let mut letters = b'a'..=b'z';
        for step in steps.by_ref() {
            let (label, model) = match &step.component_of {
                Some(of) => (
                    format!("{step_no}{}", letters.next().map_or('+', char::from)),
                    format!("{} (for {of})", step.id),
                ),
                None => (step_no.clone(), step.id.clone()),
            };
            let outcome = match &step.outcome {
                StepOutcome::Resident => "hit: resident".to_owned(),
                StepOutcome::Loading => "joins the load in flight".to_owned(),
                StepOutcome::Load { evicts } | StepOutcome::Promote { evicts } => {
                    let verb = if matches!(step.outcome, StepOutcome::Promote { .. }) {
                        "moves back from host memory"
                    } else {
                        "loads"
                    };
                    evictions += evicts.len();
                    let v: Vec<String> = evicts
                        .iter()
                        .map(|h| {
                            let demoted = if h.demoted {
                                ", demoted to host memory"
                            } else {
                                ""
                            };
                            format!("{} ({}{demoted})", h.id, format_bytes(h.bytes))
                        })
                        .collect();
                    if v.is_empty() {
                        verb.to_owned()
                    } else {
                        format!("{verb}; evicts {}", v.join(", "))
                    }
                }
                StepOutcome::Uncached => "loads; not kept (the budget is 0)".to_owned(),
                StepOutcome::WouldWait { pool, holders } => {
                    waits += 1;
                    let v: Vec<String> = holders.iter().map(ToString::to_string).collect();
                    let scope = pool
                        .as_ref()
                        .map_or_else(|| "the budget".to_owned(), |p| format!("pool {p:?}"));
                    problems.push(Problem::new(
                        format!(
                            "step {label}: model {:?} would wait for room in {scope}, held by \
                             {}, for up to `load_timeout` ({}), then fail",
                            step.id,
                            v.join(", "),
                            humantime::format_duration(registry.load_timeout())
                        ),
                        EXIT_PROBLEM,
                    ));
                    "waits for room (below)".to_owned()
                }
                StepOutcome::WouldFail(e) => {
                    fails += 1;
                    problems.push(Problem::cache(registry, e.clone()));
                    "fails (below)".to_owned()
                }
                _ => "unknown".to_owned(),
            };
            table.row(vec![
                label,
                model,
                if matches!(step.outcome, StepOutcome::WouldFail(_)) {
                    "-".into()
                } else {
                    format_bytes(step.bytes)
                },
                outcome,
                format_bytes(step.charged_after),
            ]);
            if step.component_of.is_none() {
                break;
            }
        }
    }
    table.print();
    output::out("");
    let kept = if hold {
        "with every model kept in use (--hold)"
    } else {
        "with each model idle after its step, as `load` leaves it"
    };
    if waits + fails + unplanned == 0 {
        output::out(format_args!(
            "fits {kept}: every step is served without waiting; {evictions} eviction(s) \
             within a budget of {}",
            format_bytes(cache.budget())
        ));
    } else {
        let unplanned = match unplanned {
            0 => String::new(),
            n => format!(", {n} not planned (a configuration problem)"),
        };
        output::out(format_args!(
            "does not fit {kept}: {waits} step(s) would wait, {fails} would fail{unplanned}"
        ));
    }
    opened.finish(problems)
}
