//! Loading into MLX arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).

use modelcache_backend::{BackendError, LoadProgress};
use modelcache_weights::{Allowance, MlxTensors};

use crate::backend::{FluxBackend, FluxPlan};
use crate::error;
use crate::options::Component;

impl FluxBackend {
    /// Loads an opened plan (from [`open`](modelcache_backend::Backend::open)) into MLX arrays
    /// instead of candle tensors, with the same dtype conversion: one [`MlxTensors`] per
    /// component, in the order the options name them, under the names the checkpoint stores
    /// (packed `U32` codes, `scales` and `biases` as stored). Their
    /// [`resident_bytes`](MlxTensors::resident_bytes) add up to the opened bytes. Like
    /// [`load`](modelcache_backend::Backend::load), every component draws from one allowance of
    /// `limit` bytes, and only [`advance`](LoadProgress::advance) is called on `progress`.
    ///
    /// # Errors
    /// As [`load`](modelcache_backend::Backend::load), and a tensor MLX cannot hold.
    pub fn load_mlx(
        &self,
        plan: FluxPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Vec<(Component, MlxTensors)>, BackendError> {
        // MLX arrays live in MLX's own (unified) memory: candle's device does not apply.
        let FluxPlan {
            plan,
            dtype,
            device: _,
        } = plan;
        let allowance = Allowance::new(limit);
        let advance = |bytes: u64| progress.advance(bytes);
        plan.parts
            .iter()
            .map(|part| {
                let tensors = part
                    .checkpoint
                    .load_mlx(dtype, Some(&allowance), &advance)
                    .map_err(|e| error::weights(e, &plan.home))?;
                Ok((part.component, tensors))
            })
            .collect()
    }
}
