//! Which layout a model path holds, decided from names and (for mflux) one component's headers.

use std::fmt;
use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::{Checkpoint, MODEL_INDEX};

use crate::error;
use crate::options::{Component, FluxOptions, LayoutChoice};
use crate::quant;

/// The layout a model was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// BFL single files: `flux1-*.safetensors` (transformer) and `ae.safetensors` (autoencoder).
    Bfl,
    /// A diffusers tree: `model_index.json`, `transformer/`, `vae/`, `text_encoder/`, ...
    Diffusers,
    /// An mflux tree: one folder per component of numbered shards, optionally MLX-quantized.
    Mflux,
}

impl Layout {
    /// The name used in options (`"bfl"`, `"diffusers"`, `"mflux"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Layout::Bfl => "bfl",
            Layout::Diffusers => "diffusers",
            Layout::Mflux => "mflux",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component checkpoint opened while detecting the layout, kept so its headers are read once.
pub(crate) type Probed = Option<(Component, Checkpoint)>;

/// Resolves `options.layout` for `path` (see the crate docs for the `Auto` rule).
///
/// # Errors
/// [`BackendError::Io`] when `path` cannot be read; [`BackendError::Invalid`] when a folder
/// layout is forced on a file; any error opening the probed mflux folder.
pub(crate) fn resolve(
    path: &Path,
    options: &FluxOptions,
) -> Result<(Layout, Probed), BackendError> {
    let is_file = is_file_or_dir(path)?;
    let forced = match options.layout {
        LayoutChoice::Auto => None,
        LayoutChoice::Bfl => Some(Layout::Bfl),
        LayoutChoice::Diffusers => Some(Layout::Diffusers),
        LayoutChoice::Mflux => Some(Layout::Mflux),
    };
    match forced {
        Some(layout @ (Layout::Diffusers | Layout::Mflux)) if is_file => {
            Err(BackendError::invalid(
                path,
                format!("layout \"{layout}\" reads a folder, and this is a file"),
            ))
        }
        Some(layout) => Ok((layout, None)),
        None if is_file => Ok((Layout::Bfl, None)),
        None => auto(path, options),
    }
}

fn auto(dir: &Path, options: &FluxOptions) -> Result<(Layout, Probed), BackendError> {
    // mflux first: mflux's file names in the first requested component's folder, confirmed by
    // mflux's metadata in its headers. A transformers text encoder shares the index name, so a
    // probed checkpoint without the metadata is handed on rather than read twice.
    let mut probed = None;
    if let Some(&first) = options.components.first() {
        let folder = dir.join(first.as_str());
        if mflux_named(&folder)? {
            let ck = Checkpoint::open_dir(&folder).map_err(|e| error::weights(e, &folder))?;
            if quant::is_mflux(&ck) {
                return Ok((Layout::Mflux, Some((first, ck))));
            }
            probed = Some((first, ck));
        }
    }
    // A diffusers tree wins over BFL files beside it (see the crate docs for why).
    if error::regular_file(&dir.join(MODEL_INDEX))? && dir.join("transformer").is_dir() {
        return Ok((Layout::Diffusers, probed));
    }
    Ok((Layout::Bfl, None))
}

/// Whether `path` is a file (`true`) or a folder (`false`); anything else is an error that
/// says what it is.
fn is_file_or_dir(path: &Path) -> Result<bool, BackendError> {
    let meta = std::fs::metadata(path).map_err(|e| BackendError::io(path, e))?;
    if meta.is_dir() {
        return Ok(false);
    }
    error::regular_file(path)
}

/// Whether `folder` holds files named as mflux names them: `0.safetensors` (every version) or
/// `model.safetensors.index.json` (since 0.13; diffusers components use
/// `diffusion_pytorch_model.*`, so only a transformers text encoder shares this name).
fn mflux_named(folder: &Path) -> Result<bool, BackendError> {
    Ok(error::regular_file(&folder.join("0.safetensors"))?
        || error::regular_file(&folder.join("model.safetensors.index.json"))?)
}

/// The BFL files of `path`: the transformer (`path` itself when it is a file, else the one
/// `flux1-*.safetensors` in the folder) and `ae.safetensors` beside it.
pub(crate) struct BflFiles {
    pub transformer: PathBuf,
    pub ae: PathBuf,
}

impl BflFiles {
    /// Finds the files; only the transformer's name is checked here.
    ///
    /// # Errors
    /// [`BackendError::Missing`] when the folder has no `flux1-*.safetensors`;
    /// [`BackendError::Invalid`] when it has several.
    pub(crate) fn find(path: &Path, need_transformer: bool) -> Result<Self, BackendError> {
        if is_file_or_dir(path)? {
            let dir = path.parent().unwrap_or(Path::new("."));
            return Ok(Self {
                transformer: path.to_path_buf(),
                ae: dir.join("ae.safetensors"),
            });
        }
        let ae = path.join("ae.safetensors");
        if !need_transformer {
            return Ok(Self {
                transformer: PathBuf::new(),
                ae,
            });
        }
        let mut found: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| BackendError::io(path, e))? {
            let Ok(entry) = entry else { continue };
            let p = entry.path();
            let named = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("flux1-") && n.ends_with(".safetensors"));
            // A FIFO with the transformer's name is an error, not a missing transformer.
            if named && error::regular_file(&p)? {
                found.push(p);
            }
        }
        found.sort();
        match found.len() {
            1 => Ok(Self {
                transformer: found.swap_remove(0),
                ae,
            }),
            0 => Err(error::missing(
                path,
                "the BFL transformer: flux1-schnell.safetensors, flux1-dev.safetensors or \
                 another flux1-*.safetensors (or give the file's path as the model path)",
            )),
            _ => Err(BackendError::invalid(
                path,
                format!(
                    "several BFL transformers ({}): give one file's path as the model path",
                    found
                        .iter()
                        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}
