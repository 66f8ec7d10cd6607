//! Which layout a model path holds: the rule behind `layout = "auto"`.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::{FileInventory, MODEL_INDEX};

use crate::error;
use crate::options::{LayoutChoice, LtxOptions};
use crate::single_file::{CONFIG_KEY, TRANSFORMER_PREFIX};

/// The layout a model was loaded from.
///
/// With `layout = "auto"` (the default) the model path decides:
///
/// 1. a file is a single file (it must end in `.safetensors`);
/// 2. a folder with `file = "..."` is that single file;
/// 3. a folder holding `model_index.json` is a diffusers tree, **even if single files sit next
///    to it**: `Lightricks/LTX-Video` ships both, with several single-file versions
///    (`ltx-video-2b-v0.9.safetensors`, `-v0.9.1`, ...) at its root, so picking one of them would
///    be a guess while `model_index.json` names exactly one pipeline. Choose a single file
///    there with `file` (or `layout = "single_file"` when there is only one);
/// 4. otherwise a folder holding one `.safetensors` file is that single file; with several,
///    the one whose header looks like LTX-Video (a `config` metadata entry or
///    `model.diffusion_model.patchify_proj.weight`) is chosen, and more than one is an error
///    that lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// One `.safetensors` file holding the transformer (`model.diffusion_model.*`), the VAE
    /// (`vae.*`) and their configs (`__metadata__["config"]`).
    SingleFile {
        /// The file.
        file: PathBuf,
    },
    /// A diffusers pipeline folder: `model_index.json` and one folder per component.
    Diffusers {
        /// The folder holding `model_index.json`.
        root: PathBuf,
    },
}

/// Applies the rule above (or the layout the options force) to `path`.
pub(crate) fn resolve(path: &Path, options: &LtxOptions) -> Result<Layout, BackendError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackendError::Missing {
                path: path.to_path_buf(),
                what: "an LTX-Video checkpoint: a .safetensors single file, or a folder holding \
                       one or a diffusers tree"
                    .into(),
            });
        }
        Err(e) => return Err(BackendError::io(path, e)),
    };
    let choice = options.forced_layout();
    if !meta.is_dir() {
        // A FIFO or device is named for what it is, and never opened.
        error::regular_file(path)?;
        let reason = if options.file.is_some() {
            "`file` picks a single file in a folder, but the model path is already a file"
        } else if choice == LayoutChoice::Diffusers {
            "layout = \"diffusers\" needs the pipeline folder holding model_index.json, not a file"
        } else if !is_safetensors(path) {
            "not a .safetensors file: give an LTX-Video single file or a folder"
        } else {
            return Ok(Layout::SingleFile {
                file: path.to_path_buf(),
            });
        };
        return Err(BackendError::invalid(path, reason));
    }
    if let Some(name) = &options.file {
        let file = path.join(name);
        return if error::regular_file(&file)? {
            Ok(Layout::SingleFile { file })
        } else {
            Err(BackendError::Missing {
                path: file,
                what: format!("the single file named by `file = {name:?}`"),
            })
        };
    }
    let index = path.join(MODEL_INDEX);
    let has_index = error::regular_file(&index)?;
    match choice {
        LayoutChoice::Diffusers if !has_index => Err(BackendError::Missing {
            path: index,
            what: "the diffusers tree's model_index.json (layout = \"diffusers\")".into(),
        }),
        LayoutChoice::Diffusers => Ok(Layout::Diffusers {
            root: path.to_path_buf(),
        }),
        LayoutChoice::Auto if has_index => Ok(Layout::Diffusers {
            root: path.to_path_buf(),
        }),
        _ => single_file_in(path),
    }
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// The one LTX-Video single file directly in `dir`.
fn single_file_in(dir: &Path) -> Result<Layout, BackendError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BackendError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| BackendError::io(dir, e))?.path();
        if is_safetensors(&path) && error::regular_file(&path)? {
            files.push(path);
        }
    }
    files.sort();
    let candidates = match files.len() {
        0 => {
            return Err(BackendError::Missing {
                path: dir.to_path_buf(),
                what: "an LTX-Video checkpoint: model_index.json (a diffusers tree) or a \
                       .safetensors single file"
                    .into(),
            });
        }
        1 => files,
        _ => {
            let mut ltx = Vec::new();
            for file in files.iter() {
                let header =
                    FileInventory::read_in(dir, file).map_err(|e| error::weights(e, file))?;
                let marker = format!("{TRANSFORMER_PREFIX}patchify_proj.weight");
                if header.metadata().contains_key(CONFIG_KEY) || header.tensor(&marker).is_some() {
                    ltx.push(file.clone());
                }
            }
            if ltx.is_empty() {
                return Err(BackendError::invalid(
                    dir,
                    format!(
                        "none of its .safetensors files ({}) is an LTX-Video single file (no \
                         `config` metadata, no {TRANSFORMER_PREFIX}patchify_proj.weight)",
                        names(&files)
                    ),
                ));
            }
            ltx
        }
    };
    match <[PathBuf; 1]>::try_from(candidates) {
        Ok([file]) => Ok(Layout::SingleFile { file }),
        Err(several) => Err(BackendError::invalid(
            dir,
            format!(
                "several LTX-Video single files ({}): choose one with the option `file`",
                names(&several)
            ),
        )),
    }
}

fn names(files: &[PathBuf]) -> String {
    files
        .iter()
        .filter_map(|f| f.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}
