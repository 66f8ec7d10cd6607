//! The command line's arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
        default_value = "models.toml",
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
    /// Say what loading these models (in order) would evict, and whether they fit, without
    /// loading anything.
    Plan {
        /// Model IDs.
        #[arg(required = true)]
        ids: Vec<String>,
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
        /// Target size of each model folder, e.g. 64MiB or 1GiB; `tiny` for the smallest.
        #[arg(long)]
        scale: Option<String>,
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
    /// Cold loads per model (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub load_runs: usize,
    /// Hit samples per model.
    #[arg(long, default_value_t = 2000)]
    pub hit_samples: usize,
    /// Requests in the replayed trace.
    #[arg(long, default_value_t = 400)]
    pub requests: usize,
    /// Concurrent clients replaying it.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Seed of the trace.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Zipf skew of the trace toward the first models (0 = uniform).
    #[arg(long, default_value_t = 1.1)]
    pub skew: f64,
    /// How long each request of the trace holds its model, e.g. 200us, 5ms.
    #[arg(long, default_value = "200us")]
    pub hold: humantime::Duration,
}
