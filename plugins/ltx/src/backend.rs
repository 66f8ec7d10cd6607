//! The [`Backend`] implementation.

use modelcache_backend::{Backend, BackendError, LoadProgress, ModelSource, Opened};
use modelcache_weights::MoveTo;

use crate::given;
use crate::model::LtxModel;
use crate::options::LtxOptions;
use crate::plan::Plan;

/// The LTX-Video backend: `backend = "ltx"` in models.toml.
///
/// [`open`](Backend::open) validates the checkpoint against its configs from headers alone
/// (it reads nothing else), so a broken checkpoint fails before the cache reserves room for
/// it, with an error naming the file, the tensor and what is wrong. Its bytes are exact: the
/// bytes the loaded tensors hold, dtype conversion included.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LtxBackend;

/// The backend's name in models.toml.
pub(crate) const NAME: &str = "ltx";

/// An LTX-Video checkpoint opened by [`LtxBackend`]'s `open`: its validated components
/// (headers only).
pub struct LtxPlan(pub(crate) Plan);

impl Backend for LtxBackend {
    type Options = LtxOptions;
    type Model = LtxModel;
    type Plan = LtxPlan;

    fn name(&self) -> &str {
        NAME
    }

    fn open(&self, source: &ModelSource<'_, LtxOptions>) -> Result<Opened<LtxPlan>, BackendError> {
        let plan = Plan::open(source)?;
        let inspection = plan.inspection();
        let read = plan.read_bytes();
        Ok(Opened::new(LtxPlan(plan), inspection).reading(read))
    }

    /// Loads the plan allocating at most `limit` bytes: a checkpoint that grew since it was
    /// opened fails as changed before anything is allocated.
    fn load(
        &self,
        plan: LtxPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<LtxModel, BackendError> {
        plan.0.load(limit, progress)
    }

    fn resident_bytes(&self, model: &LtxModel) -> Option<u64> {
        Some(model.resident_bytes())
    }

    /// `true`: a loaded model is immutable candle tensors, safe to read from many threads.
    fn shareable(&self) -> bool {
        true
    }

    /// `true`: every tensor moves with candle's `Tensor::to_device`.
    fn moves(&self) -> bool {
        true
    }

    /// The same model (layout, configs, components) with every tensor in host memory.
    fn demote(&self, model: &LtxModel) -> Result<LtxModel, BackendError> {
        model.moved(&MoveTo::host())
    }

    /// The same model with every tensor on `device` (`"cpu"`, `"cuda:N"`, `"metal:N"`).
    fn promote(&self, model: &LtxModel, device: &str) -> Result<LtxModel, BackendError> {
        model.moved(&MoveTo::device(NAME, device)?)
    }

    /// The T5 encoder, `text_encoder`: another cache entry may provide it, which then loads
    /// and charges it once for every pipeline that uses it (one T5-XXL for LTX-Video and
    /// FLUX.1). `open` leaves it out and checks its `d_model` against the transformer's
    /// `caption_channels`, from headers.
    fn components(&self) -> &[&str] {
        given::ROLES
    }

    fn check_options(&self, options: &LtxOptions) -> Result<(), BackendError> {
        options.check()
    }
}
