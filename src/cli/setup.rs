//! Logging, opening a config (generating the bundled fixtures first if needed), and the
//! `fixtures` command.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use modelcache::registry::{Config, ConfigError, Registry, RegistryError};
use modelcache_core::{CacheError, ModelCache, format_bytes};
use modelcache_registry::BUDGET_ENV;

use super::Failure;
use super::args::{Args, DEFAULT_CONFIG, Scale};
use super::output;
use super::report::Problem;

/// Where the bundled models.toml expects its generated checkpoints, beside the config.
pub const BUNDLE_DIR: &str = "models/generated";
/// The seed of the bundled checkpoints.
pub const BUNDLE_SEED: u64 = 2024;
/// The target size of each bundled model folder: big enough for load times worth measuring,
/// small enough to generate in a second or two.
pub const BUNDLE_SCALE: u64 = 64 << 20;

/// Logs to standard error. A failed load is not logged below `-vv`: the command reports it
/// itself, once. Colour only on a terminal, and never with `NO_COLOR` set.
pub fn logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,modelcache::load=off",
        1 => "info,modelcache::load=off",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Whether to colour what is written to a stream: it is a `terminal`, and `NO_COLOR` is unset
/// or empty (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

fn bundle_root(config: &Path) -> PathBuf {
    config
        .parent()
        .map_or_else(|| PathBuf::from(BUNDLE_DIR), |d| d.join(BUNDLE_DIR))
}

/// Generates the bundled checkpoints if the config uses them and they are missing or stale.
fn ensure_fixtures(config: &Config) -> Result<(), Failure> {
    let root = bundle_root(&config.file);
    let mut bundled = config.models.values().filter(|m| m.path.starts_with(&root));
    // Present = written completely (the marker is written last) with every configured folder;
    // a bundle written at another scale (`modelcache fixtures --scale`) is kept as it is.
    let marker = root.join(modelcache_testkit::MARKER_FILE);
    let present = marker.is_file() && bundled.clone().all(|m| m.path.exists());
    if bundled.next().is_none() || present {
        return Ok(());
    }
    output::err(format_args!(
        "Generating the bundled checkpoints in {} (first run; about {} per model)...",
        root.display(),
        format_bytes(BUNDLE_SCALE)
    ));
    let start = Instant::now();
    let report = modelcache_testkit::write_bundle(&root, BUNDLE_SEED, Some(BUNDLE_SCALE))
        .map_err(|e| format!("writing the bundled checkpoints to {}: {e}", root.display()))?;
    output::err(format_args!(
        "Generated {} in {:.1?}.",
        format_bytes(report.file_bytes()),
        start.elapsed()
    ));
    Ok(())
}

/// A registry of the models that could be built, and the problems of the others.
pub struct Opened {
    pub registry: Registry,
    /// Configuration problems: of the file, of models (left out of the registry), of plugins.
    pub problems: Vec<Problem>,
    /// Models the file configures that are not in the registry, because of a problem above.
    pub left_out: BTreeSet<String>,
    /// Whether the budget is the configured one (`check` goes on past a bad budget, with none).
    pub budget_known: bool,
}

