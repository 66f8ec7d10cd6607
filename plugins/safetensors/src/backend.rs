//! The safetensors backend: open (headers only), then load what was opened.

use std::collections::HashMap;

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
use modelcache_weights::candle_core::Device;
use modelcache_weights::{Allowance, Checkpoint, Dtype, LoadOptions, MoveTo, model_device};
use serde_json::{Map, Value};

use crate::model::SafetensorsModel;
use crate::options::SafetensorsOptions;
use crate::source;

/// Any Hugging Face safetensors folder, index or file (`backend = "safetensors"`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SafetensorsBackend;

/// A ready [`SafetensorsBackend`], to register in one line.
pub const BACKEND: SafetensorsBackend = SafetensorsBackend;

impl SafetensorsBackend {
    /// The name used as `backend = "safetensors"` in models.toml.
    pub const NAME: &'static str = "safetensors";
}

/// A checkpoint opened by [`SafetensorsBackend`]'s `open`: its selected tensors (headers only),
/// its `config.json`, and how to load them, onto which device.
pub struct SafetensorsPlan {
    checkpoint: Checkpoint,
    device: Device,
    config: Option<Map<String, Value>>,
    dtype: Option<Dtype>,
    prefix: Option<String>,
}

impl Backend for SafetensorsBackend {
    type Options = SafetensorsOptions;
    type Model = SafetensorsModel;
    type Plan = SafetensorsPlan;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// The weights the path holds (a folder's `model.safetensors` or index, an index file, a
    /// single file), the tensors the options select, and the exact bytes they take once
    /// loaded with the `dtype` conversion, from the headers. The source's device is opened
    /// here: one that cannot be (unknown, or not compiled in) fails naming the model and it.
    fn open(
        &self,
        source: &ModelSource<'_, SafetensorsOptions>,
    ) -> Result<Opened<SafetensorsPlan>, BackendError> {
        let options = source.options;
        options.check(Self::NAME)?;
        let device = model_device(source.id, source.device)?;
        let found = source::find(source.path, source.id)?;
        let layout = found.layout();
        let mut checkpoint = found.checkpoint;
        let stored = Stored {
            tensors: checkpoint.len(),
            under_prefix: checkpoint
                .names()
                .filter(|n| options.prefix.as_deref().is_none_or(|p| n.starts_with(p)))
                .count(),
            first: checkpoint.names().next().map(str::to_owned),
        };
        if let Some(e) = skip_in_the_stripped_form(&checkpoint, options) {
            return Err(e);
        }
        checkpoint.retain(|t| options.keeps(t.name()));
        if checkpoint.is_empty() {
            return Err(nothing_selected(&checkpoint, options, stored));
        }
        if let Some((file, t)) = options.prefix.as_deref().and_then(|p| checkpoint.get(p)) {
            return Err(BackendError::Invalid {
                path: file.path().to_path_buf(),
                tensor: Some(t.name().to_owned()),
                reason: "the tensor's name is the `prefix` option itself, which would leave it \
                         an empty name: choose a longer prefix"
                    .to_owned(),
            });
        }
        if let Some((file, t)) = checkpoint
            .tensors()
            .find(|(_, t)| t.dtype().to_candle().is_none())
        {
            return Err(BackendError::Invalid {
                path: file.path().to_path_buf(),
                tensor: Some(t.name().to_owned()),
                reason: format!(
                    "dtype {} has no candle equivalent: leave the tensor out with `skip`",
                    t.dtype()
                ),
            });
        }
        let dtype = options.dtype.map(|d| d.dtype());
        let files = checkpoint
            .files()
            .iter()
            .map(|f| f.path().to_path_buf())
            .collect();
        let bytes = checkpoint.loaded_bytes(dtype);
        let inspection = Inspection::new(layout, files, checkpoint.len(), bytes);
        let read = checkpoint.tensor_bytes();
        let plan = SafetensorsPlan {
            checkpoint,
            device,
            config: found.config,
            dtype,
            prefix: options.prefix.clone(),
        };
        Ok(Opened::new(plan, inspection).reading(read))
    }

