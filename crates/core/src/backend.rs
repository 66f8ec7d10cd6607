//! The `Backend` trait every model family implements, and its type-erased forms.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;

use crate::error::BackendError;
use crate::progress::LoadProgress;

/// Where a model lives and how its backend should load it.
#[derive(Debug, Clone, Copy)]
pub struct ModelSource<'a, O> {
    /// The model ID (the key of `[models.ID]` in models.toml).
    pub id: &'a str,
    /// The checkpoint folder or file.
    pub path: &'a Path,
    /// The backend's typed options.
    pub options: &'a O,
}

/// One model family: knows how big a checkpoint will be in memory and how to load it.
///
/// Four methods are required (`name` and the three below); the rest have defaults. The cache calls
/// [`memory_hint`](Backend::memory_hint) before loading to reserve room, then
/// [`load`](Backend::load), then [`resident_bytes`](Backend::resident_bytes) on the result,
/// whose measured size replaces the hint.
pub trait Backend: Send + Sync + 'static {
    /// Per-model options, deserialized from the `options` table of models.toml.
    type Options: DeserializeOwned + Default + Send + Sync + 'static;
    /// The loaded model. Handles give `&Model`; use interior mutability where a model mutates.
    type Model: Send + Sync + 'static;

    /// The stable name used as `backend = "..."` in models.toml.
    fn name(&self) -> &str;

    /// Bytes the loaded model will hold, computed cheaply WITHOUT loading (headers only).
    ///
    /// # Errors
    /// When the checkpoint is missing or malformed.
    fn memory_hint(&self, source: &ModelSource<'_, Self::Options>) -> Result<u64, BackendError>;

    /// Loads the model, reporting progress in bytes.
    ///
    /// # Errors
    /// When the checkpoint is missing, malformed or cannot be read.
    fn load(
        &self,
        source: &ModelSource<'_, Self::Options>,
        progress: &dyn LoadProgress,
    ) -> Result<Self::Model, BackendError>;

    /// The measured resident size of a loaded model, in bytes.
    fn resident_bytes(&self, model: &Self::Model) -> u64;

    /// Loads the model allocating at most `limit` bytes for it: the bytes the cache reserved
    /// (the hint it was given, or the size configured in its place). A checkpoint that now
    /// needs more, because a file was replaced by a larger one after the hint was taken, must
    /// fail before allocating, with an error naming the file. The built-in backends read no
    /// buffer size from a file at load time that was not counted against `limit`.
    ///
    /// The default ignores `limit` and calls [`load`](Backend::load): right only for backends
    /// whose allocations do not come from files.
    ///
    /// # Errors
    /// As [`load`](Backend::load), and when the model needs more than `limit` bytes.
    fn load_within(
        &self,
        source: &ModelSource<'_, Self::Options>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Self::Model, BackendError> {
        let _ = limit;
        self.load(source, progress)
    }

    /// Whether callers may use one loaded model concurrently. When `false` (the default),
    /// [`Handle::lock`](crate::Handle::lock) serializes callers of one model.
    fn shareable(&self) -> bool {
        false
    }

    /// Describes the checkpoint without loading it (headers only): the layout found, the files
    /// that would be read, the tensor count and the bytes it will hold. The default knows only
    /// the bytes, from [`memory_hint`](Backend::memory_hint).
    ///
    /// # Errors
    /// When the checkpoint is missing or malformed.
    fn inspect(&self, source: &ModelSource<'_, Self::Options>) -> Result<Inspection, BackendError> {
        Ok(Inspection {
            bytes: self.memory_hint(source)?,
            ..Inspection::default()
        })
    }

    /// Checks options when the configuration is read, before any request.
    ///
    /// # Errors
    /// When the options are inconsistent.
    fn check_options(&self, _options: &Self::Options) -> Result<(), BackendError> {
        Ok(())
    }
}

/// What [`Backend::inspect`] found in a checkpoint, without loading it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The layout recognized, e.g. `"bfl-single-file"`, `"diffusers"`, `"mflux-4bit"`.
    pub layout: Option<String>,
    /// The files a load would read.
    pub files: Vec<PathBuf>,
    /// Tensors a load would create.
    pub tensors: Option<usize>,
    /// Bytes the loaded model will hold (the memory hint).
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
}

