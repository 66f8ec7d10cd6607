//! Turning lower-layer errors into [`BackendError`]s that name the file.

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::WeightsError;

/// Wraps a weights error, keeping it for downcasting; `path` is the file it names (the model
/// path when it names none).
pub(crate) fn weights(e: WeightsError, fallback: &Path) -> BackendError {
    let path = e
        .path()
        .map_or_else(|| fallback.to_path_buf(), Path::to_path_buf);
    BackendError::Checkpoint {
        path,
        source: Box::new(e),
    }
}

/// Whether `path` is a regular file: `false` if nothing is there, an error naming what it is
/// otherwise (a FIFO is not "missing").
pub(crate) fn regular_file(path: &Path) -> Result<bool, BackendError> {
    modelcache_weights::regular_file(path).map_err(|e| weights(e, path))
}