    /// Loads the selected tensors allocating at most `limit` bytes: a file that grew or changed
    /// since it was opened fails naming it, before anything is allocated for it. On a device
    /// other than the CPU each tensor passes through host memory: it is read there, then
    /// moved (one tensor per reading thread at a time).
    fn load(
        &self,
        plan: SafetensorsPlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<SafetensorsModel, BackendError> {
        let options = LoadOptions::default()
            .within(Allowance::new(limit))
            .with_device(plan.device);
        let options = match plan.dtype {
            Some(dtype) => options.with_dtype(dtype),
            None => options,
        };
        let loaded = plan
            .checkpoint
            .load_with_progress(&options, &|n| progress.advance(n))
            .map_err(|e| e.into_backend_error(plan.checkpoint.location()))?;
        let resident = loaded.resident_bytes();
        let tensors: HashMap<String, _> = match plan.prefix.as_deref() {
            None => loaded.into_inner(),
            Some(prefix) => loaded
                .into_iter()
                .map(|(name, t)| match name.strip_prefix(prefix) {
                    Some(short) => (short.to_owned(), t),
                    None => (name, t),
                })
                .collect(),
        };
        Ok(SafetensorsModel {
            tensors,
            config: plan.config,
            resident,
        })
    }

    fn resident_bytes(&self, model: &SafetensorsModel) -> Option<u64> {
        Some(model.resident_bytes())
    }

    /// `true`: the model is read-only candle tensors.
    fn shareable(&self) -> bool {
        true
    }

    /// `true`: every tensor moves with candle's `Tensor::to_device`.
    fn moves(&self) -> bool {
        true
    }

    /// The same model with every tensor in host memory (the CPU).
    fn demote(&self, model: &SafetensorsModel) -> Result<SafetensorsModel, BackendError> {
        model.moved(&MoveTo::host())
    }

    /// The same model with every tensor on `device` (`"cpu"`, `"cuda:N"`, `"metal:N"`).
    fn promote(
        &self,
        model: &SafetensorsModel,
        device: &str,
    ) -> Result<SafetensorsModel, BackendError> {
        model.moved(&MoveTo::device(Self::NAME, device)?)
    }

    /// Refuses an empty `prefix` or `skip` entry.
    fn check_options(&self, options: &SafetensorsOptions) -> Result<(), BackendError> {
        options.check(Self::NAME)
    }
}

/// What the checkpoint held before the options selected: for the message when they select
/// nothing.
struct Stored {
    tensors: usize,
    under_prefix: usize,
    first: Option<String>,
}

/// The options selected no tensor: say which one, and what the names look like instead.
/// A `skip` entry written in the stripped form (`"attention."` under `prefix =
/// "encoder.layer.0."`): it matches no stored name while the prefix followed by it does, so it
/// would leave out nothing, silently. Entries match the stored names.
fn skip_in_the_stripped_form(
    checkpoint: &Checkpoint,
    options: &SafetensorsOptions,
) -> Option<BackendError> {
    let prefix = options.prefix.as_deref()?;
    let matches = |p: &str| checkpoint.names().any(|n| n.starts_with(p));
    let entry = options
        .skip
        .iter()
        .find(|s| !matches(s) && matches(&format!("{prefix}{s}")))?;
    Some(BackendError::Options {
        backend: SafetensorsBackend::NAME.to_owned(),
        reason: format!(
            "`skip` entry {entry:?} matches no tensor of {}: entries match the stored names, \
             before the prefix is removed; write {:?}",
            checkpoint.location().display(),
            format!("{prefix}{entry}")
        ),
    })
}

fn nothing_selected(
    checkpoint: &Checkpoint,
    options: &SafetensorsOptions,
    stored: Stored,
) -> BackendError {
    let Stored {
        tensors,
        under_prefix,
        first,
    } = stored;
    let what = match &options.prefix {
        _ if tensors == 0 => {
            return BackendError::invalid(
                checkpoint.location(),
                "the checkpoint holds no tensor (an empty index or header)",
            );
        }
        Some(prefix) if under_prefix == 0 => {
            format!("no tensor name starts with the `prefix` option {prefix:?}")
        }
        Some(prefix) => format!(
            "the `skip` option leaves out every tensor ({under_prefix} start with the `prefix` \
             option {prefix:?})"
        ),
        None => "no tensor is left after the `skip` option".to_owned(),
    };
    let first = first.map_or_else(String::new, |n| format!(", the first is {n:?}"));
    BackendError::invalid(
        checkpoint.location(),
        format!("{what} ({tensors} tensors stored{first})"),
    )
}
