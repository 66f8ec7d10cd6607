//! Sharded-checkpoint index files (`*.safetensors.index.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, WeightsError};

/// Index and `model_index.json` files larger than this are refused (real ones are well under
/// 1 MiB; the cap keeps a corrupt file from being read whole into memory).
pub(crate) const MAX_JSON_FILE_LEN: u64 = 64 << 20;

/// The suffix of an index file name.
pub(crate) const INDEX_SUFFIX: &str = ".safetensors.index.json";

/// A parsed `*.safetensors.index.json`: `{"metadata": {...}, "weight_map": {tensor: shard}}`.
#[derive(Debug, Clone)]
pub struct ShardIndex {
    path: PathBuf,
    metadata: serde_json::Map<String, serde_json::Value>,
    weight_map: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Reads and parses an index. Shard names must be plain file names in the index's folder.
    ///
    /// # Errors
    /// [`WeightsError::Io`], or [`WeightsError::InvalidIndex`] if the JSON does not have the
    /// expected shape or a shard name is a path.
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_small_json(path)?;
        let invalid = |reason: String| WeightsError::InvalidIndex {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawIndex = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        for shard in raw.weight_map.values() {
            let mut parts = Path::new(shard).components();
            if !matches!(
                (parts.next(), parts.next()),
                (Some(Component::Normal(_)), None)
            ) {
                return Err(invalid(format!("shard `{shard}` is not a plain file name")));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            metadata: raw.metadata.unwrap_or_default(),
            weight_map: raw.weight_map,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder holding the index and its shards.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The `metadata` object (diffusers: `total_size`; mflux: `quantization_level`, ...).
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.metadata
    }

    /// `metadata.total_size`, if present: the writer's sum of tensor bytes. Informational; the
    /// inventory's own count is exact.
    pub fn total_size(&self) -> Option<u64> {
        self.metadata.get("total_size").and_then(|v| v.as_u64())
    }

    /// Tensor name to shard file name.
    pub fn weight_map(&self) -> &BTreeMap<String, String> {
        &self.weight_map
    }

    /// The distinct shard file names, sorted.
    pub fn shards(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.weight_map.values().map(String::as_str).collect();
        set.into_iter().collect()
    }
}

/// Reads a small JSON file as text, refusing files over [`MAX_JSON_FILE_LEN`].
pub(crate) fn read_small_json(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| WeightsError::io(path, e))?;
    let mut text = String::new();
    file.take(MAX_JSON_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => WeightsError::InvalidIndex {
                path: path.to_path_buf(),
                reason: "not UTF-8".into(),
            },
            _ => WeightsError::io(path, e),
        })?;
    if text.len() as u64 > MAX_JSON_FILE_LEN {
        return Err(WeightsError::InvalidIndex {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_JSON_FILE_LEN} bytes"),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("model.safetensors.index.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn parses_diffusers_and_mflux_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"metadata":{"total_size":12},"weight_map":{"a":"x-1.safetensors","b":"x-2.safetensors","c":"x-1.safetensors"}}"#,
        );
        let idx = ShardIndex::read(&p).unwrap();
        assert_eq!(idx.total_size(), Some(12));
        assert_eq!(idx.shards(), ["x-1.safetensors", "x-2.safetensors"]);
        assert_eq!(idx.dir(), dir.path());

        let p = write(
            dir.path(),
            r#"{"metadata":{"quantization_level":"4","mflux_version":"0.13.0"},"weight_map":{"a":"0.safetensors"}}"#,
        );
        let idx = ShardIndex::read(&p).unwrap();
        assert_eq!(idx.total_size(), None);
        assert_eq!(idx.metadata()["quantization_level"], "4");
    }

    #[test]
    fn rejects_paths_and_bad_json() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            r#"{"weight_map":{"a":"../x.safetensors"}}"#,
            r#"{"weight_map":{"a":"/etc/x.safetensors"}}"#,
            r#"{"weight_map":{"a":"sub/x.safetensors"}}"#,
            r#"{"metadata":{}}"#,
            r#"{"weight_map":{"a":1}}"#,
            "not json",
        ] {
            let p = write(dir.path(), bad);
            let err = ShardIndex::read(&p).unwrap_err();
            assert!(
                matches!(err, WeightsError::InvalidIndex { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("model.safetensors.index.json"));
        }
    }
}
