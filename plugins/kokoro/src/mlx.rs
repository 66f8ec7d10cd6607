//! Loading into MLX arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).

use std::collections::BTreeMap;

use modelcache_core::{BackendError, LoadProgress, ModelSource};
use modelcache_weights::{Allowance, MlxTensors};

use crate::backend::KokoroBackend;
use crate::options::{KokoroOptions, LoadDtype};

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
    /// Loads what [`load`](modelcache_core::Backend::load) would, after the same header-only
    /// checks and with the same dtype conversion, into MLX arrays. Its
    /// [`resident_bytes`](KokoroMlx::resident_bytes) equal
    /// [`memory_hint`](modelcache_core::Backend::memory_hint). Like
    /// [`load_within`](modelcache_core::Backend::load_within), the weights and every voice draw
    /// from one allowance of `limit` bytes (`u64::MAX`: no limit).
    ///
    /// # Errors
    /// As [`load_within`](modelcache_core::Backend::load_within), and a tensor MLX cannot hold.
    pub fn load_mlx(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroMlx, BackendError> {
        let dtype = source.options.dtype.map(LoadDtype::dtype);
        let allowance = Allowance::new(limit);
        let (weights, voices) = self.inspected(source)?.read_all(progress, |c, advance| {
            c.load_mlx(dtype, Some(&allowance), advance)
        })?;
        Ok(KokoroMlx { weights, voices })
    }
}
