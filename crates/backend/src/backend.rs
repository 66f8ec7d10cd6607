//! The [`Backend`] trait every model family implements.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::BackendError;
use crate::inspection::Inspection;
use crate::progress::LoadProgress;

/// Where a model lives and how its backend should load it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ModelSource<'a, O> {
    /// The model ID (the key of `[models.ID]` in models.toml).
    pub id: &'a str,
    /// The checkpoint folder or file.
    pub path: &'a Path,
    /// The backend's typed options.
    pub options: &'a O,
    /// Parts of the model that other cache entries provide (one T5 for Flux and LTX): the
    /// backend leaves them out of its plan and checks from their headers that they fit.
    /// Only roles the backend lists in [`Backend::components`] appear here.
    pub components: &'a [Component],
    /// The device the model is loaded onto (`"cuda:0"`, `"metal:0"`), as models.toml's
    /// `device` names it; `None` = host memory. A backend that cannot place a model there
    /// fails the load with an error that says so.
    pub device: Option<&'a str>,
}

impl<'a, O> ModelSource<'a, O> {
    /// The model `id` at `path`, with `options` and no components from other entries.
    pub const fn new(id: &'a str, path: &'a Path, options: &'a O) -> Self {
        Self {
            id,
            path,
            options,
            components: &[],
            device: None,
        }
    }

    /// The same source, to be loaded onto `device` (`None`: host memory).
    #[must_use]
    pub const fn on_device(mut self, device: Option<&'a str>) -> Self {
        self.device = device;
        self
    }

    /// The same source with `components` provided by other cache entries.
    #[must_use]
    pub const fn with_components(mut self, components: &'a [Component]) -> Self {
        self.components = components;
        self
    }

    /// The component given for `role`, if another entry provides it.
    pub fn component(&self, role: &str) -> Option<&'a Component> {
        self.components.iter().find(|c| c.role == role)
    }
}

/// A part of a model that another cache entry provides: the cache loads that entry once,
/// charges it once, and keeps it resident while any model that uses it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The part it plays, one of the using backend's [`Backend::components`] (e.g. `"text_encoder_2"`).
    pub role: String,
    /// The cache entry that provides it.
    pub id: String,
    /// That entry's checkpoint folder or file, for the using backend's header checks.
    pub path: PathBuf,
    /// That entry's backend.
    pub backend: String,
}

