//! The one conversion of a [`WeightsError`] into the contract's [`BackendError`], for every
//! plugin: the error is kept whole (for downcasting) and the file it names is the error's path.

use std::path::Path;

use modelcache_backend::BackendError;

use crate::error::WeightsError;

impl WeightsError {
    /// [`BackendError::Checkpoint`] wrapping this error; its path is the file the error names,
    /// or `fallback` (the model path) when it names none.
    pub fn into_backend_error(self, fallback: &Path) -> BackendError {
        BackendError::Checkpoint {
            path: self.path().unwrap_or(fallback).to_path_buf(),
            source: Box::new(self),
        }
    }
}

/// Whether `path` is a regular file: `false` if nothing is there, an error naming what it is
/// otherwise (a FIFO is not "missing"). [`regular_file`](crate::regular_file) with the
/// contract's error.
///
/// # Errors
/// When something other than a regular file is at `path`, or it cannot be examined.
pub fn regular_file_or_error(path: &Path) -> Result<bool, BackendError> {
    crate::regular_file(path).map_err(|e| e.into_backend_error(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_the_error_and_names_its_file_or_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.safetensors");
        std::fs::write(&file, [1u8, 2, 3]).unwrap();
        let e = crate::Checkpoint::open_file(&file).err().unwrap();
        match e.into_backend_error(Path::new("/fallback")) {
            BackendError::Checkpoint { path, source } => {
                assert_eq!(path, file);
                assert!(source.downcast_ref::<WeightsError>().is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(!regular_file_or_error(&dir.path().join("absent")).unwrap());
        let err = regular_file_or_error(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&*dir.path().to_string_lossy()), "{err}");
    }
}
