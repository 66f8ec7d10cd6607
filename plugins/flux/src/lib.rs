//! # modelcache-flux
//!
//! FLUX.1 (dev, schnell and their derivatives) for modelcache: [`FluxBackend`] reads the three
//! layouts the checkpoints ship in, checks them against their configs from headers alone, says
//! exactly how many bytes a load will take, and loads the requested components into candle
//! tensors.
//!
//! ```toml
//! [models.flux-schnell]
//! backend = "flux"
//! path = "models/FLUX.1-schnell"
//! # All optional; these are the defaults.
//! options = { components = ["transformer", "vae"], layout = "auto" }
//! # components: any of "transformer", "vae", "text_encoder", "text_encoder_2"
//! # layout:     "auto" | "bfl" | "diffusers" | "mflux"
//! # dtype:      "bf16" | "f16" | "f32" (convert floats while loading; absent = as stored)
//! ```
//!
//! ## Layouts, and which one a folder means
//!
//! * **BFL single files**: `flux1-*.safetensors` (the transformer, BF16, no config inside, keys
//!   optionally under `model.diffusion_model.`) and `ae.safetensors` (the autoencoder, F32). The
//!   model path is the folder or the transformer file itself. They hold no text encoders, so
//!   asking for them with `layout = "bfl"` is refused when the options are read.
//! * **diffusers tree**: `model_index.json`, `transformer/` (config + sharded weights), `vae/`,
//!   `text_encoder/` (CLIP-L), `text_encoder_2/` (T5-XXL), ...
//! * **mflux tree**: one folder per component of numbered shards (`0.safetensors`, ...) whose
//!   headers carry `quantization_level` / `mflux_version`; linear and embedding weights are
//!   MLX-quantized (packed `U32` codes with `scales` and `biases`) and load as stored.
//!
//! `layout = "auto"` picks, for a folder: **mflux** when the first requested component's folder
//! is named as mflux names it (`0.safetensors` or `model.safetensors.index.json`) and its
//! headers carry mflux's metadata; else **diffusers** when `model_index.json` and `transformer/`
//! exist; else **BFL**. A file is always a BFL transformer.
//!
//! The Hub repositories ship the BFL files *and* the diffusers tree in one folder; exactly one
//! is read and counted, and it is the **diffusers tree**, because it is the complete pipeline:
//! it is the only one of the two with text encoders (so every component list resolves to the
//! same layout, and the hint never mixes layouts), its transformer comes with a `config.json`
//! that the shapes are cross-checked against, and its autoencoder is BF16 (168 MB) where BFL's
//! `ae.safetensors` is F32 (335 MB). The transformer weighs the same in both. Choose the BFL
//! files with `layout = "bfl"`.
//!
//! ## Validation before loading
//!
//! Each component's config is read from `config.json` (diffusers) or inferred from tensor
//! shapes (BFL and mflux: hidden width from `img_in`, head dim from the q-norm scale, block
//! counts from the largest block index, ...). The config implies every required tensor and its
//! shape; the checkpoint must hold them all (extra tensors are fine), and the first missing
//! tensor or wrong shape is a [`BackendError::Invalid`](modelcache_backend::BackendError::Invalid) naming the file and the tensor. A
//! `config.json` whose block counts or widths disagree with the weights is reported the same
//! way. Quantized weights are checked with the packing taken into account: `weight` `U32`
//! `[out, in × bits / 32]`, `scales` and `biases` `[out, in / group_size]`, bits from
//! `quantization_level`, one group size (32, 64 or 128) per component. Errors from reading
//! headers are [`BackendError::Checkpoint`](modelcache_backend::BackendError::Checkpoint) wrapping a [`modelcache_weights::WeightsError`],
//! which names the file. Nothing here panics on bad input.
//!
//! ## Text encoders from other cache entries
//!
//! The backend's [`components`](modelcache_backend::Backend::components) are `text_encoder`
//! (CLIP-L) and `text_encoder_2` (T5-XXL): another cache entry (a `safetensors` model pointed
//! at the encoder's folder) can provide either, so one T5 serves FLUX.1 and LTX-Video, loaded
//! and charged once. A given encoder is left out of the plan, whatever `components` lists and
//! whatever the folder holds; `open` reads its headers and checks that its width is the
//! transformer's input width (T5 `d_model` against `txt_in` / `context_embedder`, CLIP
//! `hidden_size` against `vector_in` / `time_text_embed.text_embedder.linear_1`), opening the
//! transformer's headers for that check when the transformer is not requested. This works for
//! BFL single files too, which carry no text encoders. The encoder's dtype is its own entry's
//! business. `flux-pipeline` takes no components.
//!
//! ## Size
//!
//! [`open`](modelcache_backend::Backend::open) reads headers and small JSON files only, and
//! the bytes of the plan it returns are exact: the loaded bytes of the requested components of the chosen layout, with
//! the dtype conversion applied (packed `U32` codes count as stored). The loaded model measures
//! its tensors' storage ([`FluxModel::resident_bytes`]), and the two agree to the byte.
//!
//! ```
//! use modelcache_backend::{Backend, ModelSource, NoProgress};
//! use modelcache_flux::{BACKEND, Component, FluxOptions, Layout, LoadDtype};
//! use modelcache_testkit::{FluxSpec, write_flux_repo};
//!
//! // A tiny FLUX.1 [schnell] repository: BFL files and the diffusers tree side by side.
//! let dir = tempfile::tempdir()?;
//! write_flux_repo(dir.path(), &FluxSpec::tiny())?;
//!
//! let options = FluxOptions::default().with_dtype(LoadDtype::F32);
//! let source = ModelSource::new("flux-schnell", dir.path(), &options);
//! let opened = BACKEND.open(&source)?; // headers only
//! let bytes = opened.inspection.bytes;
//! let model = BACKEND.load(opened.plan, bytes, &NoProgress)?; // that same plan
//! assert_eq!(model.layout(), Layout::Diffusers); // one layout, counted once
//! assert_eq!(BACKEND.resident_bytes(&model), Some(bytes));
//! assert_eq!(model.config().map(|c| c.depth), Some(2));
//! let vae = model.component(Component::Vae).ok_or("no vae")?;
//! assert!(vae.tensors().get("decoder.conv_out.weight").is_some());
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `candle-transformers` feature, `FluxPipeline` builds candle-transformers' FLUX.1
//! transformer, autoencoder, CLIP and T5 on a loaded model (BFL files as they are, a diffusers
//! tree converted to BFL names), and `PIPELINE_BACKEND` (`backend = "flux-pipeline"`) caches
//! that pipeline, charged at the bytes its modules hold.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod components;
mod config;
mod error;
mod given;
mod keys;
mod layout;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx;
mod model;
mod options;
#[cfg(feature = "candle-transformers")]
mod pipeline;
mod plan;
mod quant;
mod shapes;
mod validate;

pub use backend::{BACKEND, FluxBackend, FluxPlan, NAME};
pub use config::FluxConfig;
pub use layout::Layout;
pub use model::{FluxModel, LoadedComponent};
pub use options::{Component, FluxOptions, LayoutChoice, LoadDtype};
#[cfg(feature = "candle-transformers")]
pub use pipeline::{FluxPipeline, FluxPipelineBackend, PIPELINE_BACKEND, PIPELINE_NAME};
pub use quant::Quantization;
