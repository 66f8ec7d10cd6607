//! Writes the fuzz targets' seed corpus from the generated fixtures (deterministic: the same
//! files every run). The committed seeds in `fuzz/corpus/` come from:
//!
//! ```text
//! cargo run -p modelcache-reliability --example fuzz_seeds -- fuzz/corpus models.toml
//! ```
//!
//! Each seed is a valid input (the pristine file, or for the plugin targets
//! `[file, options, header or JSON]`, see `modelcache_reliability::Case`), kept under 100 KB.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use modelcache_reliability::{Fixture, Plugin};
use modelcache_weights::{Dtype, TensorData, write_safetensors};

/// Seeds must stay small: libFuzzer's default `-max_len` follows the largest one.
const MAX_SEED: usize = 100_000;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: fuzz_seeds OUT_DIR [models.toml]")?,
    );
    let models_toml = args.next().map(PathBuf::from);

    // The plugin targets: a few files per layout (the folders are the registered suites' case
    // names), with options that make the backend read them.
    let plugins: [(Plugin, &[(&str, u8)]); 4] = [
        (
            Plugin::Flux,
            &[
                ("repo-both-layouts-reads-diffusers/model_index.json", 0),
                (
                    "repo-both-layouts-reads-diffusers/transformer/config.json",
                    0,
                ),
                (
                    "repo-both-layouts-reads-diffusers/transformer/diffusion_pytorch_model.safetensors.index.json",
                    0,
                ),
                (
                    "repo-both-layouts-reads-diffusers/transformer/diffusion_pytorch_model-00001-of-00003.safetensors",
                    0,
                ),
                (
                    "repo-both-layouts-reads-diffusers/vae/diffusion_pytorch_model.safetensors",
                    0x10,
                ),
                (
                    "repo-both-layouts-reads-diffusers/flux1-schnell.safetensors",
                    0x04,
                ),
                ("mflux-4bit-transformer-vae/transformer/0.safetensors", 0x0c),
                (
                    "mflux-4bit-transformer-vae/text_encoder_2/model.safetensors.index.json",
                    0x0f,
                ),
            ],
        ),
        (
            Plugin::Ltx,
            &[
                ("single-file/ltx-video-2b-v0.9.safetensors", 0),
                ("diffusers/model_index.json", 0x08),
                ("diffusers/transformer/config.json", 0x08),
                ("diffusers/vae/config.json", 0x0a),
                (
                    "diffusers/transformer/diffusion_pytorch_model.safetensors.index.json",
                    0x0b,
                ),
            ],
        ),
        (
            Plugin::Kokoro,
            &[
                ("all-voices/config.json", 0),
                ("all-voices/kokoro-v1_0.safetensors", 0x04),
                ("all-voices/voices/af_heart.safetensors", 0x01),
            ],
        ),
        (
            Plugin::Safetensors,
            &[
                ("folder/model.safetensors", 0),
                ("folder/config.json", 0x04),
                ("index-file/model.safetensors.index.json", 0x0a),
            ],
        ),
    ];
    let mut headers = Vec::new();
    let mut indexes = Vec::new();
    for (plugin, picks) in plugins {
        let fixture = Fixture::tiny(plugin)?;
        let dir = out.join(format!("plugin_{}", plugin.name()));
        for &(suffix, options) in picks {
            let index = fixture
                .index_of(suffix)
                .ok_or_else(|| format!("{plugin:?} fixture has no {suffix}"))?;
            let seed = fixture.seed(index, options).ok_or("no seed")?;
            write(&dir, &name_of(suffix), &seed)?;
        }
        // The smallest whole safetensors file, and the index files, for the parser targets.
        let mut smallest: Option<(String, Vec<u8>)> = None;
        for path in fixture.files() {
            let bytes = fs::read(path)?;
            let name = name_of(&path.strip_prefix(fixture.root())?.to_string_lossy());
            if name.ends_with(".safetensors")
                && bytes.len() < 8192
                && smallest.as_ref().is_none_or(|(_, b)| bytes.len() < b.len())
            {
                smallest = Some((name, bytes));
            } else if name.ends_with(".index.json")
                && path.parent().and_then(Path::file_name) == Some("transformer".as_ref())
                // Cases of one layout hold the same index.
                && !indexes.iter().any(|(_, b)| *b == bytes)
            {
                indexes.push((name, bytes));
            }
        }
        headers.extend(smallest);
    }

    let dir = out.join("safetensors_header");
    for (name, bytes) in &headers {
        write(&dir, name, bytes)?;
    }
    write(&dir, "every-dtype.safetensors", &every_dtype()?)?;

    let dir = out.join("shard_index");
    for (name, bytes) in &indexes {
        write(&dir, name, bytes)?;
    }

    let dir = out.join("models_toml");
    write(&dir, "every-key.toml", EVERY_KEY.as_bytes())?;
    if let Some(path) = models_toml {
        write(&dir, "bundled-models.toml", &fs::read(path)?)?;
    }
    Ok(())
}

