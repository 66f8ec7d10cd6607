//! # modelcache-backend
//!
//! The contract between modelcache and a model family, and nothing else: a plugin depends on
//! this crate alone, and the cache (`modelcache-core`) builds on it.
//!
//! * [`Backend`]: three required items. [`open`](Backend::open) reads a checkpoint's headers
//!   into a plan that knows the bytes the model will hold; [`load`](Backend::load) loads that
//!   same plan. The cache reserves the plan's bytes between the two, so the size a user is
//!   shown, the size reserved and the size loaded agree by construction.
//! * [`BackendError`]: typed errors that name the file (and tensor) at fault.
//! * [`LoadProgress`]: progress in bytes; the cache starts and finishes it, a backend advances it.
//! * The type-erased layer the cache and registries hold: [`DynBackend`], [`ModelLoader`],
//!   [`OpenedModel`], [`Loaded`]; and [`FnLoader`] for models made of closures.
//! * Tiers, optional: a backend that implements [`Backend::demote`] and [`Backend::promote`]
//!   lets the cache move a model evicted from a device into host memory instead of unloading
//!   it, and back on the next request ([`ModelLoader::relocate`]).
//! * The dynamic plugin ABI: [`declare_plugin!`] and the [`plugin`] module. A dynamic plugin is
//!   checked against [`CONTRACT_VERSION`], this crate's version, so a change to the cache does
//!   not refuse plugins already built.
//!
//! ```
//! use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
//!
//! /// A model family whose "checkpoint" is one file read whole.
//! struct Bytes;
//!
//! impl Backend for Bytes {
//!     type Options = ();
//!     type Model = Vec<u8>;
//!     type Plan = std::path::PathBuf;
//!
//!     fn name(&self) -> &str {
//!         "bytes"
//!     }
//!
//!     fn open(&self, source: &ModelSource<'_, ()>) -> Result<Opened<Self::Plan>, BackendError> {
//!         let len = std::fs::metadata(source.path)
//!             .map_err(|e| BackendError::io(source.path, e))?
//!             .len();
//!         Ok(Opened::new(source.path.to_path_buf(), Inspection::of_bytes(len)))
//!     }
//!
//!     fn load(&self, path: Self::Plan, limit: u64, progress: &dyn LoadProgress)
//!         -> Result<Vec<u8>, BackendError> {
//!         let data = std::fs::read(&path).map_err(|e| BackendError::io(&path, e))?;
//!         if data.len() as u64 > limit {
//!             return Err(BackendError::invalid(&path, "grew since it was opened"));
//!         }
//!         progress.advance(data.len() as u64);
//!         Ok(data)
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

mod backend;
mod closure;
mod erased;
mod error;
mod inspection;
mod loaded;
pub mod plugin;
mod progress;
mod shown;
mod tiers;

/// The version of this contract: a dynamic plugin must be built against the same one.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub use backend::{Backend, BackendExt, Component, ModelSource, Opened};
pub use closure::FnLoader;
pub use erased::{BackendModel, DynBackend, ModelLoader, OpenedModel, open_and_load};
pub use erased_serde;
pub use error::BackendError;
pub use inspection::Inspection;
pub use loaded::{Loaded, LoadedParts};
pub use progress::{LoadProgress, NoProgress};
pub use shown::{Shown, shown};
pub use tiers::{ModelValue, Move};
