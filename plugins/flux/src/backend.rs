//! [`FluxBackend`]: the [`Backend`] implementation.

use modelcache_core::{Backend, BackendError, Inspection, LoadProgress, ModelSource};
use modelcache_weights::{Allowance, LoadOptions};

use crate::error;
use crate::model::{FluxModel, LoadedComponent};
use crate::options::FluxOptions;
use crate::plan::Plan;

/// The backend's name: `backend = "flux"` in models.toml.
pub const NAME: &str = "flux";

/// The FLUX.1 backend. It holds no state; [`BACKEND`] is a ready value to register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FluxBackend;

/// A ready [`FluxBackend`], to register in one line.
pub const BACKEND: FluxBackend = FluxBackend;

impl Backend for FluxBackend {
    type Options = FluxOptions;
    type Model = FluxModel;

    fn name(&self) -> &str {
        NAME
    }

    /// Exact: the loaded size of the chosen layout's requested components, from their headers
    /// (and small `config.json` / index files), after validating them.
    fn memory_hint(&self, source: &ModelSource<'_, FluxOptions>) -> Result<u64, BackendError> {
        let plan = Plan::open(source.path, source.options)?;
        Ok(plan.loaded_bytes(source.options.dtype.map(|d| d.dtype())))
    }

    /// The layout chosen, the files of the requested components, their tensor count and the
    /// hint: the same headers-only plan as [`memory_hint`](Backend::memory_hint).
    fn inspect(&self, source: &ModelSource<'_, FluxOptions>) -> Result<Inspection, BackendError> {
        let plan = Plan::open(source.path, source.options)?;
        let files = plan
            .parts
            .iter()
            .flat_map(|p| p.checkpoint.files().iter().map(|f| f.path().to_path_buf()))
            .collect();
        let tensors = plan.parts.iter().map(|p| p.checkpoint.len()).sum();
        let bytes = plan.loaded_bytes(source.options.dtype.map(|d| d.dtype()));
        Ok(Inspection::new(plan.layout.as_str(), files, tensors, bytes))
    }

    fn load(
        &self,
        source: &ModelSource<'_, FluxOptions>,
        progress: &dyn LoadProgress,
    ) -> Result<FluxModel, BackendError> {
        self.load_within(source, u64::MAX, progress)
    }

    /// Loads the plan, every component drawing from one [`Allowance`] of `limit` bytes: a
    /// checkpoint that grew since the hint fails as changed before anything is allocated.
    fn load_within(
        &self,
        source: &ModelSource<'_, FluxOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<FluxModel, BackendError> {
        let plan = Plan::open(source.path, source.options)?;
        progress.start(plan.tensor_bytes());
        let mut options = LoadOptions::default().within(Allowance::new(limit));
        if let Some(d) = source.options.dtype {
            options = options.with_dtype(d.dtype());
        }
        let advance = |bytes: u64| progress.advance(bytes);
        let mut config = None;
        let mut components = Vec::with_capacity(plan.parts.len());
        for part in plan.parts {
            let tensors = part
                .checkpoint
                .load_with_progress(&options, &advance)
                .map_err(|e| error::weights(e, source.path))?;
            config = config.or(part.checked.config);
            components.push(LoadedComponent {
                component: part.component,
                tensors,
                quantization: part.checked.quantization,
                prefix: part.checked.prefix,
            });
        }
        Ok(FluxModel {
            layout: plan.layout,
            config,
            components,
        })
    }

    fn resident_bytes(&self, model: &FluxModel) -> u64 {
        model.resident_bytes()
    }

    /// `true`: a loaded model is read-only candle tensors, which are `Send + Sync`, so callers
    /// need no per-model lock.
    fn shareable(&self) -> bool {
        true
    }

    fn check_options(&self, options: &FluxOptions) -> Result<(), BackendError> {
        options.check(NAME)
    }
}
