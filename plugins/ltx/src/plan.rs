//! What a load will do, worked out from headers and configs alone: the hint is its byte count,
//! the load carries it out.

use std::path::Path;

use modelcache_backend::{BackendError, LoadProgress, ModelSource};
use modelcache_weights::candle_core::Device;
use modelcache_weights::{Allowance, Checkpoint, Dtype, LoadOptions, model_device};

use crate::config::LtxConfig;
use crate::layout::{self, Layout};
use crate::model::{ComponentWeights, LtxModel};
use crate::options::{Component, LtxOptions};
use crate::{NAME, Naming, diffusers, error, given, keys, single_file};

/// One component to load: its validated checkpoint (the `model.diffusion_model.` or `vae.`
/// selection of a single file, or a diffusers component folder).
pub(crate) struct Part {
    pub(crate) component: Component,
    pub(crate) naming: Naming,
    /// Stripped from stored names (`model.diffusion_model.`, `vae.`, or nothing).
    pub(crate) prefix: &'static str,
    pub(crate) checkpoint: Checkpoint,
}

/// The validated, header-only description of one load.
pub(crate) struct Plan {
    layout: Layout,
    config: LtxConfig,
    pub(crate) parts: Vec<Part>,
    pub(crate) dtype: Option<Dtype>,
    /// Where the tensors are loaded (the source's device, opened by `open`).
    device: Device,
}

impl Plan {
    /// Resolves the layout, reads every header and config the selected components need, and
    /// checks them against each other. A T5 the source's components provide is left out, and
    /// checked against the transformer (see [`given`]), whose headers are read for that check
    /// when it is not selected. Reads no tensor data. The source's device is opened first:
    /// one that cannot be (unknown, or not compiled in) fails naming the model and it.
    pub(crate) fn open(source: &ModelSource<'_, LtxOptions>) -> Result<Self, BackendError> {
        let (path, options) = (source.path, source.options);
        options.check()?;
        let device = model_device(source.id, source.device)?;
        let t5 = given::encoder(source)?;
        let mut components: Vec<Component> = options
            .components
            .iter()
            .copied()
            .filter(|&c| t5.is_none() || c != Component::TextEncoder)
            .collect();
        if components.is_empty() {
            return Err(BackendError::Options {
                backend: NAME.to_owned(),
                reason: format!(
                    "model {:?}: its only component, text_encoder, is given by another cache \
                     entry, so it would load nothing; list the transformer or the VAE",
                    source.id
                ),
            });
        }
        let check_only = t5.is_some() && !components.contains(&Component::Transformer);
        if check_only {
            components.push(Component::Transformer);
        }
        let options = &LtxOptions {
            components,
            ..options.clone()
        };
        let layout = layout::resolve(path, options)?;
        let (mut config, mut parts) = match &layout {
            Layout::SingleFile { file } => single_file::open(file, path, options)?,
            Layout::Diffusers { root } => diffusers::open(root, options)?,
        };
        for part in &parts {
            loadable(&part.checkpoint)?;
        }
        cross_check(&config, &parts)?;
        if let Some(t5) = t5 {
            given::check(source.id, t5, &config, &parts)?;
        }
        if check_only {
            parts.retain(|p| p.component != Component::Transformer);
            config.transformer = None;
        }
        Ok(Self {
            layout,
            config,
            parts,
            dtype: options.dtype.map(|d| d.dtype()),
            device,
        })
    }

    /// Bytes the loaded tensors will hold: exact, dtype conversion included.
    /// What `check` shows: the layout's name, the files read, the tensor count and the bytes.
    pub(crate) fn inspection(&self) -> modelcache_backend::Inspection {
        let layout = match self.layout {
            Layout::SingleFile { .. } => "single-file",
            Layout::Diffusers { .. } => "diffusers",
        };
        let mut files: Vec<std::path::PathBuf> = self
            .parts
            .iter()
            .flat_map(|p| p.checkpoint.files().iter().map(|f| f.path().to_path_buf()))
            .collect();
        files.dedup();
        let tensors = self.parts.iter().map(|p| p.checkpoint.len()).sum();
        modelcache_backend::Inspection::new(layout, files, tensors, self.resident_bytes())
    }

