//! [`FluxBackend`]: the [`Backend`] implementation.

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
use modelcache_weights::candle_core::Device;
use modelcache_weights::{Allowance, Dtype, LoadOptions, MoveTo, model_device};

use crate::model::{FluxModel, LoadedComponent};
use crate::options::FluxOptions;
use crate::plan::Plan;
use crate::{error, given};

/// The backend's name: `backend = "flux"` in models.toml.
pub const NAME: &str = "flux";

/// The FLUX.1 backend. It holds no state; [`BACKEND`] is a ready value to register.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FluxBackend;

/// A ready [`FluxBackend`], to register in one line.
pub const BACKEND: FluxBackend = FluxBackend;

/// A FLUX.1 checkpoint opened by [`FluxBackend`]'s `open`: the chosen layout's validated
/// component checkpoints (headers only), the dtype to load them in and the device to load
/// them onto.
pub struct FluxPlan {
    pub(crate) plan: Plan,
    pub(crate) dtype: Option<Dtype>,
    pub(crate) device: Device,
}

impl Backend for FluxBackend {
    type Options = FluxOptions;
    type Model = FluxModel;
    type Plan = FluxPlan;

    fn name(&self) -> &str {
        NAME
    }

    /// Resolves the layout and validates the requested components from their headers (and
    /// small `config.json` / index files). The bytes are exact: the loaded size of those
    /// components, dtype conversion included. A text encoder the source's components provide
    /// is left out (bytes, files and tensors), and its width is checked against the
    /// transformer's from headers. The source's device is opened first: one that cannot be
    /// (unknown, or not compiled in) fails naming the model and it.
    fn open(
        &self,
        source: &ModelSource<'_, FluxOptions>,
    ) -> Result<Opened<FluxPlan>, BackendError> {
        let device = model_device(source.id, source.device)?;
        let plan = Plan::open(source)?;
        let dtype = source.options.dtype.map(|d| d.dtype());
        let files = plan
            .parts
            .iter()
            .flat_map(|p| p.checkpoint.files().iter().map(|f| f.path().to_path_buf()))
            .collect();
        let tensors = plan.parts.iter().map(|p| p.checkpoint.len()).sum();
        let bytes = plan.loaded_bytes(dtype);
        let inspection = Inspection::new(plan.layout.as_str(), files, tensors, bytes);
        let read = plan.tensor_bytes();
        let plan = FluxPlan {
            plan,
            dtype,
            device,
        };
        Ok(Opened::new(plan, inspection).reading(read))
    }

    /// Loads the plan, every component drawing from one [`Allowance`] of `limit` bytes: a
    /// checkpoint that grew since it was opened fails as changed before anything is allocated.
    /// On a device other than the CPU each tensor passes through host memory: it is read
    /// there, then moved (one tensor per reading thread at a time).
    fn load(
        &self,
        plan: FluxPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<FluxModel, BackendError> {
        let FluxPlan {
            plan,
            dtype,
            device,
        } = plan;
        let mut options = LoadOptions::default()
            .within(Allowance::new(limit))
            .with_device(device);
        if let Some(d) = dtype {
            options = options.with_dtype(d);
        }
        let advance = |bytes: u64| progress.advance(bytes);
        let mut config = None;
        let mut components = Vec::with_capacity(plan.parts.len());
        for part in plan.parts {
            let tensors = part
                .checkpoint
                .load_with_progress(&options, &advance)
                .map_err(|e| error::weights(e, &plan.home))?;
            config = config.or(part.checked.config);
            components.push(LoadedComponent {
                component: part.component,
                tensors,
                quantization: part.checked.quantization,
                prefix: part.checked.prefix,
                dir: part.dir,
            });
        }
        Ok(FluxModel {
            layout: plan.layout,
            config,
            components,
        })
    }

    fn resident_bytes(&self, model: &FluxModel) -> Option<u64> {
        Some(model.resident_bytes())
    }

    /// `true`: a loaded model is read-only candle tensors, which are `Send + Sync`, so callers
    /// need no per-model lock.
    fn shareable(&self) -> bool {
        true
    }

    /// `true`: every tensor moves with candle's `Tensor::to_device`.
    fn moves(&self) -> bool {
        true
    }

    /// The same model (layout, config, components) with every tensor in host memory.
    fn demote(&self, model: &FluxModel) -> Result<FluxModel, BackendError> {
        model.moved(&MoveTo::host())
    }

    /// The same model with every tensor on `device` (`"cpu"`, `"cuda:N"`, `"metal:N"`).
    fn promote(&self, model: &FluxModel, device: &str) -> Result<FluxModel, BackendError> {
        model.moved(&MoveTo::device(NAME, device)?)
    }

    /// The two text encoders, `text_encoder` (CLIP-L) and `text_encoder_2` (T5-XXL): either
    /// may come from another cache entry, which then loads and charges it once for every
    /// pipeline that uses it. What `open` checks of a given encoder is its width against the
    /// transformer's input (see the crate docs).
    fn components(&self) -> &[&str] {
        given::ROLES
    }

    fn check_options(&self, options: &FluxOptions) -> Result<(), BackendError> {
        options.check(NAME)
    }
}
