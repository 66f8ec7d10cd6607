//! # modelcache-safetensors
//!
//! The generic backend (`backend = "safetensors"`): any model stored the Hugging Face way, an
//! embedding model, an LLM, a reranker, as
//!
//! ```text
//! config.json                        optional; handed over with the model
//! model.safetensors                  one file, or
//! model.safetensors.index.json       an index and the shards it names
//! model-00001-of-00002.safetensors
//! ```
//!
//! or a path to an index file or a single `.safetensors` file. Without a standard file name the
//! folder's `.safetensors` files are read together (a tensor in two of them is an error).
//!
//! ```toml
//! [models.embed]
//! backend = "safetensors"
//! path = "models/all-MiniLM-L6-v2"
//! options = { dtype = "f16", skip = ["pooler."] }   # each optional
//! ```
//!
//! Options ([`SafetensorsOptions`]): `dtype` (`"f32"`, `"bf16"`/`"bfloat16"`, `"f16"`/`"float16"`,
//! the spellings every plugin accepts) converts floating-point tensors while loading, integer
//! buffers keep theirs; `prefix` keeps the tensors under a name prefix and hands them over
//! without it; `skip` leaves out the tensors under any of a list of prefixes.
//!
//! Design choices:
//!
//! * **Exact, from headers.** `open` reads the headers (and the index) only; the size it
//!   reports is the loaded size of the selected tensors with the conversion, and the loaded
//!   model measures exactly that ([`SafetensorsModel::resident_bytes`]).
//! * **No architecture knowledge.** The backend checks what any safetensors checkpoint must
//!   satisfy (headers, index, offsets, dtypes candle can hold) and nothing about the model; the
//!   model code that consumes the tensors checks names and shapes. A `.bin` pickle is refused
//!   by name: reading one can run code.
//! * **Ready for model code.** [`SafetensorsModel::tensor_map`] is what
//!   `candle_nn::VarBuilder::from_tensors` takes, and [`SafetensorsModel::config_as`] parses
//!   `config.json` into the model code's config type.
//!
//! ## Example
//!
//! ```
//! use modelcache_backend::{BackendExt, ModelSource, NoProgress};
//! use modelcache_safetensors::{BACKEND, SafetensorsOptions};
//! use modelcache_testkit::{BertSpec, write_bert};
//!
//! let dir = tempfile::tempdir()?;
//! write_bert(dir.path(), &BertSpec::tiny())?; // config.json, model.safetensors, tokenizer.json
//! let options = SafetensorsOptions::default().skipping(["pooler."]);
//! let source = ModelSource::new("embed", dir.path(), &options);
//!
//! let bytes = BACKEND.memory_hint(&source)?; // headers only
//! let model = BACKEND.open_and_load(&source, &NoProgress)?;
//! assert_eq!(model.resident_bytes(), bytes);
//! assert!(model.tensor("embeddings.word_embeddings.weight").is_some());
//! assert!(model.tensor("pooler.dense.weight").is_none());
//! assert_eq!(model.config().and_then(|c| c["model_type"].as_str()), Some("bert"));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod model;
mod options;
mod source;

pub use backend::{BACKEND, SafetensorsBackend, SafetensorsPlan};
pub use model::SafetensorsModel;
pub use options::{LoadDtype, SafetensorsOptions};
pub use source::CONFIG_FILE;
