//! Loading into MLX arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).

use modelcache_core::{BackendError, LoadProgress, ModelSource};
use modelcache_weights::{Allowance, MlxTensors};

use crate::backend::LtxBackend;
use crate::error;
use crate::options::{Component, LtxOptions};
use crate::plan::Plan;

impl LtxBackend {
    /// Loads the components [`load`](modelcache_core::Backend::load) would, from the same
    /// validated plan and with the same dtype conversion, into MLX arrays: one [`MlxTensors`]
    /// per component (transformer, VAE, text encoder), under the names the checkpoint stores,
    /// prefix included (as [`ComponentWeights::into_tensors`](crate::ComponentWeights::into_tensors)
    /// gives them). Their [`resident_bytes`](MlxTensors::resident_bytes) add up to
    /// [`memory_hint`](modelcache_core::Backend::memory_hint). Like
    /// [`load_within`](modelcache_core::Backend::load_within), every component draws from one
    /// allowance of `limit` bytes (`u64::MAX`: no limit).
    ///
    /// # Errors
    /// As [`load_within`](modelcache_core::Backend::load_within), and a tensor MLX cannot hold.
    pub fn load_mlx(
        &self,
        source: &ModelSource<'_, LtxOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Vec<(Component, MlxTensors)>, BackendError> {
        let plan = Plan::open(source.path, source.options)?;
        progress.start(plan.read_bytes());
        let allowance = Allowance::new(limit);
        let advance = |bytes: u64| progress.advance(bytes);
        let loaded = plan
            .parts
            .iter()
            .map(|part| {
                let tensors = part
                    .checkpoint
                    .load_mlx(plan.dtype, Some(&allowance), &advance)
                    .map_err(|e| error::weights(e, plan.home()))?;
                Ok((part.component, tensors))
            })
            .collect();
        progress.finish();
        loaded
    }
}
