//! # modelcache-weights
//!
//! Safetensors checkpoints for model-family plugins: find them, size them exactly from their
//! headers, and load them into candle tensors without waste.
//!
//! - **Discovery.** [`discover`] lists the layouts under a folder (single files, sharded sets
//!   behind a `*.safetensors.index.json`, diffusers trees, mflux numbered shards) without
//!   reading them. Real repositories often hold several layouts of one model, so a plugin
//!   opens one: [`Checkpoint::open_file`], [`Checkpoint::open_index`],
//!   [`Checkpoint::open_dir`] (one component folder) or [`DiffusersTree::open`].
//! - **Inventory.** Opening reads only each file's 8-byte length and JSON header, through a
//!   bounded read (never a memory map, never the data), and validates it as the reference
//!   reader does: header length limit, UTF-8 JSON object, string metadata, per-tensor size
//!   against dtype and shape, offsets tiling the buffer exactly, file length. Every failure is
//!   a typed [`WeightsError`] naming the file and the tensor. Byte counts are exact per file
//!   ([`FileInventory`]), per component ([`Checkpoint`]) and per pipeline
//!   ([`DiffusersTree`]), both as stored and as loaded with a dtype conversion
//!   ([`Checkpoint::loaded_bytes`]: `BF16` loaded as `F32` counts twice; packed `U32`
//!   quantized weights count as stored).
//! - **Loading.** [`Checkpoint::load`] reads each tensor with positioned reads straight into
//!   the buffer the candle tensor then owns: one copy from the page cache, no intermediate
//!   buffer of the whole file, never two copies of a tensor at once (a dtype conversion uses
//!   one fixed-size scratch chunk). Files and tensors are read in parallel with rayon;
//!   progress is reported in bytes. On Linux, large buffers are first advised to use
//!   transparent huge pages, which cuts the first-touch page faults that dominate reading into
//!   fresh memory (a 3-6x faster load; the crate's only `unsafe` call, in one small module).
//!   [`LoadedTensors::resident_bytes`] measures the result.
//!
//! - **Parts from other entries.** [`encoder_width`] reads, from headers, the width of a text
//!   encoder another cache entry provides, so a pipeline that takes it checks that it fits.
//!
//! ## Why loads do not memory-map
//!
//! A file truncated or replaced while it is mapped raises `SIGBUS` on the next access to a lost
//! page, which kills the process; no Rust error can be returned. Checkpoints live on shared
//! disks and in caches that other tools rewrite, and the inventory (the size hint) may be taken
//! long before the load. So every load reopens each file, checks its length and header against
//! the inventory ([`WeightsError::Truncated`], [`WeightsError::Changed`]), and reads with
//! `pread`, which reports a file that shrinks mid-load as an error. Reading into a fresh,
//! tensor-owned buffer also costs no more than mapping and copying, which candle's mmap loader
//! does anyway.
//!
//! ## Example
//!
//! ```
//! use modelcache_weights::{write_safetensors, Checkpoint, Dtype, LoadOptions, TensorData};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("model.safetensors");
//! // Two BF16 values, 1.0 and 2.0, little-endian.
//! let data = [0x80, 0x3f, 0x00, 0x40];
//! write_safetensors(&path, [TensorData::new("w", Dtype::BF16, &[2], &data)], None)?;
//!
//! let checkpoint = Checkpoint::open(&path)?; // reads the header only
//! assert_eq!(checkpoint.tensor_bytes(), 4);
//! assert_eq!(checkpoint.loaded_bytes(Some(Dtype::F32)), 8);
//!
//! let loaded = checkpoint.load(&LoadOptions::default().with_dtype(Dtype::F32))?;
//! assert_eq!(loaded.resident_bytes(), 8);
//! let w = loaded.get("w").ok_or("no tensor w")?;
//! assert_eq!(w.to_vec1::<f32>()?, [1.0, 2.0]);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! - `cuda`, `metal`: the candle-core features of the same name, to load onto those devices
//!   ([`LoadOptions::device`]) and move tensors there ([`parse_device`],
//!   [`LoadedTensors::to_device`]). They switch candle's implementation only: no code of this
//!   crate depends on them, and without them such a device is a [`DeviceError::NotCompiled`].
//! - `mlx`: `Checkpoint::load_mlx` into `mlx-rs` arrays (`MlxTensors`), on macOS, and on Linux
//!   in the verification build of `scripts/mlx-linux` (`--cfg mlx_linux`, against MLX's CPU
//!   backend), which checks every MLX load against the candle load of the same checkpoint.
//!   Elsewhere the feature compiles to nothing.
#![warn(missing_docs)]
#![deny(unsafe_code)] // allowed in `hugepage` only

mod backend_error;
mod blocks;
mod checkpoint;
mod config_json;
mod device;
mod diffusers;
mod discover;
mod dtype;
mod encoder_width;
mod error;
mod expected;
mod fields;
mod header;
mod hugepage;
mod index;
mod inventory;
mod load;
mod load_dtype;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx;
mod read;
mod small;
mod write;

pub use backend_error::regular_file_or_error;
pub use blocks::{Blocks, count_blocks};
pub use candle_core;
pub use checkpoint::{Checkpoint, CheckpointSource};
pub use config_json::{ConfigError, parse_config_json, read_config_json};
pub use device::{
    DEVICE_FORMS, DeviceError, ModelDeviceError, MoveTo, model_device, parse_device,
    tensors_to_device,
};
pub use diffusers::{Component, DiffusersTree};
pub use discover::{Layout, MODEL_INDEX, discover};
pub use dtype::{Dtype, UnknownDtypeName};
pub use encoder_width::{EncoderKind, EncoderWidth, TextInput, encoder_width};
pub use error::{Result, WeightsError};
pub use expected::{Expected, ExpectedTensors, TensorError};
pub use fields::{FieldError, FieldErrorKind, Fields};
pub use header::{MAX_HEADER_LEN, MAX_TENSORS};
pub use index::{MAX_INDEX_LEN, ShardIndex};
pub use inventory::{FileInventory, TensorInfo};
pub use load::{Allowance, LoadOptions, LoadedTensors, resident_bytes};
pub use load_dtype::LoadDtype;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
pub use mlx::MlxTensors;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
pub use mlx_rs;
pub use modelcache_files;
pub use small::{MAX_CONFIG_LEN, read_config_file, regular_file};
pub use write::{TensorData, write_safetensors};
