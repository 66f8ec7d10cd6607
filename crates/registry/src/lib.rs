//! # modelcache-registry
//!
//! Users describe their models in a models.toml; model families are crates. This crate turns
//! the one into a [`ModelCache`](modelcache_core::ModelCache) served by the other:
//!
//! * [`Config`]: models.toml parsed once into typed values (bytes, durations, resolved paths).
//!   Unknown keys are errors with file, line and column; so are bad sizes and durations,
//!   which say which value and why.
//! * [`Backends`]: the backends a config can name. Built-in plugins are registered by the
//!   facade crate, a user crate registers its own in one line
//!   (`backends.register(MyBackend::default())`), and dynamic plugins are loaded from
//!   `[plugins] paths`. A plugin crate needs modelcache-core alone
//!   ([`modelcache_backend::declare_plugin!`]); see the [`plugin`] module for the rules it follows.
//! * [`Registry`]: the cache built from both. Every model's options are deserialized by its
//!   backend's own options type when the registry is built, so bad options fail at startup.
//!   Missing checkpoints are reported by [`Registry::check`], not at parse time, so a config
//!   with one missing model still serves the others.
//! * Components: a model's `uses = { role = "ID" }` names the entries that provide its parts
//!   (one T5 for Flux and LTX, loaded and charged once). Unknown IDs, self-uses and cycles are
//!   located errors when the file is read, a role the backend does not take when the registry
//!   is built; a model whose folder for a role is, symlinks resolved, another entry's folder
//!   uses that entry without a `uses` line. Models are registered components first. The rules
//!   of that discovery, and why copies in other folders are not found and no entry is made up,
//!   are in the [`sharing`] module; [`UseOrigin`] says how each use was found.
//!
//! ```toml
//! [cache]
//! budget = "24GiB"          # or "80%" of physical memory, or 0; MODELCACHE_BUDGET overrides
//! load_timeout = "2m"       # how long a request waits for room before failing
//! keep_alive = "30m"        # default idle time before an unpinned model is unloaded; omit = never
//! allow_oversized = false   # admit a lone model larger than its budget
//!
//! [models.flux-schnell]
//! backend = "flux"
//! path = "models/flux-schnell"   # relative to this file's folder; ~ and $VARS expanded
//! pin = false
//! keep_alive = "10m"             # or "0s" (unload when idle), or "never" (ignore the default)
//! size = "12GiB"                 # optional: overrides the backend's memory hint
//! options = { components = ["transformer", "vae"], dtype = "bf16" }
//! device = "cuda:0"              # optional: loaded onto this device, charged against it only
//! uses = { text_encoder_2 = "t5-xxl" }   # optional: parts other entries provide
//!
//! [models.kokoro]
//! backend = "kokoro"
//! path = "models/kokoro"
//! device = "cuda:0"
//! demote = true                  # evicted from the device for room, it waits in host memory
//!
//! [models.t5-xxl]
//! backend = "safetensors"
//! path = "models/t5-xxl"
//! pool = "encoders"              # optional: also counts against this pool's budget
//!
//! [pools.encoders]
//! budget = "16GiB"
//!
//! [devices."cuda:0"]
//! budget = "80GiB"               # a device's memory; [cache] budget is host memory's
//!
//! [plugins]
//! paths = ["plugins/libmy_backend.so"]
//! ```
//!
//! ```
//! use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
//! use modelcache_registry::{Backends, Config, Registry};
//!
//! /// A toy model family: its "checkpoint" is its options.
//! struct Greeter;
//!
//! #[derive(Default, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct GreeterOptions {
//!     greeting: String,
//! }
//!
//! impl Backend for Greeter {
//!     type Options = GreeterOptions;
//!     type Model = String;
//!     type Plan = String; // the greeting, ready to hand over
//!     fn name(&self) -> &str {
//!         "greeter"
//!     }
//!     fn open(&self, src: &ModelSource<'_, GreeterOptions>) -> Result<Opened<String>, BackendError> {
//!         let text = format!("{}, {}", src.options.greeting, src.id);
//!         let bytes = text.len() as u64;
//!         Ok(Opened::new(text, Inspection::of_bytes(bytes)))
//!     }
//!     fn load(&self, text: String, _limit: u64, _: &dyn LoadProgress) -> Result<String, BackendError> {
//!         Ok(text)
//!     }
//! }
//!
//! let config = Config::parse(
//!     r#"
//!     [cache]
//!     budget = "1MiB"
//!
//!     [models.world]
//!     backend = "greeter"
//!     path = "models/world"
//!     options = { greeting = "Hello" }
//!     "#,
//!     "/etc/modelcache/models.toml",
//! )?;
//! let backends = Backends::new().with(Greeter); // one line per backend
//! let registry = Registry::build(&backends, &config)?;
//!
//! let world = registry.model("world").ok_or("not configured")?;
//! assert_eq!(world.path, std::path::Path::new("/etc/modelcache/models/world"));
//! let model = registry.get::<String>("world")?;
//! assert_eq!(*model.lock(), "Hello, world");
//! // Asking for the wrong type is an error naming both types.
//! assert!(registry.get::<Vec<u8>>("world").is_err());
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod backends;
mod check;
pub mod config;
mod dynamic;
mod error;
mod order;
pub mod plugin;
mod registry;
pub mod sharing;
mod sized;

pub use backends::{Backends, Origin};
pub use check::{CheckProblem, CheckReport, ModelCheck};
pub use config::budget::{BUDGET_ENV, Budget, BudgetError, parse_size, physical_memory};
pub use config::{
    CacheConfig, Config, KeepAlive, Location, MAX_CONFIG_LEN, ModelConfig, PluginPath,
    PluginsConfig, PoolConfig, UseConfig, parse_duration,
};
pub use error::{ConfigError, PluginError, RegistryError};
/// Re-exported from the contract crate, modelcache-backend, where plugins find it.
pub use modelcache_backend::declare_plugin;
pub use plugin::PluginInfo;
pub use registry::{ModelEntry, Registry};
pub use sharing::{ModelUse, SharedComponent, SharingBytes, UseOrigin};
