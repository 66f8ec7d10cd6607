//! # modelcache
//!
//! Keep loaded inference models resident in memory under one byte budget: the facade over the
//! workspace's crates, and the library behind the `modelcache` command line.
//!
//! * [`core`]: the [`Backend`](core::Backend) trait and the budgeted cache.
//! * [`registry`]: models.toml, backends by name, dynamic plugins.
//! * [`flux`], [`ltx`], [`kokoro`]: the built-in model families, and [`safetensors`] for any
//!   Hugging Face safetensors folder; all registered by [`backends`].
//! * [`bench`]: the measurements of `modelcache bench`.
#![deny(unsafe_code)]

pub mod bench;
mod plugins;

pub use modelcache_backend as backend;
pub use modelcache_core as core;
pub use modelcache_flux as flux;
pub use modelcache_kokoro as kokoro;
pub use modelcache_ltx as ltx;
pub use modelcache_registry as registry;
pub use modelcache_safetensors as safetensors;

pub use plugins::backends_for;

/// The built-in backends: Flux, LTX-Video, Kokoro and the generic safetensors one. A crate of yours adds its own with one
/// line: `backends.register(MyBackend::default())`.
pub fn backends() -> registry::Backends {
    registry::Backends::new()
        .with(flux::BACKEND)
        .with(ltx::BACKEND)
        .with(flux::PIPELINE_BACKEND)
        .with(kokoro::BACKEND)
        .with(safetensors::BACKEND)
}

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
