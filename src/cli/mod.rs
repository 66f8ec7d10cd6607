//! Parsing arguments and dispatching to the commands. Every command returns `Ok(())` or a
//! [`Failure`], which [`report::print`] writes and whose code is the exit status (the README
//! lists the codes; [`report`] defines them).
#![deny(clippy::print_stdout, clippy::print_stderr)] // all output goes through `output`

mod args;
mod bench;
mod check;
mod load;
mod output;
mod plan;
mod report;
mod setup;
mod sharing;

use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command};
pub use report::Failure;

pub fn main() -> ExitCode {
    let args = Args::parse();
    setup::logging(args.verbose);
    let result = match &args.command {
        Command::Check => check::check(&args),
        Command::Ls => check::ls(&args),
        Command::Plan { ids, hold } => plan::plan(&args, ids, *hold),
        Command::Load { ids } => load::load(&args, ids),
        Command::Bench(opts) => bench::bench(&args, opts),
        Command::Fixtures { out, scale, seed } => {
            setup::fixtures(&args, out.as_deref(), *scale, *seed)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report::print(&failure);
            ExitCode::from(failure.code())
        }
    }
}
