//! Loading into MLX arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).

use std::collections::BTreeMap;

use modelcache_core::{BackendError, LoadProgress, ModelSource};
use modelcache_weights::{Checkpoint, MlxTensors};

use crate::backend::{KokoroBackend, file_of};
use crate::errors::weights_error;
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
    /// [`memory_hint`](modelcache_core::Backend::memory_hint).
    ///
    /// # Errors
    /// As [`load`](modelcache_core::Backend::load), and a tensor MLX cannot hold.
    pub fn load_mlx(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroMlx, BackendError> {
        let inspected = self.inspected(source)?;
        progress.start(inspected.stored_bytes());
        let dtype = source.options.dtype.map(LoadDtype::dtype);
        let read = |checkpoint: &Checkpoint| {
            checkpoint
                .load_mlx(dtype, &|n| progress.advance(n))
                .map_err(|e| weights_error(file_of(checkpoint), e))
        };
        let loaded = read(&inspected.weights).and_then(|weights| {
            let voices = inspected
                .voices
                .iter()
                .map(|(name, v)| Ok((name.clone(), read(v)?)))
                .collect::<Result<_, BackendError>>()?;
            Ok(KokoroMlx { weights, voices })
        });
        progress.finish();
        loaded
    }
}
