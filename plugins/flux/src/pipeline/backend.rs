//! [`FluxPipelineBackend`]: the flux backend whose cached model is the runnable
//! [`FluxPipeline`] (`backend = "flux-pipeline"`).

use modelcache_backend::{Backend, BackendError, LoadProgress, ModelSource, Opened};
use modelcache_weights::Dtype;

use crate::backend::{FluxBackend, FluxPlan};
use crate::layout::Layout;
use crate::options::FluxOptions;

use super::FluxPipeline;

/// The backend's name: `backend = "flux-pipeline"` in models.toml.
pub const PIPELINE_NAME: &str = "flux-pipeline";

/// FLUX.1 as a runnable pipeline: the flux backend's open and load (same options, same
/// validation, same bytes), then [`FluxPipeline::build`] on what it loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FluxPipelineBackend;

/// A ready [`FluxPipelineBackend`], to register in one line.
pub const PIPELINE_BACKEND: FluxPipelineBackend = FluxPipelineBackend;

impl Backend for FluxPipelineBackend {
    type Options = FluxOptions;
    type Model = FluxPipeline;
    type Plan = FluxPlan;

    fn name(&self) -> &str {
        PIPELINE_NAME
    }

    /// As the flux backend's open; refused here, before anything loads: an mflux tree, a
    /// load in BF16 (the pipeline runs on the CPU, where candle has no BF16 matrix multiply),
    /// and components from other entries (this backend takes none: its [`FluxPipeline`] runs
    /// the text encoders it built, and another entry's loaded encoder is not handed to a load),
    /// and a device other than the CPU (the pipeline runs there; the `flux` backend loads the
    /// tensors onto a device).
    fn open(
        &self,
        source: &ModelSource<'_, FluxOptions>,
    ) -> Result<Opened<FluxPlan>, BackendError> {
        if let Some(device) = source.device.filter(|&d| d != "cpu") {
            return Err(BackendError::Options {
                backend: PIPELINE_NAME.to_owned(),
                reason: format!(
                    "model {:?}: `{PIPELINE_NAME}` builds and runs its pipeline on the CPU, so it \
                     cannot load onto device {device:?}; leave `device` out (or \"cpu\"), or use \
                     `backend = \"flux\"` for the tensors on a device",
                    source.id
                ),
            });
        }
        if let Some(given) = source.components.first() {
            return Err(BackendError::Options {
                backend: PIPELINE_NAME.to_owned(),
                reason: format!(
                    "model {:?}: `{PIPELINE_NAME}` builds its CLIP and T5 on tensors it loads \
                     itself, so it cannot take {:?} from cache entry {:?}; use `backend = \
                     \"flux\"` to share text encoders",
                    source.id, given.role, given.id
                ),
            });
        }
        let opened = FluxBackend.open(source)?;
        if opened.plan.plan.layout == Layout::Mflux {
            return Err(BackendError::invalid(
                source.path,
                format!(
                    "model {:?} is an mflux tree, which `{PIPELINE_NAME}` does not build: its \
                     weights are MLX-quantized or MLX-laid-out; use the BFL or diffusers layout, \
                     or `backend = \"flux\"` for the tensors",
                    source.id
                ),
            ));
        }
        let bf16 = match opened.plan.dtype {
            Some(dtype) => dtype == Dtype::BF16,
            None => opened.plan.plan.parts.iter().any(|p| {
                p.checkpoint
                    .tensors()
                    .any(|(_, t)| t.dtype() == Dtype::BF16)
            }),
        };
        if bf16 {
            return Err(BackendError::Options {
                backend: PIPELINE_NAME.to_owned(),
                reason: format!(
                    "model {:?} would run in BF16 (its dtype option, or as stored), and the \
                     pipeline runs on the CPU, where candle 0.9 has no BF16 matrix multiply: set \
                     `dtype = \"f32\"` (or \"f16\")",
                    source.id
                ),
            });
        }
        Ok(opened)
    }

    /// The flux load, then the pipeline built on it. Building converts diffusers names in
    /// place (one fused projection at a time), so the pipeline holds what the load held.
    fn load(
        &self,
        plan: FluxPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<FluxPipeline, BackendError> {
        FluxPipeline::build(FluxBackend.load(plan, limit, progress)?)
    }

    fn resident_bytes(&self, model: &FluxPipeline) -> Option<u64> {
        Some(model.resident_bytes())
    }

    /// `true`: candle's FLUX.1, autoencoder and CLIP run through `&self`; the T5 encoder,
    /// which needs `&mut`, is behind its own lock.
    fn shareable(&self) -> bool {
        true
    }

    fn check_options(&self, options: &FluxOptions) -> Result<(), BackendError> {
        FluxBackend.check_options(options)
    }
}
