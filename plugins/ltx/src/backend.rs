//! The [`Backend`] implementation.

use modelcache_core::{Backend, BackendError, LoadProgress, ModelSource};

use crate::model::LtxModel;
use crate::options::LtxOptions;
use crate::plan::Plan;

/// The LTX-Video backend: `backend = "ltx"` in models.toml.
///
/// Both [`memory_hint`](Backend::memory_hint) and [`load`](Backend::load) first validate the
/// checkpoint against its configs from headers alone (the hint reads nothing else), so a broken
/// checkpoint fails before the cache reserves room for it, with an error naming the file, the
/// tensor and what is wrong. The hint is exact: it counts the bytes the loaded tensors hold,
/// dtype conversion included.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LtxBackend;

/// The backend's name in models.toml.
pub(crate) const NAME: &str = "ltx";

impl Backend for LtxBackend {
    type Options = LtxOptions;
    type Model = LtxModel;

    fn name(&self) -> &str {
        NAME
    }

    fn memory_hint(&self, source: &ModelSource<'_, LtxOptions>) -> Result<u64, BackendError> {
        Ok(Plan::open(source.path, source.options)?.resident_bytes())
    }

    /// The layout, files, tensor count and hint, from the same headers-only plan.
    fn inspect(
        &self,
        source: &ModelSource<'_, LtxOptions>,
    ) -> Result<modelcache_core::Inspection, BackendError> {
        Ok(Plan::open(source.path, source.options)?.inspection())
    }

    fn load(
        &self,
        source: &ModelSource<'_, LtxOptions>,
        progress: &dyn LoadProgress,
    ) -> Result<LtxModel, BackendError> {
        self.load_within(source, u64::MAX, progress)
    }

    /// Loads the plan allocating at most `limit` bytes: a checkpoint that grew since the hint
    /// fails as changed before anything is allocated.
    fn load_within(
        &self,
        source: &ModelSource<'_, LtxOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<LtxModel, BackendError> {
        Plan::open(source.path, source.options)?.load(limit, progress)
    }

    fn resident_bytes(&self, model: &LtxModel) -> u64 {
        model.resident_bytes()
    }

    /// `true`: a loaded model is immutable candle tensors, safe to read from many threads.
    fn shareable(&self) -> bool {
        true
    }

    fn check_options(&self, options: &LtxOptions) -> Result<(), BackendError> {
        options.check()
    }
}
