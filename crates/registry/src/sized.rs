//! Models with a configured `size`: the cache reserves that size instead of the hint, so that
//! is what each of their loads may allocate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelcache_backend::{
    BackendError, Component, Inspection, LoadProgress, Loaded, ModelLoader, ModelValue, Move,
    OpenedModel,
};
use modelcache_core::format_bytes_exact;

/// A loader whose loads are limited to `size` bytes, the bytes the cache reserves for a model
/// with `size = "..."` in models.toml. A checkpoint that needs more fails to load, with an
/// error naming the file, instead of allocating past its reservation.
pub(crate) struct SizedLoader {
    inner: Arc<dyn ModelLoader>,
    size: u64,
}

impl SizedLoader {
    /// `inner`, limited to `size` when it is `Some`.
    pub(crate) fn wrap(inner: Arc<dyn ModelLoader>, size: Option<u64>) -> Arc<dyn ModelLoader> {
        match size {
            Some(size) => Arc::new(Self { inner, size }),
            None => inner,
        }
    }
}

impl ModelLoader for SizedLoader {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn components(&self) -> &[Component] {
        self.inner.components()
    }

    fn device(&self) -> Option<&str> {
        self.inner.device()
    }

    fn moves(&self) -> bool {
        self.inner.moves()
    }

    fn relocate(
        &self,
        model: &ModelValue,
        bytes: u64,
        to: Move<'_>,
    ) -> Result<Loaded, BackendError> {
        self.inner.relocate(model, bytes, to)
    }

    fn open(&self) -> Result<Box<dyn OpenedModel>, BackendError> {
        Ok(Box::new(SizedOpened {
            inner: self.inner.open()?,
            size: self.size,
            path: self.inner.path().to_path_buf(),
        }))
    }
}

/// An opened model whose load is limited to the configured size.
struct SizedOpened {
    inner: Box<dyn OpenedModel>,
    size: u64,
    path: PathBuf,
}

impl OpenedModel for SizedOpened {
    fn inspection(&self) -> &Inspection {
        self.inner.inspection()
    }

    fn read_bytes(&self) -> u64 {
        self.inner.read_bytes()
    }

    fn load(
        self: Box<Self>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Loaded, BackendError> {
        let Self { inner, size, path } = *self;
        let needs = inner.inspection().bytes;
        inner.load(limit.min(size), progress).map_err(|e| {
            if needs > size && size <= limit {
                BackendError::invalid(file_of(&e, &path), too_small_message(size, needs))
            } else {
                e
            }
        })
    }
}

/// The file a load's error names (the model's path when it names none): where the load stopped.
fn file_of<'a>(error: &'a BackendError, path: &'a Path) -> &'a Path {
    match error {
        BackendError::Io { path, .. }
        | BackendError::Missing { path, .. }
        | BackendError::Invalid { path, .. }
        | BackendError::Checkpoint { path, .. } => path.as_path(),
        _ => path,
    }
}

/// Why a model whose checkpoint needs `needs` bytes cannot load within its configured `size`.
pub(crate) fn too_small_message(size: u64, needs: u64) -> String {
    format!(
        "its checkpoint needs {}, more than its configured `size`, {}, which is all a load \
         of it may allocate; raise `size` or remove it (the backend's hint is then reserved)",
        format_bytes_exact(needs),
        format_bytes_exact(size)
    )
}
