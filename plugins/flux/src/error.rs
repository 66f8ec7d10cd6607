//! Building the [`BackendError`]s this backend returns: every one names a file or folder.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::WeightsError;
use serde::de::DeserializeOwned;

/// [`WeightsError::into_backend_error`]: the file the error names, or `fallback`.
pub(crate) fn weights(e: WeightsError, fallback: &Path) -> BackendError {
    e.into_backend_error(fallback)
}

/// A [`BackendError::Invalid`] about one tensor.
pub(crate) fn tensor(
    path: impl Into<PathBuf>,
    tensor: impl Into<String>,
    reason: impl Into<String>,
) -> BackendError {
    BackendError::Invalid {
        path: path.into(),
        tensor: Some(tensor.into()),
        reason: reason.into(),
    }
}

/// A [`BackendError::Missing`].
pub(crate) fn missing(path: impl Into<PathBuf>, what: impl Into<String>) -> BackendError {
    BackendError::Missing {
        path: path.into(),
        what: what.into(),
    }
}

/// Reads and parses a small JSON config file (`config.json`), `what` naming it in errors:
/// through [`modelcache_weights::read_config_file`] (a regular file, bounded, links kept
/// inside its folder).
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, BackendError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let bytes = modelcache_weights::read_config_file(folder, path).map_err(|e| match e {
        e if e.is_not_found() => missing(path, what),
        e => weights(e, path),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| BackendError::invalid(path, format!("{what} is not valid: {e}")))
}

pub(crate) use modelcache_weights::regular_file_or_error as regular_file;
