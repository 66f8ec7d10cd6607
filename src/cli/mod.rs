//! Parsing arguments and dispatching to the commands.
//!
//! Exit codes (the README lists them): 0 success; 1 a model problem (`check` found one, a
//! load failed, a plan does not fit, a request of the bench trace failed); 2 a usage error
//! (bad arguments, from clap, or a model ID the config does not have); 3 the configuration
//! could not be read, parsed or built.
#![deny(clippy::print_stdout, clippy::print_stderr)] // all output goes through `output`

mod args;
mod bench;
mod check;
mod load;
mod output;
mod setup;

use std::process::ExitCode;

use clap::Parser;

use args::{Args, Command};

/// A model problem: `check` found one, a load failed, a plan does not fit.
pub const EXIT_PROBLEM: u8 = 1;
/// A usage error: bad arguments (clap exits with 2 itself), or an unknown model ID.
pub const EXIT_USAGE: u8 = 2;
/// The configuration could not be read, parsed or built.
pub const EXIT_CONFIG: u8 = 3;

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
        Err(failure) => {
            output::err(format_args!("error: {}", failure.error));
            let mut source = std::error::Error::source(&*failure.error);
            while let Some(s) = source {
                output::err(format_args!("  caused by: {s}"));
                source = s.source();
            }
            if let Some(hint) = &failure.hint {
                output::err(format_args!("  hint: {hint}"));
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Why a command failed: an error a person can act on, the exit code that says what kind of
/// failure it is, and maybe a hint. Any error converts into a model problem
/// ([`EXIT_PROBLEM`]); [`config`](Failure::config) and [`usage`](Failure::usage) say otherwise.
pub struct Failure {
    error: Box<dyn std::error::Error + Send + Sync>,
    code: u8,
    hint: Option<String>,
}

impl Failure {
    /// The configuration could not be read, parsed or built ([`EXIT_CONFIG`]).
    pub fn config(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::with_code(error, EXIT_CONFIG)
    }

    /// The arguments are wrong ([`EXIT_USAGE`]).
    pub fn usage(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::with_code(error, EXIT_USAGE)
    }

    fn with_code(error: impl Into<Box<dyn std::error::Error + Send + Sync>>, code: u8) -> Self {
        Self {
            error: error.into(),
            code,
            hint: None,
        }
    }

    /// Adds a line saying what to try.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::with_code(error, EXIT_PROBLEM)
    }
}
