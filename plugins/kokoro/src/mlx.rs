//! Loading into MLX arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).

use std::collections::BTreeMap;

use modelcache_backend::{BackendError, LoadProgress};
use modelcache_weights::{Allowance, MlxTensors};

use crate::backend::{KokoroBackend, KokoroPlan};

/// Kokoro loaded into MLX arrays, by [`KokoroBackend::load_mlx`].
#[derive(Debug)]
pub struct KokoroMlx {
    /// The weights, keyed as in `kokoro-v1_0.safetensors`.
    pub weights: MlxTensors,
    /// The selected voice packs by name, each one array,
    /// [`VOICE_TENSOR`](crate::VOICE_TENSOR).
    pub voices: BTreeMap<String, MlxTensors>,
}

impl KokoroMlx {
    /// Bytes held by every array, weights and voices, measured from the arrays.
    pub fn resident_bytes(&self) -> u64 {
        self.weights.resident_bytes()
            + self
                .voices
                .values()
                .map(MlxTensors::resident_bytes)
                .sum::<u64>()
    }
}

impl KokoroBackend {
    /// Loads an opened plan (from [`open`](modelcache_backend::Backend::open)) into MLX arrays
    /// instead of candle tensors, with the same dtype conversion. Its
    /// [`resident_bytes`](KokoroMlx::resident_bytes) equal the opened bytes. Like
    /// [`load`](modelcache_backend::Backend::load), the weights and every voice draw from one
    /// allowance of `limit` bytes, and only [`advance`](LoadProgress::advance) is called on
    /// `progress`.
    ///
    /// # Errors
    /// As [`load`](modelcache_backend::Backend::load), and a tensor MLX cannot hold.
    pub fn load_mlx(
        &self,
        plan: KokoroPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroMlx, BackendError> {
        // MLX arrays live in MLX's own (unified) memory: candle's device does not apply.
        let KokoroPlan {
            inspected,
            dtype,
            device: _,
        } = plan;
        let allowance = Allowance::new(limit);
        let (weights, voices) = inspected.read_all(progress, |c, advance| {
            c.load_mlx(dtype, Some(&allowance), advance)
        })?;
        Ok(KokoroMlx { weights, voices })
    }
}
