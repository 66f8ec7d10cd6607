//! Parsing arguments and dispatching to the commands.

mod args;
mod bench;
mod check;
mod load;
mod output;
mod setup;

use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command};

pub fn main() -> ExitCode {
    let args = Args::parse();
    setup::logging(args.verbose);
    let result = match &args.command {
        Command::Check => check::check(&args),
        Command::Ls => check::ls(&args),
        Command::Plan { ids } => check::plan(&args, ids),
        Command::Load { ids } => load::load(&args, ids),
        Command::Bench(opts) => bench::bench(&args, opts),
        Command::Fixtures { out, scale, seed } => {
            setup::fixtures(&args, out.as_deref(), scale.as_deref(), *seed)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&*e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}

/// The commands' error type: anything with a message a person can act on.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;
