//! # modelcache-reliability
//!
//! How modelcache behaves on bad input and under faults, checked three ways; this crate ships
//! no product code, only the harness the checks share and the checks themselves.
//!
//! * **Parsers never panic, and every error names the file** (`tests/parsers.rs`): proptest
//!   feeds arbitrary and mutated bytes to the safetensors header parser, arbitrary JSON to the
//!   shard index reader, TOML-ish text to models.toml parsing, and overwrites files of generated
//!   checkpoints before each backend's hint and load. The same cases run under libFuzzer in
//!   `fuzz/` (nightly-only instrumentation, see `scripts/fuzz`); CI runs the bounded proptest
//!   version on stable.
//! * **Faults through the real paths** (`tests/faults.rs`): a [`ModelCache`] with the real
//!   backends registered, and checkpoint files truncated, deleted or made unreadable between
//!   the hint and the load, loaders that fail, panic or stall. Each gives a typed error naming
//!   the model and the file, the cache keeps serving, and no byte stays charged.
//! * **Hostile files** (`tests/hostile.rs`): a voice pack swapped for one whose header claims
//!   100 GiB, once after the hint and over and over while loads run ([`race`]); FIFOs and
//!   links out of the model folder where a backend reads a file. Typed errors only: no abort,
//!   no hang, no allocation past what the cache reserved.
//! * **Memory comes back** (`tests/soak.rs`, `scripts/soak` for the long run): models loaded
//!   and evicted for hundreds of cycles under a budget that holds two of three, with the
//!   process's resident memory ([`rss`]) sampled after each load.
//!
//! The harness is shared so that the fuzzer and the property tests run the same cases, and
//! they take each plugin from one place, the conformance suite it registers in its
//! `tests/suite/mod.rs` ([`Plugin`]): [`Fixture`] writes that suite's cases once and overwrites
//! one file per case, and [`Fixture::check`] runs the suite's backend with the options its
//! selector picks and checks its promises ([`probe::hint_and_load`]).
//!
//! ```
//! use modelcache_reliability::{Case, Fixture, Outcome, Plugin};
//!
//! let fixture = Fixture::tiny(Plugin::Kokoro)?;
//! // File 0 is config.json: replace it with something that is not JSON.
//! let case = Case { file: 0, options: 0, bytes: b"{\"n_token\": " };
//! match fixture.check(&case)? {
//!     Outcome::Refused { error } => assert!(error.contains("config.json"), "{error}"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`ModelCache`]: modelcache_core::ModelCache
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod fixture;
mod fuzz;
pub mod inventory;
pub mod probe;
pub mod race;
pub mod rss;
mod suites;

pub use fixture::{Case, Fixture, Mode, Overwritten};
pub use fuzz::fuzz_plugin;
pub use probe::{Failure, Outcome};
pub use suites::Plugin;
