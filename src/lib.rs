//! modelcache: keep loaded inference models resident under one byte budget.
#![forbid(unsafe_code)]
pub use modelcache_core as core;
