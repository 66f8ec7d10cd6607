//! Building the [`BackendError`]s this backend returns: every one names a file or folder.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use modelcache_core::BackendError;
use modelcache_weights::WeightsError;
use serde::de::DeserializeOwned;

/// Wraps a weights error as [`BackendError::Checkpoint`], keeping it for downcasting. The path
/// is the file the error is about, or `fallback` (the model path) when it names none.
pub(crate) fn weights(e: WeightsError, fallback: &Path) -> BackendError {
    let path = e.path().unwrap_or(fallback).to_path_buf();
    BackendError::Checkpoint {
        path,
        source: Box::new(e),
    }
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

/// Config files larger than this are refused (real ones are about 1 KiB).
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// Reads and parses a small JSON config file (`config.json`), `what` naming it in errors.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, BackendError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => missing(path, what),
        _ => BackendError::io(path, e),
    })?;
    let mut text = String::new();
    file.take(MAX_CONFIG_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidData => BackendError::invalid(path, format!("{what}: not UTF-8")),
            _ => BackendError::io(path, e),
        })?;
    if text.len() as u64 > MAX_CONFIG_LEN {
        return Err(BackendError::invalid(
            path,
            format!("{what}: larger than {MAX_CONFIG_LEN} bytes"),
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| BackendError::invalid(path, format!("{what} is not valid: {e}")))
}
