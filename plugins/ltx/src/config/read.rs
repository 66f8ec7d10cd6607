//! Reading config JSON: bounded small files, and entries of the single file's metadata.

use std::path::Path;

use modelcache_backend::BackendError;
use serde_json::{Map, Value};

/// Reads `path` as a JSON object: through [`modelcache_weights::read_config_json`] (a regular
/// file of at most [`modelcache_weights::MAX_CONFIG_LEN`] bytes, links kept inside its folder).
///
/// # Errors
/// [`BackendError::Missing`] if the file does not exist, [`BackendError::Checkpoint`] if it is
/// not a regular file, too large or cannot be read, [`BackendError::Invalid`] if it is not
/// JSON or not an object.
pub(crate) fn read_config_file(
    path: &Path,
    what: &str,
) -> Result<Map<String, Value>, BackendError> {
    match modelcache_weights::read_config_json(path) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BackendError::invalid(
            path,
            format!("{what} is not a JSON object"),
        )),
        Err(e) => Err(e.into_backend_error(what)),
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
