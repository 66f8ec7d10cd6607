//! Sharded-checkpoint index files (`*.safetensors.index.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::de::{Deserializer, Error as _, MapAccess, Visitor};

use crate::error::{Result, WeightsError};
use crate::header::MAX_TENSORS;

/// Index and `model_index.json` files larger than this are refused unread (the largest real
/// indexes, of checkpoints with about 100,000 tensors, are under 10 MiB).
pub const MAX_INDEX_LEN: u64 = 64 << 20;

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
    #[serde(deserialize_with = "bounded_weight_map")]
    weight_map: BTreeMap<String, String>,
}

/// The message of the error that stops a `weight_map` of more than [`MAX_TENSORS`] entries.
const TOO_MANY: &str = "weight_map: too many tensors";

/// A `weight_map` read no further than [`MAX_TENSORS`] entries.
fn bounded_weight_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    struct Bounded;
    impl<'de> Visitor<'de> for Bounded {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of tensor names to shard file names")
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((tensor, shard)) = map.next_entry::<String, String>()? {
                if out.len() == MAX_TENSORS {
                    return Err(A::Error::custom(TOO_MANY));
                }
                out.insert(tensor, shard);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Bounded)
}

impl ShardIndex {
    /// Reads and parses an index. Shard names must be plain file names in the index's folder.
    ///
    /// # Errors
    /// [`WeightsError::Io`], [`NotRegularFile`](WeightsError::NotRegularFile),
    /// [`FileTooLarge`](WeightsError::FileTooLarge) over [`MAX_INDEX_LEN`],
    /// [`TooManyTensors`](WeightsError::TooManyTensors) for a `weight_map` of more than
    /// [`MAX_TENSORS`](crate::MAX_TENSORS) entries, or [`WeightsError::InvalidIndex`] if the
    /// JSON does not have the expected shape or a shard name is a path.
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_from(path, None)
    }

    /// [`read`](Self::read) for an index found in `folder` (the link rule applies to it).
    pub(crate) fn read_from(path: &Path, within: Option<&Path>) -> Result<Self> {
        let text = read_small_json(path, within)?;
        let invalid = |reason: String| WeightsError::InvalidIndex {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawIndex = serde_json::from_str(&text).map_err(|e| {
            if e.to_string().starts_with(TOO_MANY) {
                WeightsError::TooManyTensors {
                    path: path.to_path_buf(),
                    limit: MAX_TENSORS,
                }
            } else {
                invalid(e.to_string())
            }
        })?;
        for shard in raw.weight_map.values() {
            let mut parts = Path::new(shard).components();
            if !matches!(
                (parts.next(), parts.next()),
                (Some(Component::Normal(_)), None)
            ) {
                return Err(invalid(format!(
                    "shard `{}` is not a plain file name",
                    shard.escape_debug()
                )));
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

/// Reads a small JSON file as text, refusing files over [`MAX_INDEX_LEN`] unread; with
/// `within`, the link rule of that folder applies.
pub(crate) fn read_small_json(path: &Path, within: Option<&Path>) -> Result<String> {
    let bytes = match within {
        Some(folder) => modelcache_files::read_within(folder, path, MAX_INDEX_LEN)?,
        None => modelcache_files::read(path, MAX_INDEX_LEN)?,
    };
    String::from_utf8(bytes).map_err(|_| WeightsError::InvalidIndex {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })
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
