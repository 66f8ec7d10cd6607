//! Sharded checkpoints: the Hugging Face form (diffusers, transformers) and the mflux form.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::safetensors_writer::{Metadata, write_safetensors};
use crate::{TensorSpec, tensor};

/// The files a sharded write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenShards {
    /// The weight files, in shard order.
    pub shards: Vec<PathBuf>,
    /// The index file, when one was written.
    pub index: Option<PathBuf>,
    /// Bytes of all files written, index included.
    pub bytes: u64,
}

/// Splits tensors into shards of at most `max_shard_bytes` data bytes, keeping their order.
///
/// This is huggingface_hub's `split_state_dict_into_shards_factory` rule, which diffusers and transformers use: a
/// tensor that would tip the current shard over the limit starts a new one, and a tensor larger than the limit gets
/// a shard of its own.
pub fn split_by_size(tensors: &[TensorSpec], max_shard_bytes: u64) -> Vec<Vec<TensorSpec>> {
    let mut shards = Vec::new();
    let mut current: Vec<TensorSpec> = Vec::new();
    let mut current_bytes = 0;
    for t in tensors {
        let n = t.byte_len();
        if n > max_shard_bytes {
            shards.push(vec![t.clone()]);
            continue;
        }
        if current_bytes + n > max_shard_bytes {
            shards.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(t.clone());
        current_bytes += n;
    }
    if !current.is_empty() {
        shards.push(current);
    }
    shards
}

/// The Hugging Face shard name: `diffusion_pytorch_model-00001-of-00003.safetensors`.
pub fn hf_shard_name(stem: &str, k: usize, n: usize) -> String {
    format!("{stem}-{k:05}-of-{n:05}.safetensors")
}

/// Writes `tensors` into `dir` the way `save_pretrained` does.
///
/// One shard gives a single `<stem>.safetensors` and no index. Several give `<stem>-0000k-of-0000n.safetensors`
/// and `<stem>.safetensors.index.json` = `{"metadata": {"total_size": Σ tensor bytes}, "weight_map": {...}}`,
/// written as `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
///
/// # Errors
///
/// Any I/O error, or `InvalidInput` for duplicate keys.
pub fn write_sharded(
    dir: &Path,
    stem: &str,
    tensors: &[TensorSpec],
    max_shard_bytes: u64,
    metadata: Option<&Metadata>,
    seed: u64,
) -> io::Result<WrittenShards> {
    fs::create_dir_all(dir)?;
    let shards = split_by_size(tensors, max_shard_bytes);
    if shards.len() <= 1 {
        let path = dir.join(format!("{stem}.safetensors"));
        let bytes = write_safetensors(&path, tensors, metadata, seed)?;
        return Ok(WrittenShards {
            shards: vec![path],
            index: None,
            bytes,
        });
    }
    let n = shards.len();
    let names: Vec<String> = (1..=n).map(|k| hf_shard_name(stem, k, n)).collect();
    let index = json!({
        "metadata": {"total_size": tensor::total_bytes(tensors)},
        "weight_map": weight_map(&shards, &names),
    });
    write_all(
        dir,
        &shards,
        &names,
        metadata,
        seed,
        &format!("{stem}.safetensors.index.json"),
        &index,
    )
}

/// Writes `tensors` into `dir` the way mflux's `ModelSaver` does: `0.safetensors`, `1.safetensors`, ... each with
/// `metadata` (`quantization_level`, `mflux_version`), plus `model.safetensors.index.json` whose `metadata` is the
/// same map (mflux ≥ 0.13.0), written with `indent=2`.
///
/// mflux splits in `tree_flatten` order at 2 GiB per file; the split rule here is the Hugging Face one above, which
/// gives the same result for a list in that order (mflux's exact tie-breaking is not verified).
///
/// # Errors
///
/// Any I/O error, or `InvalidInput` for duplicate keys.
pub fn write_mflux_sharded(
    dir: &Path,
    tensors: &[TensorSpec],
    max_shard_bytes: u64,
    metadata: &Metadata,
    seed: u64,
) -> io::Result<WrittenShards> {
    fs::create_dir_all(dir)?;
    let shards = split_by_size(tensors, max_shard_bytes);
    let names: Vec<String> = (0..shards.len())
        .map(|k| format!("{k}.safetensors"))
        .collect();
    let meta: serde_json::Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let index = json!({"metadata": meta, "weight_map": weight_map(&shards, &names)});
    write_all(
        dir,
        &shards,
        &names,
        Some(metadata),
        seed,
        "model.safetensors.index.json",
        &index,
    )
}

fn weight_map(shards: &[Vec<TensorSpec>], names: &[String]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (shard, name) in shards.iter().zip(names) {
        for t in shard {
            map.insert(t.name.clone(), name.clone());
        }
    }
    map
}

fn write_all(
    dir: &Path,
    shards: &[Vec<TensorSpec>],
    names: &[String],
    metadata: Option<&Metadata>,
    seed: u64,
    index_name: &str,
    index: &Value,
) -> io::Result<WrittenShards> {
    let mut written = WrittenShards {
        shards: Vec::new(),
        index: None,
        bytes: 0,
    };
    for (shard, name) in shards.iter().zip(names) {
        let path = dir.join(name);
        written.bytes += write_safetensors(&path, shard, metadata, seed)?;
        written.shards.push(path);
    }
    let text = crate::json::pretty_sorted(index);
    let path = dir.join(index_name);
    fs::write(&path, &text)?;
    written.bytes += text.len() as u64;
    written.index = Some(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

    #[test]
    fn split_follows_the_hub_rule() {
        let t = |n: &str, len: u64| TensorSpec::new(n, Dtype::U32, [len / 4]);
        let tensors = [t("a", 40), t("b", 40), t("c", 200), t("d", 40), t("e", 40)];
        let shards = split_by_size(&tensors, 100);
        let names: Vec<Vec<&str>> = shards
            .iter()
            .map(|s| s.iter().map(|t| t.name.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["c"], vec!["a", "b"], vec!["d", "e"]]);
    }
}
