//! The type-erased forms of a [`Backend`]: what registries, the cache and dynamic plugins hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{Backend, Component, ModelSource, Opened};
use crate::error::BackendError;
use crate::inspection::Inspection;
use crate::loaded::Loaded;
use crate::progress::LoadProgress;
use crate::tiers::{ModelValue, Move, moved, wrong_type};

/// A model ready to be opened: a backend bound to a path and parsed options.
///
/// This is what the cache stores per registered model ID.
pub trait ModelLoader: Send + Sync {
    /// The backend's name.
    fn backend(&self) -> &str;
    /// The checkpoint path, for reports.
    fn path(&self) -> &Path;
    /// The parts of the model that other cache entries provide.
    fn components(&self) -> &[Component] {
        &[]
    }
    /// The device the model loads onto (`None`: host memory); see [`ModelSource::device`].
    fn device(&self) -> Option<&str> {
        None
    }
    /// Whether [`relocate`](ModelLoader::relocate) can move its models ([`Backend::moves`]).
    fn moves(&self) -> bool {
        false
    }
    /// A copy of a loaded `model` of this loader, charged at `bytes`, moved as `to` says
    /// ([`Backend::demote`], [`Backend::promote`]), measured as a load is (`bytes` when the
    /// backend cannot measure it).
    ///
    /// # Errors
    /// When the backend cannot move it, or `model` is not its model type.
    fn relocate(
        &self,
        _model: &ModelValue,
        _bytes: u64,
        _to: Move<'_>,
    ) -> Result<Loaded, BackendError> {
        Err(crate::tiers::unsupported(self.backend(), "demote"))
    }
    /// See [`Backend::open`].
    ///
    /// # Errors
    /// When the checkpoint is missing or malformed.
    fn open(&self) -> Result<Box<dyn OpenedModel>, BackendError>;

    /// The bytes the model would hold: [`open`](ModelLoader::open)'s, without the plan.
    ///
    /// # Errors
    /// As [`open`](ModelLoader::open).
    fn memory_hint(&self) -> Result<u64, BackendError> {
        Ok(self.open()?.inspection().bytes)
    }

    /// What [`open`](ModelLoader::open) finds, without the plan.
    ///
    /// # Errors
    /// As [`open`](ModelLoader::open).
    fn inspect(&self) -> Result<Inspection, BackendError> {
        Ok(self.open()?.inspection().clone())
    }
}

/// An opened checkpoint, ready to load: the erased [`Opened`] of a backend.
pub trait OpenedModel: Send {
    /// What the load will hold; `bytes` is what the cache reserves.
    fn inspection(&self) -> &Inspection;
    /// Bytes of file data the load reads, for progress.
    fn read_bytes(&self) -> u64 {
        self.inspection().bytes
    }
    /// See [`Backend::load`]: loads, allocating at most `limit` bytes.
    ///
    /// # Errors
    /// As [`Backend::load`].
    fn load(
        self: Box<Self>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Loaded, BackendError>;
}

/// Opens and loads `loader` following the cache's protocol (progress started and finished
/// here, the load limited to the opened bytes): for tools and tests that load without a cache.
///
/// # Errors
/// As [`ModelLoader::open`] and [`OpenedModel::load`].
pub fn open_and_load(
    loader: &dyn ModelLoader,
    progress: &dyn LoadProgress,
) -> Result<Loaded, BackendError> {
    let opened = loader.open()?;
    progress.start(opened.read_bytes());
    let limit = opened.inspection().bytes;
    let loaded = opened.load(limit, progress);
    progress.finish();
    loaded
}

/// A [`Backend`] bound to one model's path and options.
pub struct BackendModel<B: Backend> {
    backend: Arc<B>,
    id: String,
    path: PathBuf,
    options: B::Options,
    components: Vec<Component>,
    device: Option<String>,
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
            components: Vec::new(),
            device: None,
        }
    }

    /// The same model, loaded onto `device` (see [`ModelSource::device`]).
    #[must_use]
    pub fn on_device(mut self, device: Option<String>) -> Self {
        self.device = device;
        self
    }

    /// The same model with parts provided by other cache entries (see [`ModelSource::components`]).
    #[must_use]
    pub fn with_components(mut self, components: Vec<Component>) -> Self {
        self.components = components;
        self
    }
}