impl Opened {
    /// Whether `id` is configured, in the registry or left out; if not, a usage error listing
    /// the models there are.
    pub fn known(&self, id: &str) -> Result<(), Failure> {
        if self.registry.model(id).is_some() || self.left_out.contains(id) {
            return Ok(());
        }
        let mut known: Vec<&str> = self.registry.models().map(|m| m.id.as_str()).collect();
        known.extend(self.left_out.iter().map(String::as_str));
        known.sort_unstable();
        Err(Failure::usage(format!(
            "{}; configured: {}",
            CacheError::UnknownModel { id: id.into() },
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }

    /// The problems found so far and `more`, as the command's result.
    pub fn finish(self, more: Vec<Problem>) -> Result<(), Failure> {
        let mut problems = self.problems;
        problems.extend(more);
        Failure::of(problems)
    }
}

/// Reads the config (generating the bundled fixtures if it uses them) and builds a registry of
/// every model that has no problem: a model with a bad key, an unknown backend or options its
/// backend refuses is left out and reported, and the others are served.
///
/// A problem outside the model tables (the budget, a pool, a plugin, an unknown table) stops
/// every command but `check` (`lenient`), which goes on to inspect the models.
pub fn open(args: &Args, lenient: bool) -> Result<Opened, Failure> {
    let (mut config, config_problems) =
        Config::from_file_lenient(&args.config).map_err(|e| with_hint(args, e))?;
    let mut left_out: BTreeSet<String> = config_problems
        .iter()
        .filter_map(|p| p.model().map(str::to_owned))
        .collect();
    let global = config_problems.iter().any(|p| p.model().is_none());
    // A `[cache] budget` that did not parse is unset: "no budget" would say it again, wrongly.
    let budget_reported = config_problems.iter().any(|p| {
        matches!(p, ConfigError::Syntax { table: Some(t), key: Some(k), .. }
            if t == "cache" && k == "budget")
    });
    let mut problems: Vec<Problem> = config_problems
        .into_iter()
        .flat_map(Problem::config)
        .collect();
    if global && !lenient {
        return Err(stopped(problems));
    }
    ensure_fixtures(&config)?;
    let backends = match modelcache::backends_for(&config) {
        Ok(b) => b,
        Err(e) if lenient => {
            problems.extend(Problem::registry(e));
            modelcache::backends()
        }
        Err(e) => {
            problems.extend(Problem::registry(e));
            return Err(stopped(problems));
        }
    };
    let mut budget = None;
    loop {
        let built = Registry::build_with(
            &backends,
            &config,
            ModelCache::builder(),
            budget
                .as_deref()
                .or(std::env::var(BUDGET_ENV).ok().as_deref()),
        );
        match built {
            Ok(registry) => {
                Problem::in_file_order(&mut problems);
                return Ok(Opened {
                    registry,
                    problems,
                    left_out,
                    budget_known: budget.is_none(),
                });
            }
            // A model's own problem (its backend, options, registration, or uses: a role its
            // backend does not take, a model left out above): it is left out, the others served.
            Err(e) if model_of(&e).is_some() => {
                let model = model_of(&e).unwrap_or_default();
                // A use of a model left out for its own problem says so.
                let hint = match &e {
                    RegistryError::Config(ConfigError::UnknownComponent { used, .. })
                        if left_out.contains(used) =>
                    {
                        Some(format!(
                            "[models.{used}] is in the file but left out: see its own problem"
                        ))
                    }
                    _ => None,
                };
                config.models.remove(&model);
                left_out.insert(model);
                let mut these = Problem::registry(e);
                if hint.is_some() {
                    these = these.into_iter().map(|p| p.hint(hint.clone())).collect();
                }
                problems.extend(these);
            }
            // A budget that is missing or cannot be resolved: `check` inspects the models
            // without one (nothing is too large).
            Err(e) if lenient && budget.is_none() => {
                let said = budget_reported
                    && matches!(e, RegistryError::Config(ConfigError::NoBudget { .. }));
                if !said {
                    problems.extend(Problem::registry(e));
                }
                budget = Some(u64::MAX.to_string());
            }
            Err(e) => {
                problems.extend(Problem::registry(e));
                return Err(stopped(problems));
            }
        }
    }
}

/// The model a registry error is the problem of, if it is one model's.
fn model_of(e: &RegistryError) -> Option<String> {
    match e {
        RegistryError::UnknownBackend { model, .. }
        | RegistryError::Options { model, .. }
        | RegistryError::Register { model, .. } => Some(model.clone()),
        RegistryError::Config(c) => c.model().map(str::to_owned),
        _ => None,
    }
}

fn with_hint(args: &Args, e: modelcache::registry::ConfigError) -> Failure {
    let failure = Failure::config(e);
    if args.config.exists() {
        return failure;
    }
    if args.config != Path::new(DEFAULT_CONFIG) {
        return failure.hint("check the file given by --config (or MODELCACHE_CONFIG)");
    }
    failure.hint(
        "run from the repository root (where the bundled models.toml is), or pass --config FILE",
    )
}

/// The problems that stop a command before it serves any model, and a hint saying so.
fn stopped(problems: Vec<Problem>) -> Failure {
    Failure::many(problems).note(
        "a problem outside the model tables stops every command but `check`, which lists \
         every problem, the models' own included",
    )
}

pub fn fixtures(
    args: &Args,
    out: Option<&Path>,
    scale: Option<Scale>,
    seed: u64,
) -> Result<(), Failure> {
    let root = out.map_or_else(|| bundle_root(&args.config), Path::to_path_buf);
    let scale = scale.map_or(Some(BUNDLE_SCALE), |s| s.0);
    let start = Instant::now();
    let report = modelcache_testkit::write_bundle(&root, seed, scale)
        .map_err(|e| format!("writing checkpoints to {}: {e}", root.display()))?;
    for (name, model) in &report.models {
        output::out(format_args!(
            "{:<18} {:>12}  {}",
            name,
            format_bytes(model.file_bytes),
            root.join(name).display()
        ));
    }
    output::out(format_args!(
        "wrote {} in {:.1?}",
        format_bytes(report.file_bytes()),
        start.elapsed()
    ));
    Ok(())
}

/// The configured models in the order the file lists them.
pub fn in_file_order(registry: &Registry) -> Vec<&modelcache::registry::ModelEntry> {
    let mut models: Vec<_> = registry.models().collect();
    models.sort_by_key(|m| (m.at.line, m.at.column));
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}
