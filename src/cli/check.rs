//! `check`, `ls` and `plan`: everything that looks without loading.

use std::process::ExitCode;

use modelcache_core::{CacheError, StepOutcome, format_bytes};

use super::Failure;
use super::args::Args;
use super::output::{self, Table};
use super::setup::{open, open_lenient};

fn yes_no(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_owned()
}

pub fn check(args: &Args) -> Result<ExitCode, Failure> {
    let (registry, skipped) = open_lenient(args)?;
    let cache = registry.cache();
    output::out(format_args!(
        "{}: {} models, budget {}{}",
        registry.file().display(),
        registry.models().count() + skipped.len(),
        format_bytes(cache.budget()),
        pools_text(&registry),
    ));
    let report = registry.check();
    let mut table = Table::new(&[
        "model", "backend", "layout", "files", "tensors", "hint", "fits", "path",
    ]);
    let mut problems = Vec::new();
    for row in &report.models {
        let (layout, files, tensors) = match &row.inspection {
            Some(i) => (
                i.layout.clone().unwrap_or_else(|| "-".into()),
                if i.files.is_empty() {
                    "-".into()
                } else {
                    i.files.len().to_string()
                },
                i.tensors.map_or_else(|| "-".into(), |t| t.to_string()),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let fits = row.problem.is_none() && row.bytes.is_some();
        table.row(vec![
            row.id.clone(),
            row.backend.clone(),
            layout,
            files,
            tensors,
            row.bytes.map_or_else(|| "-".into(), format_bytes),
            yes_no(fits),
            row.path.display().to_string(),
        ]);
        if let Some(p) = &row.problem {
            problems.push(format!(
                "{}: model {:?} ({}): {p}",
                row.at,
                row.id,
                row.path.display()
            ));
        }
    }
    table.print();
    for e in &skipped {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        output::out("");
        output::out(format_args!("all {} models OK", report.models.len()));
        return Ok(ExitCode::SUCCESS);
    }
    output::err("");
    output::err(format_args!("{} problem(s):", problems.len()));
    for p in &problems {
        output::err(format_args!("  - {p}"));
    }
    Ok(ExitCode::from(super::EXIT_PROBLEM))
}

fn pools_text(registry: &modelcache::registry::Registry) -> String {
    if registry.pools().is_empty() {
        return String::new();
    }
    let pools: Vec<String> = registry
        .pools()
        .iter()
        .map(|(n, b)| format!("{n} {}", format_bytes(*b)))
        .collect();
    format!(", pools: {}", pools.join(", "))
}

pub fn ls(args: &Args) -> Result<ExitCode, Failure> {
    let registry = open(args)?;
    output::out(format_args!(
        "{}: budget {}{}",
        registry.file().display(),
        format_bytes(registry.cache().budget()),
        pools_text(&registry)
    ));
    let mut table = Table::new(&[
        "model",
        "backend",
        "pin",
        "keep-alive",
        "size",
        "pool",
        "path",
    ]);
    for m in super::setup::in_file_order(&registry) {
        table.row(vec![
            m.id.clone(),
            m.backend.clone(),
            yes_no(m.policy.pin),
            m.policy.keep_alive.map_or_else(
                || "never".into(),
                |d| humantime::format_duration(d).to_string(),
            ),
            m.policy.size.map_or_else(|| "hint".into(), format_bytes),
            m.policy.pool.clone().unwrap_or_else(|| "-".into()),
            m.path.display().to_string(),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

pub fn plan(args: &Args, ids: &[String]) -> Result<ExitCode, Failure> {
    let registry = open(args)?;
    if let Some(e) = ids.iter().find_map(|id| unknown(&registry, id)) {
        return Err(e);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let plan = registry.cache().plan(&ids)?;
    let mut table = Table::new(&["model", "needs", "outcome"]);
    for step in &plan.steps {
        let outcome = match &step.outcome {
            StepOutcome::Resident => "resident (a hit)".to_owned(),
            StepOutcome::Loading => "loading (would join)".to_owned(),
            StepOutcome::Load { evicts } if evicts.is_empty() => "load; evicts nothing".to_owned(),
            StepOutcome::Load { evicts } => {
                let v: Vec<String> = evicts
                    .iter()
                    .map(|h| format!("{} ({})", h.id, format_bytes(h.bytes)))
                    .collect();
                format!("load; evicts {}", v.join(", "))
            }
            StepOutcome::WouldWait { pool, holders } => {
                let v: Vec<String> = holders.iter().map(ToString::to_string).collect();
                format!(
                    "would wait for room in {}: held by {}",
                    pool.as_deref().unwrap_or("the budget"),
                    v.join(", ")
                )
            }
            StepOutcome::Uncached => "load; not retained (the budget is 0)".to_owned(),
            StepOutcome::WouldFail(e) => format!("would fail: {e}"),
            _ => "unknown".to_owned(),
        };
        table.row(vec![step.id.clone(), format_bytes(step.bytes), outcome]);
    }
    table.print();
    let fits = plan.fits();
    output::out("");
    output::out(if fits {
        "fits"
    } else {
        "does not fit without waiting"
    });
    Ok(if fits {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_PROBLEM)
    })
}

/// Shared by `plan` and `load`: a usage error for a model that is not configured, listing
/// the known ones.
pub fn unknown(registry: &modelcache::registry::Registry, id: &str) -> Option<Failure> {
    if registry.model(id).is_some() {
        return None;
    }
    let known: Vec<&str> = registry.models().map(|m| m.id.as_str()).collect();
    Some(Failure::usage(format!(
        "{}; configured: {}",
        CacheError::UnknownModel { id: id.into() },
        known.join(", ")
    )))
}
