//! mflux's markers and MLX quantization settings (docs/checkpoint-layouts.md §5.9, §5.10).

use modelcache_backend::BackendError;
use modelcache_weights::Checkpoint;

/// The metadata key holding the bits per quantized value.
const LEVEL: &str = "quantization_level";
/// The metadata key holding the mflux version that saved the tree.
const VERSION: &str = "mflux_version";

/// How a component's weights are quantized: MLX affine, `bits` per value, one `scales` and one
/// `biases` entry per `group_size` values of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantization {
    /// Bits per value: 2, 3, 4, 5, 6 or 8.
    pub bits: u8,
    /// Values per group: 32, 64 or 128.
    pub group_size: u64,
}

/// Whether the checkpoint carries mflux metadata (`quantization_level` or `mflux_version`) in a
/// shard header or in its index.
pub(crate) fn is_mflux(ck: &Checkpoint) -> bool {
    let marked = |has: &dyn Fn(&str) -> bool| has(LEVEL) || has(VERSION);
    ck.files()
        .iter()
        .any(|f| marked(&|k| f.metadata().contains_key(k)))
        || ck
            .index()
            .is_some_and(|i| marked(&|k| i.metadata().contains_key(k)))
}

/// The quantization level mflux recorded: from the shard headers (every shard must agree),
/// else from the index. `None`, `"None"`, `"null"` and `""` mean unquantized, as mflux reads them.
///
/// # Errors
/// [`BackendError::Invalid`] when shards disagree or the level is not 2, 3, 4, 5, 6 or 8.
pub(crate) fn bits(ck: &Checkpoint) -> Result<Option<u8>, BackendError> {
    let mut found: Option<(&str, &std::path::Path)> = None;
    for f in ck.files() {
        let Some(level) = f.metadata().get(LEVEL) else {
            continue;
        };
        match found {
            Some((first, path)) if first != level => {
                return Err(BackendError::invalid(
                    f.path(),
                    format!(
                        "{LEVEL} {level:?} differs from {first:?} in {}",
                        path.display()
                    ),
                ));
            }
            Some(_) => {}
            None => found = Some((level.as_str(), f.path())),
        }
    }
    let index_level = ck
        .index()
        .and_then(|i| i.metadata().get(LEVEL))
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    let (level, path) = match (found, &index_level) {
        (Some((level, path)), _) => (level, path.to_path_buf()),
        (None, Some(level)) => (level.as_str(), ck.location().to_path_buf()),
        (None, None) => return Ok(None),
    };
    match level {
        "" | "None" | "null" => Ok(None),
        _ => match level.parse::<u8>() {
            Ok(b @ (2 | 3 | 4 | 5 | 6 | 8)) => Ok(Some(b)),
            _ => Err(BackendError::invalid(
                path,
                format!("{LEVEL} {level:?} is not one of MLX's 2, 3, 4, 5, 6 or 8 bits"),
            )),
        },
    }
}
