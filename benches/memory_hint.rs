//! `FluxBackend::memory_hint` on checkpoints whose headers are those of the real FLUX.1
//! [schnell] (776 transformer tensors; the key tables of `FluxSpec::real_schnell()`), and whose
//! data regions are sparse holes (`File::set_len`): 23.8 GB of "weights" take no disk and
//! nothing but headers can be read, which is all a hint may read.
//!
//! Cases, beside the floor of reading the BFL transformer's header bytes (`read_header`) and
//! parsing them into a `serde_json::Value` (`read_header+parse_json`):
//! - `bfl-transformer`: `flux1-schnell.safetensors` alone (the model path is the file);
//! - `bfl-transformer+ae`: the BFL folder with `ae.safetensors` (default components);
//! - `diffusers-transformer+vae`: the diffusers tree, transformer in 3 shards behind an index,
//!   with `config.json` files cross-checked against the headers (default components).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, File};
use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use modelcache_backend::{BackendExt, ModelSource};
use modelcache_flux::{BACKEND, Component, FluxOptions};
use modelcache_testkit::flux::{
    ae_keys, bfl_transformer_keys, diffusers_transformer_keys, diffusers_vae_keys, model_index,
    transformer_config, vae_config,
};
use modelcache_testkit::{FluxSpec, Metadata, TensorSpec, encode_header, split_by_size};

fn root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-fixtures")
        .join("flux-real-headers")
}

/// A safetensors file with the real header and a hole where the data would be.
fn sparse(path: &Path, tensors: &[TensorSpec], metadata: Option<&Metadata>) -> u64 {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let header = encode_header(tensors, metadata).unwrap();
    let mut f = File::create(path).unwrap();
    f.write_all(&(header.json.len() as u64).to_le_bytes())
        .unwrap();
    f.write_all(&header.json).unwrap();
    f.set_len(header.file_len()).unwrap();
    header.json.len() as u64
}

fn json(path: &Path, value: &serde_json::Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// Writes the real-size BFL files and diffusers tree (headers only); returns the BFL
/// transformer's path.
fn write_fixtures(root: &Path) -> PathBuf {
    if root.exists() {
        fs::remove_dir_all(root).unwrap();
    }
    let spec = FluxSpec::real_schnell();
    let (t, ae) = (&spec.transformer, &spec.ae);

    let bfl = root.join("bfl");
    let transformer = bfl.join(format!("{}.safetensors", t.file_stem()));
    let keys = bfl_transformer_keys(t);
    let header = sparse(&transformer, keys.tensors(), None);
    sparse(&bfl.join("ae.safetensors"), ae_keys(ae).tensors(), None);
    eprintln!(
        "BFL transformer: {} tensors, {} header bytes, {:.2} GB of data (sparse)",
        keys.len(),
        header,
        keys.byte_len() as f64 / 1e9
    );

    let tree = root.join("diffusers");
    let pt = Metadata::from([("format".to_owned(), "pt".to_owned())]);
    json(&tree.join("model_index.json"), &model_index());
    json(
        &tree.join("transformer/config.json"),
        &transformer_config(t),
    );
    let keys = diffusers_transformer_keys(t);
    let shards = split_by_size(keys.tensors(), spec.transformer_shard_bytes.unwrap());
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (k, shard) in shards.iter().enumerate() {
        let name = format!("diffusion_pytorch_model-{:05}-of-{n:05}.safetensors", k + 1);
        sparse(&tree.join("transformer").join(&name), shard, Some(&pt));
        for t in shard {
            weight_map.insert(t.name.clone(), name.clone().into());
        }
    }
    json(
        &tree.join("transformer/diffusion_pytorch_model.safetensors.index.json"),
        &serde_json::json!({
            "metadata": {"total_size": keys.byte_len()},
            "weight_map": weight_map,
        }),
    );
    json(&tree.join("vae/config.json"), &vae_config(ae));
    sparse(
        &tree.join("vae/diffusion_pytorch_model.safetensors"),
        diffusers_vae_keys(ae).tensors(),
        Some(&pt),
    );
    eprintln!(
        "diffusers transformer: {} tensors in {n} shards",
        keys.len()
    );
    transformer
}

fn memory_hint(c: &mut Criterion) {
    let root = root();
    let transformer = write_fixtures(&root);
    let only_transformer = FluxOptions::default().with_components([Component::Transformer]);
    let defaults = FluxOptions::default();
    let bfl_dir = root.join("bfl");
    let tree = root.join("diffusers");
    let cases: [(&str, &Path, &FluxOptions); 3] = [
        ("bfl-transformer", &transformer, &only_transformer),
        ("bfl-transformer+ae", &bfl_dir, &defaults),
        ("diffusers-transformer+vae", &tree, &defaults),
    ];

    let mut group = c.benchmark_group("memory-hint/flux-real-schnell");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, path, options) in cases {
        let source = ModelSource::new("flux-schnell", path, options);
        let bytes = BACKEND.inspect(&source).unwrap().bytes;
        eprintln!("{name}: hint {bytes} bytes ({:.2} GB)", bytes as f64 / 1e9);
        group.bench_function(name, |b| {
            b.iter(|| BACKEND.inspect(black_box(&source)).unwrap().bytes);
        });
    }
    let read_header = || {
        let mut f = File::open(&transformer).unwrap();
        let mut len = [0u8; 8];
        f.read_exact(&mut len).unwrap();
        let mut json = vec![0u8; usize::try_from(u64::from_le_bytes(len)).unwrap()];
        f.read_exact(&mut json).unwrap();
        json
    };
    group.bench_function("read_header", |b| b.iter(read_header));
    group.bench_function("read_header+parse_json", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&read_header()).unwrap());
    });
    group.finish();
}

criterion_group!(benches, memory_hint);
criterion_main!(benches);
