//! Turning lower-level errors into [`BackendError`]s that name the file.

use std::io;
use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::WeightsError;

/// Wraps a weights error, keeping it for downcasting; `file` is named when the error names none.
pub(crate) fn weights_error(file: &Path, e: WeightsError) -> BackendError {
    BackendError::Checkpoint {
        path: e.path().unwrap_or(file).to_path_buf(),
        source: Box::new(e),
    }
}

/// [`BackendError::Missing`] for a file or folder that does not exist, [`BackendError::Io`]
/// otherwise.
pub(crate) fn missing_or_io(path: &Path, e: io::Error, what: String) -> BackendError {
    if e.kind() == io::ErrorKind::NotFound {
        BackendError::Missing {
            path: path.to_path_buf(),
            what,
        }
    } else {
        BackendError::io(path, e)
    }
}

/// Whether `path` is a regular file: `false` if nothing is there, an error naming what it is
/// otherwise (a FIFO is not "missing").
pub(crate) fn regular_file(path: &Path) -> Result<bool, BackendError> {
    modelcache_weights::regular_file(path).map_err(|e| weights_error(path, e))
}
