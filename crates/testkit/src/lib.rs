//! Tiny, seeded checkpoints that follow the real on-disk layouts of FLUX.1, LTX-Video and Kokoro-82M.
//!
//! No model weights can be downloaded where this project is tested, so the loaders are exercised on generated files.
//! Each generator keeps the real file names, folders, tensor keys, dtypes and config field names, and changes only the
//! dimensions: a loader that reads a fixture reads the real checkpoint unchanged. The layouts are written down in
//! `docs/checkpoint-layouts.md`; every key table here is a function of the config, and the tests check that the *real*
//! configs reproduce the real checkpoints' tensor counts and byte sizes (§4.3).
//!
//! Design choices:
//!
//! - **Streaming.** Data is generated in 1 MiB chunks while it is written, so [`FluxSpec::scale`] and friends can
//!   ask for multi-GiB checkpoints without holding them in memory.
//! - **Deterministic.** Tensor contents come from a per-tensor xorshift stream seeded by `(seed, key)`: the same
//!   seed gives byte-identical files, whatever the sharding. Floats are finite and small.
//! - **Standalone.** No dependency on `modelcache-core`; only `serde_json`.
//!
//! Layouts: [`write_flux_bfl`], [`write_flux_diffusers`], [`write_flux_repo`] (both, as the Hub repos ship),
//! [`write_flux_mflux`], [`write_ltx_single_file`], [`write_ltx_diffusers`], [`write_kokoro_mlx`], and
//! [`write_bert`] (a Hugging Face `transformers` folder), [`write_t5_encoder`] (a T5 encoder folder, shared by
//! Flux and LTX-Video), and [`write_bundle`] for the set the project's bundled `models.toml` uses.
//!
//! ```
//! use modelcache_testkit::{KokoroSpec, write_kokoro_mlx};
//!
//! let dir = tempfile::tempdir()?;
//! let report = write_kokoro_mlx(dir.path(), &KokoroSpec::tiny().with_seed(7))?;
//! let model = report.component("kokoro").ok_or("no model")?;
//! assert_eq!(model.tensor_count(), 548); // the real key set, tiny shapes
//! assert!(report.file_bytes < 1 << 20);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod bert;
mod bundle;
mod dtype;
mod fill;
pub mod flux;
mod header_only;
mod json;
pub mod kokoro;
pub mod ltx;
mod out;
mod report;
mod safetensors_writer;
mod scale;
mod shard;
mod special;
mod t5_encoder;
mod tensor;
pub mod text_encoders;
mod tokenizers;

pub use bert::{BertSpec, write_bert};
pub use bundle::{
    BUNDLE_MODELS, BundleReport, FORMAT_VERSION, MARKER_FILE, bundle_is_current, write_bundle,
};
pub use dtype::Dtype;
pub use flux::{
    FluxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers, write_flux_mflux, write_flux_repo,
};
pub use header_only::write_header_only;
pub use kokoro::{KokoroSpec, write_kokoro_mlx};
pub use ltx::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};
pub use report::{ComponentReport, FixtureReport};
pub use safetensors_writer::{EncodedHeader, Metadata, encode_header, write_safetensors};
pub use shard::{WrittenShards, hf_shard_name, split_by_size, write_mflux_sharded, write_sharded};
pub use special::mkfifo;
pub use t5_encoder::{write_t5_encoder, write_tiny_t5};
pub use tensor::{KeyTable, TensorSpec};