    pub(crate) fn resident_bytes(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| p.checkpoint.loaded_bytes(self.dtype))
            .sum()
    }

    /// The path an error that names no file falls back to: the single file or the tree's root.
    pub(crate) fn home(&self) -> &Path {
        match &self.layout {
            Layout::SingleFile { file } => file,
            Layout::Diffusers { root } => root,
        }
    }

    /// Bytes the load reads.
    pub(crate) fn read_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.checkpoint.tensor_bytes()).sum()
    }

    /// Loads every part, advancing progress in bytes read, allocating at most `limit` bytes
    /// (one [`Allowance`] drawn by every part). On a device other than the CPU each tensor
    /// passes through host memory: it is read there, then moved (one tensor per reading
    /// thread at a time).
    pub(crate) fn load(
        self,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<LtxModel, BackendError> {
        let home = self.home().to_path_buf();
        let mut options = LoadOptions::default()
            .within(Allowance::new(limit))
            .with_device(self.device);
        if let Some(dtype) = self.dtype {
            options = options.with_dtype(dtype);
        }
        let advance = |bytes: u64| progress.advance(bytes);
        let mut components = Vec::with_capacity(self.parts.len());
        for part in self.parts {
            let tensors = part
                .checkpoint
                .load_with_progress(&options, &advance)
                .map_err(|e| error::weights(e, &home))?;
            components.push(ComponentWeights::new(
                part.component,
                part.naming,
                part.prefix,
                tensors,
            ));
        }
        Ok(LtxModel::new(self.layout, self.config, components))
    }
}

/// Every selected tensor's dtype has a candle type (checked here so that the hint fails too).
fn loadable(checkpoint: &Checkpoint) -> Result<(), BackendError> {
    match checkpoint
        .tensors()
        .find(|(_, t)| t.dtype().to_candle().is_none())
    {
        Some((file, t)) => Err(BackendError::Invalid {
            path: file.path().to_path_buf(),
            tensor: Some(t.name().to_owned()),
            reason: format!("dtype {} cannot be loaded into a candle tensor", t.dtype()),
        }),
        None => Ok(()),
    }
}

/// The components' configs agree where they meet: the transformer reads the VAE's latents and
/// the text encoder's embeddings. The tensor named is the transformer's input that disagrees
/// (its shape matches its own config, checked before).
fn cross_check(config: &LtxConfig, parts: &[Part]) -> Result<(), BackendError> {
    let (Some(t), Some(part)) = (
        config.transformer(),
        parts.iter().find(|p| p.component == Component::Transformer),
    ) else {
        return Ok(());
    };
    let fail = |name: &str, reason: String| {
        let full = format!("{}{name}", part.prefix);
        // The tensor was found when the transformer was checked; the first file otherwise.
        let path = part
            .checkpoint
            .get(&full)
            .map(|(f, _)| f)
            .or_else(|| part.checkpoint.files().first())
            .map(|f| f.path().to_path_buf())
            .unwrap_or_default();
        Err(BackendError::Invalid {
            path,
            tensor: Some(full),
            reason,
        })
    };
    if let Some(vae) = config.vae() {
        if vae.latent_channels() != t.in_channels() {
            return fail(
                keys::transformer::proj_in_weight(part.naming),
                format!(
                    "the transformer takes in_channels = {} but the VAE's latent_channels is {}: \
                     they do not belong together",
                    t.in_channels(),
                    vae.latent_channels()
                ),
            );
        }
    }
    if let Some(te) = config.text_encoder() {
        if te.d_model() != t.caption_channels() {
            return fail(
                "caption_projection.linear_1.weight",
                format!(
                    "the transformer takes caption_channels = {} but the text encoder's d_model \
                     is {}: they do not belong together",
                    t.caption_channels(),
                    te.d_model()
                ),
            );
        }
    }
    Ok(())
}