fn name_of(path: &str) -> String {
    path.replace('/', "--")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Box<dyn Error>> {
    if bytes.len() > MAX_SEED {
        return Err(format!("seed {name} is {} bytes, over {MAX_SEED}", bytes.len()).into());
    }
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)?;
    println!("{:>6} {}", bytes.len(), dir.join(name).display());
    Ok(())
}

/// One small file with a tensor of every dtype the format defines (plus a scalar, an empty
/// tensor and metadata), so the fuzzer starts from every branch of the dtype handling.
fn every_dtype() -> Result<Vec<u8>, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("every-dtype.safetensors");
    let dtypes = Dtype::ALL;
    let names: Vec<String> = dtypes
        .iter()
        .map(|d| format!("{d:?}").to_lowercase())
        .collect();
    let shape = [2usize, 4];
    let data: Vec<Vec<u8>> = dtypes
        .iter()
        .map(|d| {
            let bytes = d
                .bytes_for(8)
                .and_then(|b| usize::try_from(b).ok())
                .unwrap_or(0);
            (0..bytes).map(|i| (i % 7) as u8).collect()
        })
        .collect();
    let mut tensors: Vec<TensorData<'_>> = dtypes
        .iter()
        .zip(&names)
        .zip(&data)
        .map(|((&d, n), bytes)| TensorData::new(n, d, &shape, bytes))
        .collect();
    let one = [0u8, 0, 128, 63];
    tensors.push(TensorData::new("scalar", Dtype::F32, &[], &one));
    tensors.push(TensorData::new("empty", Dtype::BF16, &[0, 3], &[]));
    let metadata = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    write_safetensors(&path, tensors, Some(&metadata))?;
    Ok(fs::read(&path)?)
}

/// A models.toml using every table and key, for the models_toml target.
const EVERY_KEY: &str = r#"[cache]
budget = "24GiB"
load_timeout = "2m"
keep_alive = "30m"
allow_oversized = false

[models.flux-schnell]
backend = "flux"
path = "models/flux-schnell"
pin = false
keep_alive = "10m"
size = "12GiB"
options = { components = ["transformer", "vae"], layout = "auto", dtype = "bf16" }
pool = "gpu0"

[models.ltx]
backend = "ltx"
path = "~/models/LTX-Video"
keep_alive = "never"
options = { components = ["transformer", "vae", "text_encoder"], layout = "diffusers", file = "ltx-video-2b-v0.9.safetensors", dtype = "f16" }

[models.tts]
backend = "kokoro"
path = "$HOME/models/Kokoro-82M"
pin = true
keep_alive = "0s"
options = { voices = ["af_heart", "am_adam"], dtype = "f32" }

[pools.gpu0]
budget = "80%"

[plugins]
paths = ["plugins/libmy_backend.so"]
"#;