impl<B: Backend> ModelLoader for BackendModel<B> {
    fn backend(&self) -> &str {
        self.backend.name()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn components(&self) -> &[Component] {
        &self.components
    }

    fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    fn moves(&self) -> bool {
        self.backend.moves()
    }

    fn relocate(
        &self,
        model: &ModelValue,
        bytes: u64,
        to: Move<'_>,
    ) -> Result<Loaded, BackendError> {
        let name = self.backend.name();
        let model = model
            .downcast_ref::<B::Model>()
            .ok_or_else(|| wrong_type(name, std::any::type_name::<B::Model>()))?;
        let copy = match to {
            Move::Demote => self.backend.demote(model)?,
            Move::Promote(device) => self.backend.promote(model, device)?,
        };
        // A backend that cannot measure its model keeps the size the model was charged at.
        let bytes = self.backend.resident_bytes(&copy).unwrap_or(bytes);
        Ok(moved(copy, bytes, self.backend.shareable()))
    }

    fn open(&self) -> Result<Box<dyn OpenedModel>, BackendError> {
        let source = ModelSource::new(&self.id, &self.path, &self.options)
            .with_components(&self.components)
            .on_device(self.device.as_deref());
        let opened = self.backend.open(&source)?;
        Ok(Box::new(OpenedPlan {
            backend: Arc::clone(&self.backend),
            opened,
        }))
    }
}

struct OpenedPlan<B: Backend> {
    backend: Arc<B>,
    opened: Opened<B::Plan>,
}

impl<B: Backend> OpenedModel for OpenedPlan<B> {
    fn inspection(&self) -> &Inspection {
        &self.opened.inspection
    }

    fn read_bytes(&self) -> u64 {
        self.opened.read_bytes
    }

    fn load(
        self: Box<Self>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Loaded, BackendError> {
        let planned = self.opened.inspection.bytes;
        let model = self.backend.load(self.opened.plan, limit, progress)?;
        let bytes = self.backend.resident_bytes(&model).unwrap_or(planned);
        Ok(Loaded::new(model, bytes).shareable(self.backend.shareable()))
    }
}

/// A backend whose options type is erased, for registries and dynamic plugins.
///
/// Every [`Backend`] is a `DynBackend`.
pub trait DynBackend: Send + Sync {
    /// The backend's name.
    fn name(&self) -> &str;

    /// See [`Backend::components`].
    fn components(&self) -> &[&str];

    /// Parses `options` (absent = defaults), checks them, and binds the backend to one model.
    ///
    /// # Errors
    /// [`BackendError::Options`] when the options do not deserialize or fail the backend's check.
    fn prepare(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError> {
        self.prepare_using(id, path, Vec::new(), options)
    }

    /// [`prepare`](DynBackend::prepare) a model some of whose parts other cache entries provide.
    ///
    /// # Errors
    /// As [`prepare`](DynBackend::prepare), and [`BackendError::Options`] when a component's
    /// role is not one of [`components`](DynBackend::components).
    fn prepare_using(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        components: Vec<Component>,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError> {
        self.prepare_on(id, path, None, components, options)
    }

    /// [`prepare_using`](DynBackend::prepare_using) a model that loads onto `device`
    /// (see [`ModelSource::device`]; `None`: host memory).
    ///
    /// # Errors
    /// As [`prepare_using`](DynBackend::prepare_using).
    fn prepare_on(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        device: Option<&str>,
        components: Vec<Component>,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError>;
}

impl<B: Backend> DynBackend for B {
    fn name(&self) -> &str {
        Backend::name(self)
    }

    fn components(&self) -> &[&str] {
        Backend::components(self)
    }

    fn prepare_on(
        self: Arc<Self>,
        id: &str,
        path: &Path,
        device: Option<&str>,
        components: Vec<Component>,
        options: Option<&mut dyn erased_serde::Deserializer<'_>>,
    ) -> Result<Arc<dyn ModelLoader>, BackendError> {
        let roles = Backend::components(&*self);
        if let Some(c) = components
            .iter()
            .find(|c| !roles.contains(&c.role.as_str()))
        {
            return Err(BackendError::Options {
                backend: Backend::name(&*self).to_owned(),
                reason: format!(
                    "model {id:?}: no component {:?} (from {:?}) can be given to this backend; {}",
                    c.role,
                    c.id,
                    if roles.is_empty() {
                        "it takes none".to_owned()
                    } else {
                        format!("it takes {}", roles.join(", "))
                    }
                ),
            });
        }
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
        Ok(Arc::new(
            BackendModel::new(self, id, path, options)
                .with_components(components)
                .on_device(device.map(str::to_owned)),
        ))
    }
}
