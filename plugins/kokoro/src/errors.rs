//! Turning lower-level errors into [`BackendError`]s that name the file.

use std::io;
use std::path::Path;

use modelcache_backend::BackendError;

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

pub(crate) use modelcache_weights::regular_file_or_error as regular_file;