/// A loaded model with its measured size, type-erased for storage in the cache.
pub struct Loaded {
    pub(crate) value: Box<dyn Any + Send + Sync>,
    pub(crate) type_name: &'static str,
    pub(crate) type_id: std::any::TypeId,
    pub(crate) bytes: u64,
    pub(crate) shareable: bool,
}

impl Loaded {
    /// Wraps a loaded value whose resident size is `bytes`.
    pub fn new<T: Send + Sync + 'static>(value: T, bytes: u64) -> Self {
        Self {
            value: Box::new(value),
            type_name: std::any::type_name::<T>(),
            type_id: std::any::TypeId::of::<T>(),
            bytes,
            shareable: false,
        }
    }

    /// Marks the model safe for concurrent use (no per-entry lock).
    #[must_use]
    pub fn shareable(mut self, shareable: bool) -> Self {
        self.shareable = shareable;
        self
    }

    /// The measured size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("type", &self.type_name)
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// A model ready to be loaded: a backend bound to a path and parsed options.
///
/// This is what the cache stores per registered model ID.
pub trait ModelLoader: Send + Sync {
    /// The backend's name.
    fn backend(&self) -> &str;
    /// The checkpoint path, for reports.
    fn path(&self) -> &Path;
    /// See [`Backend::memory_hint`].
    ///
    /// # Errors
    /// When the checkpoint is missing or malformed.
    fn memory_hint(&self) -> Result<u64, BackendError>;
    /// See [`Backend::load`].
    ///
    /// # Errors
    /// When the checkpoint is missing, malformed or unreadable.
    fn load(&self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError>;
    /// See [`Backend::load_within`]: loads allocating at most `limit` bytes. The default
    /// ignores `limit` and calls [`load`](ModelLoader::load).
    ///
    /// # Errors
    /// As [`load`](ModelLoader::load), and when the model needs more than `limit` bytes.
    fn load_within(&self, limit: u64, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        let _ = limit;
        self.load(progress)
    }
    /// See [`Backend::inspect`].
    ///
    /// # Errors
    /// When the checkpoint is missing or malformed.
    fn inspect(&self) -> Result<Inspection, BackendError> {
        Ok(Inspection {
            bytes: self.memory_hint()?,
            ..Inspection::default()
        })
    }
}

/// A [`Backend`] bound to one model's path and options.
///
/// **No load allocates more than was reserved for it.** The cache reserves a model's hint
/// (from [`memory_hint`](ModelLoader::memory_hint)) and then calls
/// [`load`](ModelLoader::load); between the two, a checkpoint file may be replaced by one
/// whose headers claim far more. So a `BackendModel` remembers the smallest hint it has
/// returned since its last load began, and its load passes that as the limit of
/// [`Backend::load_within`] (with [`load_within`](ModelLoader::load_within), the smaller of
/// the two). The smallest, because a `plan` may ask for a hint while a request's load is
/// being admitted: a concurrent hint can only lower the limit (the load then fails as
/// changed, and the next request sizes the model afresh), never raise it past what was
/// reserved. A load with no hint before it (a configured size, or a budget of 0) is limited
/// only by what its caller passes.
pub struct BackendModel<B: Backend> {
    backend: Arc<B>,
    id: String,
    path: PathBuf,
    options: B::Options,
    /// The smallest hint returned since the last load began; `u64::MAX` when none.
    hinted: AtomicU64,
}

impl<B: Backend> BackendModel<B> {
    /// Binds `backend` to a model.
    pub fn new(
        backend: Arc<B>,
        id: impl Into<String>,
        path: impl Into<PathBuf>,
        options: B::Options,
    ) -> Self {
        Self {
            backend,
            id: id.into(),
            path: path.into(),
            options,
            hinted: AtomicU64::new(u64::MAX),
        }
    }

    fn source(&self) -> ModelSource<'_, B::Options> {
        ModelSource {
            id: &self.id,
            path: &self.path,
            options: &self.options,
        }
    }
}

impl<B: Backend> ModelLoader for BackendModel<B> {
    fn backend(&self) -> &str {
        self.backend.name()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn memory_hint(&self) -> Result<u64, BackendError> {
        let hint = self.backend.memory_hint(&self.source())?;
        self.hinted.fetch_min(hint, Ordering::AcqRel);
        Ok(hint)
    }

    fn inspect(&self) -> Result<Inspection, BackendError> {
        self.backend.inspect(&self.source())
    }

    fn load(&self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        self.load_within(u64::MAX, progress)
    }

    fn load_within(&self, limit: u64, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        let limit = limit.min(self.hinted.swap(u64::MAX, Ordering::AcqRel));
        let model = self.backend.load_within(&self.source(), limit, progress)?;
        let bytes = self.backend.resident_bytes(&model);
        Ok(Loaded::new(model, bytes).shareable(self.backend.shareable()))
    }
}

/// A backend whose options type is erased, for registries and dynamic plugins.
///
/// Every [`Backend`] is a `DynBackend`.
pub trait DynBackend: Send + Sync {
    /// The backend's name.
    fn name(&self) -> &str;

