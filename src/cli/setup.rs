//! Logging, opening a config (generating the bundled fixtures first if needed), and the
//! `fixtures` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use modelcache::registry::{Config, Registry, RegistryError};
use modelcache_core::{Budget, format_bytes};

use super::Failure;
use super::args::Args;
use super::output;

/// Where the bundled models.toml expects its generated checkpoints, beside the config.
pub const BUNDLE_DIR: &str = "models/generated";
/// The seed of the bundled checkpoints.
pub const BUNDLE_SEED: u64 = 2024;
/// The target size of each bundled model folder: big enough for load times worth measuring,
/// small enough to generate in a second or two.
pub const BUNDLE_SCALE: u64 = 64 << 20;

pub fn logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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

/// Reads the config, generates bundled fixtures if needed, and builds the registry. Failures
/// to read, parse or build the config exit with [`EXIT_CONFIG`](super::EXIT_CONFIG).
pub fn open(args: &Args) -> Result<Registry, Failure> {
    let config = read_config(args)?;
    let backends = modelcache::backends_for(&config).map_err(Failure::config)?;
    Registry::build(&backends, &config).map_err(Failure::config)
}

pub fn read_config(args: &Args) -> Result<Config, Failure> {
    let config = Config::from_file(&args.config).map_err(|e| with_hint(args, e))?;
    ensure_fixtures(&config)?;
    Ok(config)
}

/// Builds a registry from the models that can be built, returning the errors of the others
/// (unknown backends, bad options) so that `check` reports every problem at once.
pub fn open_lenient(args: &Args) -> Result<(Registry, Vec<RegistryError>), Failure> {
    let mut config = read_config(args)?;
    let backends = modelcache::backends_for(&config).map_err(Failure::config)?;
    let mut skipped = Vec::new();
    loop {
        match Registry::build(&backends, &config) {
            Ok(r) => return Ok((r, skipped)),
            Err(e) => {
                let model = match &e {
                    RegistryError::UnknownBackend { model, .. }
                    | RegistryError::Options { model, .. } => model.clone(),
                    _ => return Err(Failure::config(e)),
                };
                config.models.remove(&model);
                skipped.push(e);
            }
        }
    }
}

fn with_hint(args: &Args, e: modelcache::registry::ConfigError) -> Failure {
    let failure = Failure::config(e);
    if args.config.exists() {
        return failure;
    }
    failure.hint(
        "run from the repository root (where the bundled models.toml is), or pass --config FILE",
    )
}

pub fn fixtures(
    args: &Args,
    out: Option<&Path>,
    scale: Option<&str>,
    seed: u64,
) -> Result<ExitCode, Failure> {
    let root = out.map_or_else(|| bundle_root(&args.config), Path::to_path_buf);
    let scale = match scale {
        None => Some(BUNDLE_SCALE),
        Some("tiny") => None,
        Some(text) => match text
            .parse::<Budget>()
            .map_err(|e| format!("--scale: {e}"))?
        {
            Budget::Bytes(0) => None,
            Budget::Bytes(b) => Some(b),
            Budget::Percent(_) => {
                return Err("--scale: give a size such as 64MiB, or `tiny`".into());
            }
        },
    };
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
    Ok(ExitCode::SUCCESS)
}

/// The configured models in the order the file lists them.
pub fn in_file_order(registry: &Registry) -> Vec<&modelcache::registry::ModelEntry> {
    let mut models: Vec<_> = registry.models().collect();
    models.sort_by_key(|m| (m.at.line, m.at.column));
    models
}
