//! The promise about errors that every check of the suite (and every harness built on it)
//! holds a backend to.

use std::path::Path;

use modelcache_backend::BackendError;

/// Checks that `error` names a file or folder under `root`, in its fields and its message.
///
/// # Errors
/// A description of what is missing.
pub fn names_a_file_under(error: &BackendError, root: &Path) -> Result<(), String> {
    let message = error.to_string();
    let path = match error {
        BackendError::Io { path, .. }
        | BackendError::Missing { path, .. }
        | BackendError::Invalid { path, .. }
        | BackendError::Checkpoint { path, .. } => Some(path),
        _ => None,
    };
    match path {
        Some(path) if !path.starts_with(root) => Err(format!(
            "error names {}, outside the fixture {}: {message}",
            path.display(),
            root.display()
        )),
        Some(_) if message.contains(&*root.to_string_lossy()) => Ok(()),
        Some(path) => Err(format!(
            "error is about {} but its message names no file: {message}",
            path.display()
        )),
        None => Err(format!("error names no file: {error:?}")),
    }
}