    /// Parses `options` (absent = defaults), checks them, and binds the backend to one model.
    ///
    /// # Errors
    /// [`BackendError::Options`] when the options do not deserialize or fail the backend's check.
    fn prepare(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError>;
}

impl<B: Backend> DynBackend for B {
    fn name(&self) -> &str {
        Backend::name(self)
    }

    fn prepare(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError> {
        let options = match options {
            Some(de) => {
                erased_serde::deserialize::<B::Options>(de).map_err(|e| BackendError::Options {
                    backend: Backend::name(&*self).to_owned(),
                    reason: format!("model {id:?}: {}", e.to_string().trim_end()),
                })?
            }
            None => B::Options::default(),
        };
        self.check_options(&options).map_err(|e| match e {
            BackendError::Options { backend, reason } if !reason.contains(id) => {
                BackendError::Options {
                    backend,
                    reason: format!("model {id:?}: {reason}"),
                }
            }
            other => other,
        })?;
        Ok(Arc::new(BackendModel::new(self, id, path, options)))
    }
}

type HintFn = dyn Fn() -> Result<u64, BackendError> + Send + Sync;
type LoadFn = dyn Fn(&dyn LoadProgress) -> Result<Loaded, BackendError> + Send + Sync;

/// A [`ModelLoader`] made of closures: for tests, examples and models that are not files.
pub struct FnLoader {
    backend: String,
    path: PathBuf,
    hint: Box<HintFn>,
    load: Box<LoadFn>,
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
            load: Box::new(load),
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

    fn memory_hint(&self) -> Result<u64, BackendError> {
        (self.hint)()
    }

    fn load(&self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        (self.load)(progress)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::progress::NoProgress;
    use std::sync::Mutex;

    /// Hints whatever `next_hint` says; loads record the limit they were given.
    #[derive(Default)]
    struct Recorder {
        next_hint: AtomicU64,
        limits: Mutex<Vec<u64>>,
    }

    impl Backend for Recorder {
        type Options = ();
        type Model = ();
        fn name(&self) -> &str {
            "recorder"
        }
        fn memory_hint(&self, _: &ModelSource<'_, ()>) -> Result<u64, BackendError> {
            Ok(self.next_hint.load(Ordering::SeqCst))
        }
        fn load(&self, s: &ModelSource<'_, ()>, p: &dyn LoadProgress) -> Result<(), BackendError> {
            self.load_within(s, u64::MAX, p)
        }
        fn load_within(
            &self,
            _: &ModelSource<'_, ()>,
            limit: u64,
            _: &dyn LoadProgress,
        ) -> Result<(), BackendError> {
            self.limits.lock().unwrap().push(limit);
            Ok(())
        }
        fn resident_bytes(&self, _: &()) -> u64 {
            0
        }
    }

    #[test]
    fn a_load_is_limited_to_the_smallest_hint_given_since_the_last_load() {
        let backend = Arc::new(Recorder::default());
        let model = BackendModel::new(Arc::clone(&backend), "m", "/m", ());
        let hint = |bytes: u64| {
            backend.next_hint.store(bytes, Ordering::SeqCst);
            model.memory_hint().unwrap()
        };
        // The cache's sequence: hint (reserved), then load.
        hint(100);
        model.load(&NoProgress).unwrap();
        // A checkpoint swapped for a larger one, seen by a `plan` between the request's hint
        // and its load, cannot raise the limit past what was reserved.
        hint(100);
        hint(1 << 40);
        model.load(&NoProgress).unwrap();
        // A load with no hint before it (a configured size) is limited by its caller alone.
        model.load(&NoProgress).unwrap();
        model.load_within(64, &NoProgress).unwrap();
        hint(32);
        model.load_within(64, &NoProgress).unwrap();
        assert_eq!(
            *backend.limits.lock().unwrap(),
            [100, 100, u64::MAX, 64, 32]
        );
    }
}
