//! [`FnLoader`]: a model loader made of closures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::erased::{ModelLoader, OpenedModel};
use crate::error::BackendError;
use crate::inspection::Inspection;
use crate::loaded::Loaded;
use crate::progress::LoadProgress;

type HintFn = dyn Fn() -> Result<u64, BackendError> + Send + Sync;
type LoadFn = dyn Fn(&dyn LoadProgress) -> Result<Loaded, BackendError> + Send + Sync;

/// A [`ModelLoader`] made of closures: for tests, examples and models that are not files.
/// Opening it runs the hint closure; loading runs the load closure.
pub struct FnLoader {
    backend: String,
    path: PathBuf,
    hint: Box<HintFn>,
    load: Arc<LoadFn>,
}

impl FnLoader {
    /// A loader whose hint is `hint` bytes and whose load runs `load`.
    pub fn new(
        backend: impl Into<String>,
        hint: u64,
        load: impl Fn(&dyn LoadProgress) -> Result<Loaded, BackendError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            backend: backend.into(),
            path: PathBuf::new(),
            hint: Box::new(move || Ok(hint)),
            load: Arc::new(load),
        }
    }

    /// Replaces the hint with a computation that may fail.
    #[must_use]
    pub fn with_hint(
        mut self,
        hint: impl Fn() -> Result<u64, BackendError> + Send + Sync + 'static,
    ) -> Self {
        self.hint = Box::new(hint);
        self
    }

    /// Sets the reported path.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = path.into();
        self
    }
}

impl ModelLoader for FnLoader {
    fn backend(&self) -> &str {
        &self.backend
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<Box<dyn OpenedModel>, BackendError> {
        Ok(Box::new(OpenedFn {
            inspection: Inspection::of_bytes((self.hint)()?),
            load: Arc::clone(&self.load),
        }))
    }
}

struct OpenedFn {
    inspection: Inspection,
    load: Arc<LoadFn>,
}

impl OpenedModel for OpenedFn {
    fn inspection(&self) -> &Inspection {
        &self.inspection
    }

    fn load(
        self: Box<Self>,
        _limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Loaded, BackendError> {
        (self.load)(progress)
    }
}
