//! A standalone T5 encoder folder, as a cache entry of its own provides it to the pipelines that
//! share it (one T5-XXL for FLUX.1 and LTX-Video).

use std::io;
use std::path::Path;

use crate::Dtype;
use crate::out::Out;
use crate::report::FixtureReport;
use crate::safetensors_writer::Metadata;
use crate::text_encoders::T5Config;

/// The data bytes per shard that split a T5 encoder as the Hub's T5-XXL encoders are split:
/// the real 5 GB of 9.52 GB, so two shards.
pub(crate) fn real_shard_limit(t5_bytes: u64) -> u64 {
    t5_bytes * 500 / 952 + 1
}

/// Writes a Hugging Face `T5EncoderModel` folder into `dir`: `config.json` (with `t5`'s
/// `d_model`, `d_ff`, `d_kv`, `num_heads`, `num_layers`, `vocab_size`, ...) and the weights in
/// `dtype` as `model-0000k-of-0000n.safetensors` with `model.safetensors.index.json`, each
/// shard carrying `{"format": "pt"}`. The folder is what FLUX.1's `text_encoder_2/` holds, so
/// the `safetensors` backend loads it as a model of its own.
///
/// Tensor contents depend on `(seed, key)` only: with the seed and dtype of a Flux fixture
/// (BF16), the weights are those of its `text_encoder_2/`. The tiny Flux and LTX-Video
/// fixtures take text `T5Config::tiny().d_model` (32) wide, so `T5Config::tiny()` fits both.
///
/// # Errors
///
/// Any I/O error.
pub fn write_t5_encoder(
    dir: &Path,
    t5: &T5Config,
    dtype: Dtype,
    seed: u64,
) -> io::Result<FixtureReport> {
    let torch_dtype = match dtype {
        Dtype::BF16 => "bfloat16",
        Dtype::F16 => "float16",
        Dtype::F32 => "float32",
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a T5 encoder is written in BF16, F16 or F32, not {other:?}"),
            ));
        }
    };
    let pt = Metadata::from([("format".to_owned(), "pt".to_owned())]);
    let mut out = Out::new(dir, seed)?;
    out.json("config.json", &t5.config_json(torch_dtype))?;
    let keys = t5.keys(dtype);
    let limit = real_shard_limit(keys.byte_len());
    out.hf_sharded("t5", "", "model", keys.into_tensors(), limit, Some(&pt))?;
    Ok(out.finish())
}

/// A tiny T5 encoder folder `d_model` wide, in BF16 with seed 0, written to `dir/t5`: the
/// component tests' encoder (32 fits the tiny Flux and LTX-Video fixtures; any other width
/// does not). Returns its path.
///
/// # Errors
///
/// Any I/O error.
pub fn write_tiny_t5(dir: &Path, d_model: u64) -> io::Result<std::path::PathBuf> {
    let path = dir.join("t5");
    let config = T5Config {
        d_model,
        ..T5Config::tiny()
    };
    write_t5_encoder(&path, &config, Dtype::BF16, 0)?;
    Ok(path)
}
