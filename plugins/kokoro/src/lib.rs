//! # modelcache-kokoro
//!
//! The Kokoro-82M text-to-speech model for modelcache, in the `mlx-community/Kokoro-82M-bf16`
//! layout: a folder holding
//!
//! ```text
//! config.json                  hyper-parameters and the phoneme vocabulary
//! kokoro-v1_0.safetensors      548 tensors, `<component>.<key>`, F32
//! voices/<name>.safetensors    one tensor `voice` [510, 1, 256] per voice pack
//! ```
//!
//! ```toml
//! [models.tts]
//! backend = "kokoro"
//! path = "models/Kokoro-82M"
//! options = { voices = ["af_heart", "am_adam"], dtype = "bf16" }   # both optional
//! ```
//!
//! `voices` is `"all"` (the default: every `voices/*.safetensors`) or a list of names; `dtype`
//! (`"f32"`, `"bf16"`, `"f16"`) converts tensors while loading (default: as stored).
//!
//! Design choices:
//!
//! * **Check before loading, from headers only.** The size hint and the load run the same
//!   inspection: `config.json` is parsed once into a typed [`KokoroConfig`] (an error names the
//!   file and the field), then every tensor of the weights header is checked against the layout
//!   that config implies (key set for the configured block counts, every shape, float dtypes),
//!   then every selected voice pack (`[rows, 1, 2 × style_dim]`). The first problem is an
//!   error naming the file and the tensor, and the rule it breaks.
//! * **Widths the code hard-codes are read from shapes.** Kokoro's decoder width (1024), the
//!   `asr_res` width (64), ALBERT's embedding size (128) and the source module's harmonics are
//!   not in `config.json`; they are read from the tensors that carry them ([`Widths`]), and every
//!   other tensor is checked against them. A shrunken test fixture loads like the real model.
//! * **The hint is exact.** It is the loaded size of the selected tensors computed from the
//!   headers, dtype conversion included; [`KokoroModel::resident_bytes`] measures the same
//!   tensors after the load. Each selected voice adds exactly its own bytes.
//! * **Shareable.** The model is read-only candle tensors, so concurrent callers need no lock.
//!
//! ## Example
//!
//! ```
//! use modelcache_backend::{Backend, BackendExt, ModelSource, NoProgress};
//! use modelcache_kokoro::{BACKEND, KokoroOptions};
//! use modelcache_testkit::{KokoroSpec, write_kokoro_mlx};
//!
//! let dir = tempfile::tempdir()?;
//! write_kokoro_mlx(dir.path(), &KokoroSpec::tiny())?; // af_heart, am_adam, bf_emma
//! let options = KokoroOptions::default().with_voices(["af_heart"]);
//! let source = ModelSource::new("tts", dir.path(), &options);
//!
//! let opened = BACKEND.open(&source)?; // headers only
//! let bytes = opened.inspection.bytes;
//! let model = BACKEND.load(opened.plan, bytes, &NoProgress)?; // that same plan
//! assert_eq!(bytes, model.resident_bytes());
//! assert_eq!(model.voice_names().collect::<Vec<_>>(), ["af_heart"]);
//! let voice = model.voice("af_heart").ok_or("no voice")?;
//! assert_eq!(voice.dims()[2], 2 * model.config().style_dim);
//!
//! // A voice that does not exist is an error that lists the ones that do.
//! let options = KokoroOptions::default().with_voices(["zz_nobody"]);
//! let source = ModelSource::new("tts", dir.path(), &options);
//! let err = BACKEND.inspect(&source).unwrap_err().to_string();
//! assert!(err.contains("zz_nobody.safetensors") && err.contains("af_heart, am_adam, bf_emma"));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not supported (each is a clear error): the hexgrad PyTorch layout (`kokoro-v1_0.pth`,
//! `voices/*.pt`) and quantized MLX variants (`"quantization"` in `config.json`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod check;
mod config;
mod errors;
mod inspect;
mod layout;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx;
mod model;
mod options;
mod voices;
mod widths;

pub use backend::{BACKEND, KokoroBackend, KokoroPlan};
pub use config::{CONFIG_FILE, IstftnetConfig, KokoroConfig, PlbertConfig};
pub use inspect::WEIGHTS_FILE;
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
pub use mlx::KokoroMlx;
pub use model::KokoroModel;
pub use options::{KokoroOptions, LoadDtype, Voices};
pub use voices::{VOICE_TENSOR, VOICES_DIR};
pub use widths::Widths;
