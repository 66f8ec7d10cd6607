//! Building the [`BackendError`]s this backend returns: every one names a file or folder.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::WeightsError;

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

pub(crate) use modelcache_weights::regular_file_or_error as regular_file;
