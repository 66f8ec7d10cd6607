//! The safetensors backend's one registration for tests: its conformance cases and how a
//! fuzzer picks its options. `tests/conformance.rs` mounts the suite on it;
//! modelcache-reliability's probes, property tests and fuzz targets include this file and run
//! the same backend on the same fixtures.

use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite, TensorParts};
use modelcache_safetensors::{LoadDtype, SafetensorsBackend, SafetensorsModel, SafetensorsOptions};
use modelcache_testkit::{BertSpec, write_bert};

/// Shards of at most this many bytes split the tiny BERT into several files.
pub const SHARD_BYTES: u64 = 64 * 1024;

/// The tiny BERT folder, one `model.safetensors`.
pub fn folder(dir: &Path) -> std::io::Result<PathBuf> {
    write_bert(dir, &BertSpec::tiny())?;
    Ok(dir.to_path_buf())
}

/// The tiny BERT folder, sharded with an index.
pub fn sharded(dir: &Path) -> std::io::Result<PathBuf> {
    write_bert(dir, &BertSpec::tiny().sharded(SHARD_BYTES))?;
    Ok(dir.to_path_buf())
}

/// A model's tensors, as one part (what the suite compares value by value).
pub fn parts(model: &SafetensorsModel) -> TensorParts {
    let tensors = model.tensors().map(|(n, t)| (n.to_owned(), t.clone()));
    vec![("tensors".to_owned(), tensors.collect())]
}

/// A folder, a sharded folder, an index file and a bare file, with every option.
pub fn suite() -> Suite<SafetensorsBackend> {
    Suite::new(SafetensorsBackend)
        .options_selector(options)
        .parts(parts)
        .case(Case::new("folder", folder))
        .case(
            Case::new("sharded-folder-as-bf16", sharded)
                .options(|| SafetensorsOptions::default().with_dtype(LoadDtype::Bf16)),
        )
        .case(Case::new("index-file", |dir| {
            sharded(dir)?;
            Ok(dir.join("model.safetensors.index.json"))
        }))
        .case(
            Case::new("bare-file-prefix-skip-f16", |dir| {
                write_bert(dir, &BertSpec::tiny().with_position_ids())?;
                Ok(dir.join("model.safetensors"))
            })
            .options(|| {
                SafetensorsOptions::default()
                    .with_prefix("embeddings.")
                    .skipping(["embeddings.token_type"])
                    .with_dtype(LoadDtype::F16)
            }),
        )
}

/// Options from a fuzzer's byte: bits 0-1 the dtype, bit 2 a skip list, bit 3 a prefix.
fn options(selector: u8) -> SafetensorsOptions {
    let mut options = match selector & 3 {
        1 => SafetensorsOptions::default().with_dtype(LoadDtype::F32),
        2 => SafetensorsOptions::default().with_dtype(LoadDtype::Bf16),
        3 => SafetensorsOptions::default().with_dtype(LoadDtype::F16),
        _ => SafetensorsOptions::default(),
    };
    if selector & 4 != 0 {
        options = options.skipping(["pooler."]);
    }
    if selector & 8 != 0 {
        options = options.with_prefix("encoder.");
    }
    options
}
