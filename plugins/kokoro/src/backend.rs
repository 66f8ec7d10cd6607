//! The Kokoro backend: open (header-only checks), then load what was opened.

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
use modelcache_weights::candle_core::Device;
use modelcache_weights::{Allowance, Checkpoint, Dtype, LoadOptions, MoveTo, model_device};

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
}

/// A Kokoro folder opened by [`KokoroBackend`]'s `open`: its config, weights and selected
/// voices, checked from headers only, the dtype to load them in and the device to load them
/// onto.
pub struct KokoroPlan {
    pub(crate) inspected: Inspected,
    pub(crate) dtype: Option<Dtype>,
    pub(crate) device: Device,
}

impl Backend for KokoroBackend {
    type Options = KokoroOptions;
    type Model = KokoroModel;
    type Plan = KokoroPlan;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// The mlx-community layout, the weights file and the selected voices, their tensor count
    /// and the exact bytes a load holds, from `config.json` and the safetensors headers. The
    /// source's device is opened first: one that cannot be (unknown, or not compiled in)
    /// fails naming the model and it.
    fn open(
        &self,
        source: &ModelSource<'_, KokoroOptions>,
    ) -> Result<Opened<KokoroPlan>, BackendError> {
        source.options.check(Self::NAME)?;
        let device = model_device(source.id, source.device)?;
        let inspected = Inspected::new(source)?;
        let dtype = source.options.dtype.map(LoadDtype::dtype);
        let files = inspected
            .checkpoints()
            .flat_map(|c| c.files().iter().map(|f| f.path().to_path_buf()))
            .collect();
        let tensors = inspected.checkpoints().map(Checkpoint::len).sum();
        let bytes = inspected.loaded_bytes(dtype);
        let inspection = Inspection::new("mlx-community", files, tensors, bytes);
        let read = inspected.stored_bytes();
        let plan = KokoroPlan {
            inspected,
            dtype,
            device,
        };
        Ok(Opened::new(plan, inspection).reading(read))
    }

    /// Loads the weights and voices allocating at most `limit` bytes (one [`Allowance`] they
    /// all draw from): a voice pack swapped for a larger one since it was opened fails as
    /// changed before anything is allocated. On a device other than the CPU each tensor
    /// passes through host memory: it is read there, then moved (one tensor per reading
    /// thread at a time).
    fn load(
        &self,
        plan: KokoroPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<KokoroModel, BackendError> {
        let KokoroPlan {
            inspected,
            dtype,
            device,
        } = plan;
        let options = LoadOptions::default()
            .within(Allowance::new(limit))
            .with_device(device);
        let options = match dtype {
            Some(dtype) => options.with_dtype(dtype),
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

    fn resident_bytes(&self, model: &KokoroModel) -> Option<u64> {
        Some(model.resident_bytes())
    }

    /// `true`: a loaded model is read-only candle tensors (immutable, reference-counted
    /// storage), so concurrent callers need no lock.
    fn shareable(&self) -> bool {
        true
    }

    /// `true`: every tensor moves with candle's `Tensor::to_device`.
    fn moves(&self) -> bool {
        true
    }

    /// The same model (config, widths, weights, voices) with every tensor in host memory.
    fn demote(&self, model: &KokoroModel) -> Result<KokoroModel, BackendError> {
        model.moved(&MoveTo::host())
    }

    /// The same model with every tensor on `device` (`"cpu"`, `"cuda:N"`, `"metal:N"`).
    fn promote(&self, model: &KokoroModel, device: &str) -> Result<KokoroModel, BackendError> {
        model.moved(&MoveTo::device(Self::NAME, device)?)
    }

    /// Refuses an empty or duplicated voice list, and names that are not plain file stems.
    fn check_options(&self, options: &KokoroOptions) -> Result<(), BackendError> {
        options.check(Self::NAME)
    }
}
