//! The header-only inspection shared by the size hint and the load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use modelcache_backend::{BackendError, LoadProgress, ModelSource};
use modelcache_weights::{Checkpoint, Dtype, WeightsError};

use crate::check::{check_weights, is_ignored};
use crate::config::{CONFIG_FILE, KokoroConfig};
use crate::layout::layout;
use crate::options::KokoroOptions;
use crate::voices::{open_voice, select};
use crate::widths::Widths;

/// The name of the weights file in the mlx-community layout.
pub const WEIGHTS_FILE: &str = "kokoro-v1_0.safetensors";
/// The hexgrad PyTorch weights, recognized only to say they are not supported.
const PTH_FILE: &str = "kokoro-v1_0.pth";

/// A checked Kokoro folder: its config, weights and selected voices, from headers only.
pub(crate) struct Inspected {
    pub(crate) config: KokoroConfig,
    pub(crate) widths: Widths,
    /// `kokoro-v1_0.safetensors`, every Kokoro tensor selected (ignored ones left out).
    pub(crate) weights: Checkpoint,
    /// `(name, voice pack)`.
    pub(crate) voices: Vec<(String, Checkpoint)>,
}

impl Inspected {
    /// Reads `config.json` and every header the options select, and checks them all.
    pub(crate) fn new(source: &ModelSource<'_, KokoroOptions>) -> Result<Self, BackendError> {
        let dir = model_dir(source)?;
        let config = KokoroConfig::read(&dir.join(CONFIG_FILE))?;
        let file = weights_file(dir, source.id)?;
        let weights = Checkpoint::open_file_in(dir, &file)
            .map_err(|e| e.into_backend_error(&file))?
            .filtered(|t| !is_ignored(t.name()));
        let widths = Widths::derive(&weights, &file)?;
        let layout = layout(&config, &widths, weights.len().saturating_add(1));
        check_weights(&weights, &layout, &file)?;
        let voices = select(dir, &source.options.voices, source.id)?
            .into_iter()
            .map(|(name, file)| Ok((name, open_voice(dir, &file, &config)?)))
            .collect::<Result<_, BackendError>>()?;
        Ok(Self {
            config,
            widths,
            weights,
            voices,
        })
    }

    /// Bytes everything takes once loaded with `dtype` conversion (exact).
    pub(crate) fn loaded_bytes(&self, dtype: Option<Dtype>) -> u64 {
        self.checkpoints().map(|c| c.loaded_bytes(dtype)).sum()
    }

    /// Bytes of tensor data a load reads.
    pub(crate) fn stored_bytes(&self) -> u64 {
        self.checkpoints().map(Checkpoint::tensor_bytes).sum()
    }

    pub(crate) fn checkpoints(&self) -> impl Iterator<Item = &Checkpoint> {
        std::iter::once(&self.weights).chain(self.voices.iter().map(|(_, v)| v))
    }

    /// Reads the weights and then each voice with `read` (given each checkpoint and the
    /// progress callback, which advances `progress`): the one load sequence, into candle or
    /// MLX.
    pub(crate) fn read_all<T>(
        &self,
        progress: &dyn LoadProgress,
        read: impl Fn(&Checkpoint, &(dyn Fn(u64) + Sync)) -> Result<T, WeightsError>,
    ) -> Result<(T, BTreeMap<String, T>), BackendError> {
        let read = |checkpoint: &Checkpoint| {
            read(checkpoint, &|n| progress.advance(n))
                .map_err(|e| e.into_backend_error(file_of(checkpoint)))
        };
        read(&self.weights).and_then(|weights| {
            let voices = self
                .voices
                .iter()
                .map(|(name, v)| Ok((name.clone(), read(v)?)))
                .collect::<Result<_, BackendError>>()?;
            Ok((weights, voices))
        })
    }
}

/// The (single) file of a single-file checkpoint.
fn file_of(checkpoint: &Checkpoint) -> &Path {
    checkpoint
        .files()
        .first()
        .map_or(Path::new(""), |f| f.path())
}

fn model_dir<'a>(source: &ModelSource<'a, KokoroOptions>) -> Result<&'a Path, BackendError> {
    let path = source.path;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(BackendError::invalid(
            path,
            format!(
                "not a folder: Kokoro model {:?} is a folder holding {CONFIG_FILE}, {WEIGHTS_FILE} and voices/",
                source.id
            ),
        )),
        Err(e) => Err(crate::errors::missing_or_io(
            path,
            e,
            format!("the folder of Kokoro model {:?}", source.id),
        )),
    }
}

fn weights_file(dir: &Path, id: &str) -> Result<PathBuf, BackendError> {
    let file = dir.join(WEIGHTS_FILE);
    if crate::errors::regular_file(&file)? {
        return Ok(file);
    }
    let what = if dir.join(PTH_FILE).exists() {
        format!(
            "the weights of Kokoro model {id:?}; found {PTH_FILE}, the PyTorch layout, which is \
             not supported: use the mlx-community safetensors layout"
        )
    } else {
        format!("the weights of Kokoro model {id:?}")
    };
    Err(BackendError::Missing { path: file, what })
}
