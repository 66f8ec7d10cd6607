//! # modelcache-example-plugin
//!
//! A model-family backend written as an out-of-tree crate would be, used two ways:
//!
//! * **Linked in:** depend on this crate and register its backend in one line,
//!   `backends.register(ExampleBackend)`.
//! * **Dynamic:** build it as a `cdylib` (`cargo build -p modelcache-example-plugin`) and list
//!   the library in models.toml's `[plugins] paths`. [`declare_plugin!`] below exports the entry
//!   points; the program refuses the library if its compiler or its contract version
//!   (modelcache-backend's) differs. Like any plugin it depends on the contract crate,
//!   modelcache-backend, not on the cache; and on serde for its options and modelcache-files
//!   to open `model.txt` (a file a stranger wrote may be a FIFO or huge).
//!
//! Its "checkpoint" is a folder holding `model.txt`, and the model is that text (options can
//! upper-case and repeat it), so it loads in microseconds in tests.
//!
//! ```toml
//! [models.hello]
//! backend = "example"
//! path = "models/hello"              # holds model.txt
//! options = { uppercase = true, repeat = 2 }
//! ```
//!
//! The `pretend-mismatch` feature (tests only) declares a contract version no program
//! has, to prove that a mismatched plugin is refused.
//!
//! [`declare_plugin!`]: modelcache_backend::declare_plugin
#![warn(missing_docs)]
// Not `forbid`: `declare_plugin!` exports `#[unsafe(no_mangle)]` symbols.
#![deny(unsafe_code)]

mod backend;
mod options;

pub use backend::{ExampleBackend, ExamplePlan, MODEL_FILE};
pub use options::ExampleOptions;

#[cfg(not(feature = "pretend-mismatch"))]
modelcache_backend::declare_plugin!(ExampleBackend);

#[cfg(feature = "pretend-mismatch")]
modelcache_backend::declare_plugin!(@contract_version "0.0.0-pretend"; ExampleBackend);
