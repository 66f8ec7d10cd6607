//! # modelcache-core
//!
//! One cache of loaded inference models, of every model family and type, under one byte
//! budget. Model families implement the `Backend` trait of the contract crate,
//! [`modelcache_backend`] (re-exported here as [`backend`]); a plugin depends on that crate
//! alone.
//!
//! The design choices, each a fix of a flaw of the design this replaces:
//!
//! * **One cache, one budget.** Flux, LTX-Video and Kokoro share the machine's memory, so models
//!   of any type live side by side in one [`ModelCache`]; callers get typed [`Handle`]s and asking
//!   for the wrong type is an error, not a panic. Optional named pools add budgets (a GPU's
//!   memory) that models count against in addition to the global one.
//! * **Single flight.** Concurrent requests for a model that is loading wait for that one load.
//! * **Honest accounting.** Charged bytes are resident models, plus loads in flight (their hint
//!   is reserved before the load starts), plus evicted models that callers still hold. After a
//!   load the measured size replaces the hint.
//! * **Evict what is idle.** Only models without handles and not pinned are evicted, least
//!   recently used first; a model that still does not fit waits (bounded) and then fails with an
//!   error that says who holds the memory. A model larger than the whole budget fails at once.
//! * **No poisoning.** A panicking loader is an error for every waiter; the cache stays usable.
//! * **Shared components.** A model may be made of other registered models
//!   ([`ModelPolicy::using`]): one T5 text encoder for Flux and LTX-Video is loaded once, charged
//!   once, and held while any model that uses it is resident; [`Handle::component`] hands it over.
//!
//! ```
//! use std::sync::Arc;
//! use modelcache_core::{FnLoader, Loaded, ModelCache, ModelPolicy};
//!
//! let cache = ModelCache::new(1 << 30);
//! let model = |name: &'static str, bytes: u64| {
//!     Arc::new(FnLoader::new("demo", bytes, move |_| Ok(Loaded::new(name, bytes))))
//! };
//! cache.register("t5", model("t5", 500 << 20), ModelPolicy::default())?;
//! cache.register("flux", model("flux", 300 << 20), ModelPolicy::default().using("text_encoder_2", "t5"))?;
//! cache.register("ltx", model("ltx", 200 << 20), ModelPolicy::default().using("text_encoder", "t5"))?;
//!
//! let flux = cache.get::<&str>("flux")?; // loads t5, then flux
//! let ltx = cache.get::<&str>("ltx")?; // t5 is resident: loads ltx alone
//! let t5 = flux.component::<&str>("text_encoder_2")?;
//! assert!(modelcache_core::Handle::ptr_eq(&t5, &ltx.component("text_encoder")?));
//! assert_eq!(cache.stats().charged, 1000 << 20); // not 1500: t5 is charged once
//! assert_eq!(cache.stats().shared_bytes_saved, 500 << 20);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Models are registered as [`ModelLoader`]s: a backend bound to a path and options
//! (`modelcache_registry` does that from models.toml), or an [`FnLoader`] made of closures.
//!
//! ```
//! use std::sync::Arc;
//! use modelcache_core::{FnLoader, Loaded, ModelCache, ModelPolicy};
//!
//! let cache = ModelCache::builder().budget(1 << 30).build();
//! // Register how to load a model (plugins do this for real checkpoints).
//! let loader = FnLoader::new("demo", 600 << 20, |_progress| Ok(Loaded::new(vec![0u8; 16], 600 << 20)));
//! cache.register("small", Arc::new(loader), ModelPolicy::default())?;
//!
//! let model = cache.get::<Vec<u8>>("small")?; // loads once
//! assert_eq!(model.lock().len(), 16);
//! let again = cache.get::<Vec<u8>>("small")?; // a hit: the same model
//! assert!(modelcache_core::Handle::ptr_eq(&model, &again));
//!
//! // The wrong type is an error, not a panic.
//! assert!(cache.get::<String>("small").is_err());
//! assert_eq!(cache.stats().charged, 600 << 20);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod cache;
mod clock;
mod error;
pub mod metrics;
mod sync;
mod units;

#[cfg(feature = "tokio")]
pub use cache::OwnedModelGuard;
pub use cache::{
    AnyHandle, CacheBuilder, CacheEvent, CacheStats, DEFAULT_THROUGHPUT, EntryInfo, EvictReason,
    EvictionCounts, EvictionPolicy, HISTORY, Handle, LOAD_BUCKETS, LoadHistogram, ModelCache,
    ModelGuard, ModelPolicy, Plan, PlanStep, PoolStats, Reaper, Served, StepOutcome, UnknownPolicy,
    Victim,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CacheError, Holder, HolderState};
pub use modelcache_backend as backend;
/// The contract types the cache's own API takes and gives.
pub use modelcache_backend::{
    BackendError, FnLoader, LoadProgress, Loaded, ModelLoader, NoProgress,
};
pub use units::{format_bytes, format_bytes_exact};
