//! Turning lower-layer errors into [`BackendError`]s that name the file.

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::WeightsError;

/// [`WeightsError::into_backend_error`]: the file the error names, or `fallback`.
pub(crate) fn weights(e: WeightsError, fallback: &Path) -> BackendError {
    e.into_backend_error(fallback)
}

pub(crate) use modelcache_weights::regular_file_or_error as regular_file;
