//! The command line's arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// The models file read when neither --config nor MODELCACHE_CONFIG says another.
pub const DEFAULT_CONFIG: &str = "models.toml";

/// Keep inference models resident under one memory budget: check, plan, load and benchmark
/// the models of a models.toml.
#[derive(Debug, Parser)]
#[command(name = "modelcache", version, about)]
pub struct Args {
    /// The models file.
    #[arg(
        long,
        short,
        global = true,
        default_value = DEFAULT_CONFIG,
        env = "MODELCACHE_CONFIG"
    )]
    pub config: PathBuf,
    /// More logging (-v info, -vv debug); RUST_LOG also works.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config and inspect every model without loading it; non-zero exit if
    /// anything is wrong.
    Check,
    /// List the configured models, the budget and the pools.
    Ls,
    /// Say what loading these models in order would do, as `load` runs them (each model idle
    /// after its step, so later steps may evict it), without loading anything.
    Plan {
        /// Model IDs, in request order (a repeated ID is a hit).
        #[arg(required = true)]
        ids: Vec<String>,
        /// Plan as if the caller kept every model in use (no step evicts an earlier one).
        #[arg(long)]
        hold: bool,
    },
    /// Load models with a progress bar, then report size, hint error, time and throughput.
    Load {
        /// Model IDs.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The main job: measure every model's load and hit latency, then replay a mixed request
    /// trace under the configured budget.
    Bench(BenchOpts),
    /// Write the generated checkpoints the bundled models.toml uses.
    Fixtures {
        /// Where to write them (default: models/generated beside the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Target size of each model folder, e.g. 64MiB or 1GiB; `tiny` (or 0) for the smallest.
        #[arg(long, value_parser = scale)]
        scale: Option<Scale>,
        /// Seed of the tensor values.
        #[arg(long, default_value_t = crate::cli::setup::BUNDLE_SEED)]
        seed: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct BenchOpts {
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Cold loads per model (the median is reported), 1 to 1000.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub load_runs: u32,
    /// Hit samples per model, 1 to 10,000,000.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub hit_samples: u32,
    /// Requests in the replayed trace, 1 to 10,000,000.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub requests: u32,
    /// Concurrent clients (threads) replaying it, 1 to 256.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Seed of the trace.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Zipf skew of the trace toward the first models: 0 (uniform) to 10.
    #[arg(long, default_value_t = 1.1, value_parser = skew)]
    pub skew: f64,
    /// How long each request of the trace holds its model, e.g. 200us, 5ms; at most 60s.
    #[arg(long, default_value = "200us", value_parser = hold)]
    pub hold: Duration,
    /// Requests of the eviction-policy comparison (replayed in simulated time), 1 to 10,000,000.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub policy_requests: u32,
    /// Write the cache's state and counters after the run to FILE, in the Prometheus text
    /// exposition format (what a fleet's router scrapes; see docs/fleet.md). The counters cover
    /// the whole run: the per-model measurements, the clear before the trace, and the trace.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

/// The size of generated fixtures: `None` for the smallest (`tiny`).
#[derive(Debug, Clone, Copy)]
pub struct Scale(pub Option<u64>);

fn scale(text: &str) -> Result<Scale, String> {
    if text.trim().eq_ignore_ascii_case("tiny") {
        return Ok(Scale(None));
    }
    match modelcache_registry::parse_size(text) {
        Ok(0) => Ok(Scale(None)),
        Ok(bytes) => Ok(Scale(Some(bytes))),
        Err(e) => Err(format!("{e}; or `tiny`")),
    }
}

fn skew(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=10.0).contains(&v) => Ok(v),
        Ok(_) => Err(format!("{text} is not in 0..=10")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

fn hold(text: &str) -> Result<Duration, String> {
    let d = modelcache::registry::parse_duration(text)?;
    if d > Duration::from_secs(60) {
        return Err(format!("{text:?} is longer than 60s"));
    }
    Ok(d)
}
