//! The Kokoro backend: hint and load, both after the same header-only checks.

use modelcache_core::{Backend, BackendError, Inspection, LoadProgress, ModelSource};
use modelcache_weights::{Allowance, Checkpoint, LoadOptions};

use crate::inspect::Inspected;
use crate::model::KokoroModel;
use crate::options::{KokoroOptions, LoadDtype};

/// The Kokoro-82M model family (`backend = "kokoro"`), mlx-community safetensors layout.
#[derive(Debug, Default, Clone, Copy)]
pub struct KokoroBackend;

/// A ready [`KokoroBackend`], to register in one line.
pub const BACKEND: KokoroBackend = KokoroBackend;

impl KokoroBackend {
    /// The name used as `backend = "kokoro"` in models.toml.
    pub const NAME: &'static str = "kokoro";

    pub(crate) fn inspected(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
    ) -> Result<Inspected, BackendError> {
        source.options.check(Self::NAME)?;
        Inspected::new(source)
    }
}

impl Backend for KokoroBackend {
    type Options = KokoroOptions;
    type Model = KokoroModel;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// The exact bytes [`load`](Backend::load) will hold, from `config.json` and the
    /// safetensors headers, after the same checks as the load.
    fn memory_hint(&self, source: &ModelSource<'_, KokoroOptions>) -> Result<u64, BackendError> {
        let dtype = source.options.dtype.map(LoadDtype::dtype);
        Ok(self.inspected(source)?.loaded_bytes(dtype))
    }

    /// The mlx-community layout, the weights file and the selected voices, their tensor count
    /// and the hint, from the same checks as the load.
    fn inspect(&self, source: &ModelSource<'_, KokoroOptions>) -> Result<Inspection, BackendError> {
        let inspected = self.inspected(source)?;
        let files = inspected
            .checkpoints()
            .flat_map(|c| c.files().iter().map(|f| f.path().to_path_buf()))
            .collect();
        let tensors = inspected.checkpoints().map(Checkpoint::len).sum();
        let bytes = inspected.loaded_bytes(source.options.dtype.map(LoadDtype::dtype));
        Ok(Inspection::new("mlx-community", files, tensors, bytes))
    }

    fn load(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroModel, BackendError> {
        self.load_within(source, u64::MAX, progress)
    }

    /// Loads the weights and voices allocating at most `limit` bytes (one [`Allowance`] they
    /// all draw from): a voice pack swapped for a larger one since the hint fails as changed
    /// before anything is allocated.
    fn load_within(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroModel, BackendError> {
        let inspected = self.inspected(source)?;
        let options = LoadOptions::default().within(Allowance::new(limit));
        let options = match source.options.dtype {
            Some(dtype) => options.with_dtype(dtype.dtype()),
            None => options,
        };
        let (weights, voices) = inspected.read_all(progress, |c, advance| {
            c.load_with_progress(&options, advance)
        })?;
        let Inspected { config, widths, .. } = inspected;
        Ok(KokoroModel {
            config,
            widths,
            weights,
            voices,
        })
    }

    fn resident_bytes(&self, model: &KokoroModel) -> u64 {
        model.resident_bytes()
    }

    /// `true`: a loaded model is read-only candle tensors (immutable, reference-counted
    /// storage), so concurrent callers need no lock.
    fn shareable(&self) -> bool {
        true
    }

    /// Refuses an empty or duplicated voice list, and names that are not plain file stems.
    fn check_options(&self, options: &KokoroOptions) -> Result<(), BackendError> {
        options.check(Self::NAME)
    }
}
