//! Reading config JSON: bounded small files, and entries of the single file's metadata.

use std::io::Read;
use std::path::Path;

use modelcache_core::BackendError;
use serde_json::{Map, Value};

/// The largest `config.json` read (real ones are under 2 KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads `path` as a JSON object, reading at most [`MAX_CONFIG_BYTES`].
///
/// # Errors
/// [`BackendError::Missing`] if the file does not exist, [`BackendError::Io`] if it cannot be
/// read, [`BackendError::Invalid`] if it is too large, not JSON or not an object.
pub(crate) fn read_config_file(
    path: &Path,
    what: &str,
) -> Result<Map<String, Value>, BackendError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackendError::Missing {
                path: path.to_path_buf(),
                what: what.to_owned(),
            });
        }
        Err(e) => return Err(BackendError::io(path, e)),
    };
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| BackendError::io(path, e))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(BackendError::invalid(
            path,
            format!("{what} is larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BackendError::invalid(
            path,
            format!("{what} is not a JSON object"),
        )),
        Err(e) => Err(BackendError::invalid(
            path,
            format!("{what} is not JSON: {e}"),
        )),
    }
}

/// `map[key]` as a JSON object.
///
/// # Errors
/// A reason naming `origin` and `key` when the entry is absent or not an object.
pub(crate) fn sub_object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    origin: &str,
) -> Result<&'a Value, String> {
    match map.get(key) {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(format!("{origin}: `{key}` is not a JSON object")),
        None => Err(format!("{origin} has no `{key}` entry")),
    }
}
