//! Models with a configured `size`: the cache reserves that size instead of the hint, so that
//! is what each of their loads may allocate.

use std::path::Path;
use std::sync::Arc;

use modelcache_core::{
    BackendError, Inspection, LoadProgress, Loaded, ModelLoader, format_bytes_exact,
};

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

    fn memory_hint(&self) -> Result<u64, BackendError> {
        self.inner.memory_hint()
    }

    fn inspect(&self) -> Result<Inspection, BackendError> {
        self.inner.inspect()
    }

    fn load(&self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        self.load_within(u64::MAX, progress)
    }

    fn load_within(&self, limit: u64, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        self.inner
            .load_within(limit.min(self.size), progress)
            .map_err(|e| self.too_small(limit, &e).unwrap_or(e))
    }
}

impl SizedLoader {
    /// When a load failed: the configured size as the reason, if the checkpoint's headers say
    /// it needs more (else the load's own error stands: the file changed, or is corrupt).
    /// The error names the file where the load stopped, as the load's own error did.
    fn too_small(&self, limit: u64, error: &BackendError) -> Option<BackendError> {
        let needs = self.inner.memory_hint().ok()?;
        let file = match error {
            BackendError::Io { path, .. }
            | BackendError::Missing { path, .. }
            | BackendError::Invalid { path, .. }
            | BackendError::Checkpoint { path, .. } => path.as_path(),
            _ => self.inner.path(),
        };
        (needs > self.size && self.size <= limit)
            .then(|| BackendError::invalid(file, too_small_message(self.size, needs)))
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
