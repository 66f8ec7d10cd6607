//! # modelcache-ltx
//!
//! The LTX-Video backend: `backend = "ltx"` in models.toml. It loads the two layouts
//! Lightricks publishes (docs/checkpoint-layouts.md §7) into candle tensors:
//!
//! - the **single file** (`ltx-video-2b-v0.9.safetensors`, ...): the BF16 transformer under
//!   `model.diffusion_model.`, the VAE under `vae.` (often F32: one file may mix dtypes), and
//!   both configs as JSON in `__metadata__["config"]`;
//! - the **diffusers tree**: `model_index.json`, and `transformer/`, `vae/`, `text_encoder/`
//!   each with a `config.json` and (possibly sharded) weights.
//!
//! [`Layout`] says which one a path holds when `layout = "auto"`.
//!
//! ## Validate from headers, before anything is loaded
//!
//! A checkpoint that does not match its config would otherwise load and fail much later, in the
//! middle of inference, or never be noticed. So [`open`] first parses
//! the configs into typed values ([`TransformerConfig`], [`VaeConfig`], [`TextEncoderConfig`])
//! and check every tensor the configs imply against the safetensors headers: present, and of
//! the right shape (the block count against `num_layers`, widths against
//! `num_attention_heads × attention_head_dim`, the VAE's blocks, latent statistics and edges).
//! They also check the components against each other (the transformer's `in_channels` is the
//! VAE's `latent_channels`; its `caption_channels` the text encoder's `d_model`). The first
//! problem, in module order, is a [`BackendError::Invalid`] naming the file and the tensor;
//! errors of the weights layer stay typed inside [`BackendError::Checkpoint`]. Nothing panics on
//! bad input, and no untrusted count drives a loop further than the file's real tensors.
//!
//! The T5 encoder can come from another cache entry instead ([`Backend::components`] is
//! `["text_encoder"]`): it is then left out of the load, and its `d_model` is checked against
//! the transformer's `caption_channels` from its headers, so one T5-XXL serves LTX-Video and
//! FLUX.1, loaded and charged once.
//!
//! Opening reads headers and small JSON files only, and its bytes are exact: the loaded tensors hold
//! precisely the bytes it counts, load-time dtype conversion ([`LtxOptions::dtype`]) included.
//!
//! ## Options
//!
//! ```toml
//! [models.ltx-2b]
//! backend = "ltx"
//! path = "models/LTX-Video"
//! options = { components = ["transformer", "vae"], layout = "auto", file = "ltx-video-2b-v0.9.safetensors", dtype = "bf16" }
//! ```
//!
//! See [`LtxOptions`]; every key is optional.
//!
//! ## Example
//!
//! ```
//! use modelcache_backend::{Backend, ModelSource, NoProgress};
//! use modelcache_ltx::{BACKEND, LtxOptions};
//! use modelcache_testkit::{LtxSpec, write_ltx_single_file};
//!
//! let dir = tempfile::tempdir()?;
//! write_ltx_single_file(dir.path(), &LtxSpec::tiny())?; // a tiny, layout-faithful fixture
//!
//! let options = LtxOptions::default(); // transformer and VAE, as stored
//! let source = ModelSource::new("ltx-2b", dir.path(), &options);
//! let opened = BACKEND.open(&source)?; // headers only
//! let bytes = opened.inspection.bytes;
//! let model = BACKEND.load(opened.plan, bytes, &NoProgress)?; // that same plan
//! assert_eq!(bytes, model.resident_bytes());
//!
//! let transformer = model.transformer().ok_or("no transformer")?;
//! let proj = transformer.get("patchify_proj.weight").ok_or("no patchify_proj")?;
//! assert_eq!(proj.dims(), [32, 8]); // [inner dim, in_channels]
//! assert_eq!(model.config().transformer().map(|c| c.num_layers()), Some(2));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`open`]: modelcache_backend::Backend::open
//! [`Backend::components`]: modelcache_backend::Backend::components
//! [`BackendError::Invalid`]: modelcache_backend::BackendError::Invalid
//! [`BackendError::Checkpoint`]: modelcache_backend::BackendError::Checkpoint
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod config;
mod diffusers;
mod error;
mod expect;
mod given;
mod keys;
mod layout;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx;
mod model;
mod naming;
mod options;
mod plan;
mod single_file;

pub(crate) use backend::NAME;
pub use backend::{LtxBackend, LtxPlan};
pub use config::{
    LtxConfig, TextEncoderConfig, TransformerConfig, VaeBlock, VaeBlockLayout, VaeConfig,
};
pub use layout::Layout;
pub use model::{ComponentWeights, LtxModel};
pub use naming::Naming;
pub use options::{Component, LayoutChoice, LoadDtype, LtxOptions};

/// The backend, ready to register: `backends.register(modelcache_ltx::BACKEND)`.
pub const BACKEND: LtxBackend = LtxBackend;
