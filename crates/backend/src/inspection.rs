//! [`Inspection`]: what opening a checkpoint found.

use std::path::PathBuf;

/// What [`Backend::open`](crate::Backend::open) found in a checkpoint, without loading it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The layout recognized, e.g. `"bfl-single-file"`, `"diffusers"`, `"mflux-4bit"`.
    pub layout: Option<String>,
    /// The files a load would read.
    pub files: Vec<PathBuf>,
    /// Tensors a load would create.
    pub tensors: Option<usize>,
    /// Bytes the loaded model will hold: what the cache reserves for it.
    pub bytes: u64,
}

impl Inspection {
    /// An inspection of `bytes` with the layout, files and tensor count known.
    pub fn new(layout: impl Into<String>, files: Vec<PathBuf>, tensors: usize, bytes: u64) -> Self {
        Self {
            layout: Some(layout.into()),
            files,
            tensors: Some(tensors),
            bytes,
        }
    }

    /// An inspection that knows only the bytes.
    pub fn of_bytes(bytes: u64) -> Self {
        Self {
            bytes,
            ..Self::default()
        }
    }
}
