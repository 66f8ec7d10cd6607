//! `check` and `ls`: what the configuration says, without loading anything.

use modelcache::registry::{CheckProblem, ModelCheck, Registry};
use modelcache_core::format_bytes;

use super::Failure;
use super::args::Args;
use super::output::{self, Table};
use super::report::{EXIT_PROBLEM, Problem, room_advice};
use super::setup::{Opened, in_file_order, open};
use super::sharing;

fn yes_no(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_owned()
}

/// Every problem of the configuration and of every model's checkpoint, in one run.
pub fn check(args: &Args) -> Result<(), Failure> {
    let opened = open(args, true)?;
    let registry = &opened.registry;
    let budget = if opened.budget_known {
        format_bytes(registry.cache().budget())
    } else {
        "unknown (see the problems below)".to_owned()
    };
    let configured = registry.models().count() + opened.left_out.len();
    let left_out = match opened.left_out.len() {
        0 => String::new(),
        n => format!(" ({n} left out: see the problems below)"),
    };
    output::out(format_args!(
        "{}: {configured} models{left_out}, budget {budget}{}",
        registry.file().display(),
        pools_text(registry),
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
        table.row(vec![
            row.id.clone(),
            row.backend.clone(),
            layout,
            files,
            tensors,
            row.bytes.map_or_else(|| "-".into(), format_bytes),
            fits(&opened, row),
            row.path.display().to_string(),
        ]);
        if let Some(p) = &row.problem {
            problems.push(row_problem(registry, row, p));
        }
    }
    table.print();
    let shared = sharing::lines(registry, Some(&report.shared));
    if !shared.is_empty() {
        output::out("");
        shared.iter().for_each(output::out);
    }
    if problems.is_empty() && opened.problems.is_empty() {
        output::out("");
        output::out(format_args!("all {} models OK", report.models.len()));
    }
    // Configuration and checkpoint problems together, in the order of the file.
    let mut all = opened.problems;
    all.extend(problems);
    Problem::in_file_order(&mut all);
    Failure::of(all)
}

/// The `fits` column: as a request for the model alone would go (`plan ID` says the same).
fn fits(opened: &Opened, row: &ModelCheck) -> String {
    match &row.problem {
        Some(CheckProblem::TooLarge { .. }) => "no".into(),
        Some(_) => "-".into(),
        None if !opened.budget_known => "?".into(),
        // A budget of 0 retains nothing: the model loads for each request and is not kept.
        None if opened.registry.cache().budget() == 0 => "yes, not kept".into(),
        None => "yes".into(),
    }
}

fn row_problem(registry: &Registry, row: &ModelCheck, problem: &CheckProblem) -> Problem {
    let text = format!(
        "{}: model {:?} ({}): {problem}",
        row.at,
        row.id,
        row.path.display()
    );
    let hint = match problem {
        CheckProblem::TooLarge { pool, .. } => Some(room_advice(
            registry,
            &row.id,
            row.bytes.unwrap_or(0),
            pool.as_deref(),
        )),
        CheckProblem::Missing => Some(format!(
            "put the checkpoint there, or change `path` in [models.{}] (a relative path is \
             relative to the folder of {})",
            row.id,
            registry.file().display()
        )),
        _ => None,
    };
    Problem::new(text, EXIT_PROBLEM)
        .hint(hint)
        .at(Some(&row.at))
}

pub fn pools_text(registry: &Registry) -> String {
    let list = |what: &str, scopes: &[(String, u64)]| {
        if scopes.is_empty() {
            return String::new();
        }
        let scopes: Vec<String> = scopes
            .iter()
            .map(|(n, b)| match *b {
                // A budget that is invalid is kept unlimited (the problem says why).
                u64::MAX => format!("{n} unlimited"),
                b => format!("{n} {}", format_bytes(b)),
            })
            .collect();
        format!(", {what}: {}", scopes.join(", "))
    };
    list("pools", registry.pools()) + &list("devices", registry.devices())
}

pub fn ls(args: &Args) -> Result<(), Failure> {
    let opened = open(args, false)?;
    let registry = &opened.registry;
    output::out(format_args!(
        "{}: budget {}{}",
        registry.file().display(),
        format_bytes(registry.cache().budget()),
        pools_text(registry)
    ));
    let mut table = Table::new(&[
        "model",
        "backend",
        "pin",
        "keep-alive",
        "size",
        "pool/device",
        "path",
    ]);
    for m in in_file_order(registry) {
        table.row(vec![
            m.id.clone(),
            m.backend.clone(),
            yes_no(m.policy.pin),
            m.policy.keep_alive.map_or_else(
                || "never".into(),
                |d| humantime::format_duration(d).to_string(),
            ),
            m.policy.size.map_or_else(|| "hint".into(), format_bytes),
            match (&m.policy.pool, &m.policy.device) {
                (Some(pool), _) => pool.clone(),
                (None, Some(device)) if m.policy.demote => format!("{device} (demotes)"),
                (None, Some(device)) => device.clone(),
                (None, None) => "-".into(),
            },
            m.path.display().to_string(),
        ]);
    }
    table.print();
    let shared = sharing::lines(registry, None);
    if !shared.is_empty() {
        output::out("");
        shared.iter().for_each(output::out);
    }
    opened.finish(Vec::new())
}
