//! The `modelcache` command line: check, list, plan, load and benchmark the models of a
//! models.toml, and write the generated fixture checkpoints the bundled one uses.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