/// One model family: opens a checkpoint into a plan (headers only), then loads that plan.
///
/// Three items are required: [`name`](Backend::name), [`open`](Backend::open) and
/// [`load`](Backend::load); the rest have defaults. The cache opens a model once per load:
/// the plan's [`Inspection`] says how many bytes the model will hold, the cache reserves them,
/// and then hands the same plan to `load`. So what `check` reports, what the cache reserves and
/// what the load allocates come from one reading of the headers and agree by construction.
///
/// Progress belongs to the cache: it calls [`LoadProgress::start`] before `load` (with
/// [`Opened::read_bytes`]) and [`LoadProgress::finish`] after it, whatever the outcome; a
/// backend only calls [`LoadProgress::advance`].
pub trait Backend: Send + Sync + 'static {
    /// Per-model options, deserialized from the `options` table of models.toml.
    type Options: DeserializeOwned + Default + Send + Sync + 'static;
    /// The loaded model. Handles give `&Model`; use interior mutability where a model mutates.
    type Model: Send + Sync + 'static;
    /// What [`open`](Backend::open) learned from the headers, enough to load without reading
    /// them again.
    type Plan: Send + 'static;

    /// The stable name used as `backend = "..."` in models.toml.
    fn name(&self) -> &str;

    /// Reads and validates the checkpoint's headers (never its tensor data) into a plan that
    /// knows the bytes the loaded model will hold.
    ///
    /// # Errors
    /// When the checkpoint is missing, malformed or does not fit its options.
    fn open(
        &self,
        source: &ModelSource<'_, Self::Options>,
    ) -> Result<Opened<Self::Plan>, BackendError>;

    /// Loads an opened plan, allocating at most `limit` bytes for it: the plan's bytes as the
    /// cache reserved them. A file that changed since it was opened (a larger tensor, a
    /// truncated shard) must fail with an error naming the file, before allocating for it.
    ///
    /// # Errors
    /// When a file cannot be read, changed since it was opened, or needs more than `limit`.
    fn load(
        &self,
        plan: Self::Plan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Self::Model, BackendError>;

    /// The measured resident size of a loaded model, in bytes, when the backend can measure it;
    /// the default, `None`, keeps the plan's bytes.
    fn resident_bytes(&self, _model: &Self::Model) -> Option<u64> {
        None
    }

    /// Whether callers may use one loaded model concurrently. When `false` (the default), the
    /// cache serializes callers of one model (`Handle::lock`).
    fn shareable(&self) -> bool {
        false
    }

    /// The parts of a model this backend can take from other cache entries (the roles of
    /// [`ModelSource::components`]), e.g. `["text_encoder", "text_encoder_2"]` for a pipeline
    /// whose text encoders may be shared. The default, none, is a backend that loads all of
    /// its model itself. A role names the folder of that part in the backend's own layout, so
    /// a registry can also find two models whose parts are the same files.
    fn components(&self) -> &[&str] {
        &[]
    }

    /// Whether [`demote`](Backend::demote) and [`promote`](Backend::promote) are implemented:
    /// then a model evicted from a device can wait in host memory instead of being unloaded
    /// (models.toml's `demote = true`). The default, `false`, is a backend whose models are
    /// only ever unloaded.
    fn moves(&self) -> bool {
        false
    }

    /// A copy of `model` in host memory, for a model leaving its device to wait there. The
    /// cache drops `model` (the device copy) once the copy exists, so both are charged, each
    /// against its own budget, while it is made. Called only when [`moves`](Backend::moves)
    /// says so.
    ///
    /// # Errors
    /// When the copy fails; the cache then unloads the model.
    fn demote(&self, _model: &Self::Model) -> Result<Self::Model, BackendError> {
        Err(crate::tiers::unsupported(Backend::name(self), "demote"))
    }

    /// A copy of the demoted `model` (in host memory) on `device`, for a request of a model
    /// that waited in host memory. The cache drops the host copy once the copy exists.
    ///
    /// # Errors
    /// When the copy fails; the cache then loads the model from its checkpoint instead.
    fn promote(&self, _model: &Self::Model, _device: &str) -> Result<Self::Model, BackendError> {
        Err(crate::tiers::unsupported(Backend::name(self), "promote"))
    }

    /// Checks options when the configuration is read, before any request.
    ///
    /// # Errors
    /// When the options are inconsistent.
    fn check_options(&self, _options: &Self::Options) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A checkpoint opened by [`Backend::open`]: the plan to load and what it will hold.
#[derive(Debug, Clone)]
pub struct Opened<P> {
    /// What the backend needs to load.
    pub plan: P,
    /// The layout, files, tensor count and bytes the load will hold.
    pub inspection: Inspection,
    /// Bytes of file data the load reads (for progress); by default the inspection's bytes.
    pub read_bytes: u64,
}

impl<P> Opened<P> {
    /// `plan`, which will hold `inspection.bytes` once loaded.
    pub fn new(plan: P, inspection: Inspection) -> Self {
        Self {
            read_bytes: inspection.bytes,
            plan,
            inspection,
        }
    }

    /// Says how many bytes of file data the load reads, when that differs from what it holds
    /// (a dtype conversion).
    #[must_use]
    pub fn reading(mut self, bytes: u64) -> Self {
        self.read_bytes = bytes;
        self
    }
}

/// Direct use of a [`Backend`] without a cache, following the cache's protocol: for tools,
/// tests and benchmarks. Implemented for every backend; not meant to be implemented.
pub trait BackendExt: Backend {
    /// The bytes the loaded model will hold, as [`open`](Backend::open) says.
    ///
    /// # Errors
    /// As [`Backend::open`].
    fn memory_hint(&self, source: &ModelSource<'_, Self::Options>) -> Result<u64, BackendError> {
        Ok(self.open(source)?.inspection.bytes)
    }

    /// What [`open`](Backend::open) finds, without the plan.
    ///
    /// # Errors
    /// As [`Backend::open`].
    fn inspect(&self, source: &ModelSource<'_, Self::Options>) -> Result<Inspection, BackendError> {
        Ok(self.open(source)?.inspection)
    }

    /// Opens and loads, with progress started and finished as the cache does; the load is
    /// limited to the plan's bytes.
    ///
    /// # Errors
    /// As [`Backend::open`] and [`Backend::load`].
    fn open_and_load(
        &self,
        source: &ModelSource<'_, Self::Options>,
        progress: &dyn LoadProgress,
    ) -> Result<Self::Model, BackendError> {
        let opened = self.open(source)?;
        progress.start(opened.read_bytes);
        let model = self.load(opened.plan, opened.inspection.bytes, progress);
        progress.finish();
        model
    }
}

impl<B: Backend + ?Sized> BackendExt for B {}
