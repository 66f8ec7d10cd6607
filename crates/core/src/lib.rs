//! # modelcache-core
//!
//! One cache of loaded inference models (any family, any type) under one byte budget.
#![forbid(unsafe_code)]

mod backend;
mod budget;
mod error;
mod estimate;
mod progress;

pub use backend::{Backend, BackendModel, DynBackend, FnLoader, Loaded, ModelLoader, ModelSource};
pub use budget::{BUDGET_ENV, Budget, BudgetError, format_bytes, physical_memory};
pub use error::{BackendError, CacheError, Holder, HolderState};
pub use estimate::estimate_model_size;
pub use progress::{LoadProgress, NoProgress};
pub use erased_serde;
