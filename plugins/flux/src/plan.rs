//! What a load will read: the chosen layout's component checkpoints, opened (headers only) and
//! validated: what `open` returns and `load` loads, so they agree byte for byte.

use std::path::{Path, PathBuf};

use modelcache_backend::{BackendError, ModelSource};
use modelcache_weights::{Checkpoint, DiffusersTree, Dtype};

use crate::backend::NAME;
use crate::components::{self, Checked};
use crate::layout::{self, BflFiles, Layout, Probed};
use crate::options::{Component, FluxOptions};
use crate::{error, given};

/// The diffusers class of a Flux transformer.
const FLUX_TRANSFORMER_CLASS: &str = "FluxTransformer2DModel";

/// One validated component checkpoint.
pub(crate) struct Part {
    pub component: Component,
    pub checkpoint: Checkpoint,
    pub checked: Checked,
    /// The folder holding the component's `config.json`, when its layout has one.
    pub dir: PathBuf,
}

/// The validated components of one model path, in the order the options name them.
pub(crate) struct Plan {
    pub layout: Layout,
    pub parts: Vec<Part>,
    /// The model path, for errors that name no file.
    pub home: PathBuf,
}

impl Plan {
    /// Resolves the layout, opens each requested component that no other entry provides
    /// (headers only) and validates it; checks the `given` ones against the transformer (see
    /// [`given`]), whose headers are opened for that check when it is not requested.
    ///
    /// # Errors
    /// Inconsistent options, a missing or unreadable file, a malformed header, the first
    /// tensor that does not fit the component's config, a given encoder that cannot be read or
    /// does not fit.
    pub(crate) fn open(source: &ModelSource<'_, FluxOptions>) -> Result<Self, BackendError> {
        let (path, options, given) = (source.path, source.options, source.components);
        options.check(NAME)?;
        let mut taken = Vec::new();
        for g in given {
            taken.push(given::role(source.id, g)?.0);
        }
        let mut components: Vec<Component> = options
            .components
            .iter()
            .copied()
            .filter(|c| !taken.contains(c))
            .collect();
        if components.is_empty() {
            return Err(BackendError::Options {
                backend: NAME.to_owned(),
                reason: format!(
                    "model {:?}: every component it lists ({}) is given by another cache \
                     entry, so it would load nothing; list the transformer or the VAE",
                    source.id,
                    names(&options.components)
                ),
            });
        }
        let check_only = !given.is_empty() && !components.contains(&Component::Transformer);
        if check_only {
            components.push(Component::Transformer);
        }
        let options = &options.clone().with_components(components);
        let (layout, probed) = layout::resolve(path, options)?;
        let opened = match layout {
            Layout::Bfl => open_bfl(path, options)?,
            Layout::Diffusers => open_diffusers(path, options, probed)?,
            Layout::Mflux => open_mflux(path, options, probed)?,
        };
        let mut parts: Vec<Part> = opened
            .into_iter()
            .map(|(component, checkpoint, dir)| {
                let checked = components::check(component, layout, &checkpoint, &dir)?;
                loadable(&checkpoint)?;
                Ok(Part {
                    component,
                    checkpoint,
                    checked,
                    dir,
                })
            })
            .collect::<Result<_, BackendError>>()?;
        if let Some(t) = parts.iter().find(|p| p.component == Component::Transformer) {
            given::check(source.id, given, layout, t)?;
        }
        if check_only {
            // The transformer was opened last, for the check only.
            parts.pop();
        }
        Ok(Self {
            layout,
            parts,
            home: path.to_path_buf(),
        })
    }

    /// Bytes the components take once loaded with `dtype` conversion.
    pub(crate) fn loaded_bytes(&self, dtype: Option<Dtype>) -> u64 {
        self.parts
            .iter()
            .map(|p| p.checkpoint.loaded_bytes(dtype))
            .sum()
    }

    /// Bytes of tensor data a load reads.
    pub(crate) fn tensor_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.checkpoint.tensor_bytes()).sum()
    }
}

/// `["transformer", "vae"]`, for messages.
fn names(components: &[Component]) -> String {
    components
        .iter()
        .map(Component::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(component, checkpoint, folder holding its config.json)`.
type Opened = Vec<(Component, Checkpoint, PathBuf)>;

fn open_bfl(path: &Path, options: &FluxOptions) -> Result<Opened, BackendError> {
    let files = BflFiles::find(path, options.components.contains(&Component::Transformer))?;
    let mut out = Vec::new();
    for &c in &options.components {
        let file = match c {
            Component::Transformer => &files.transformer,
            Component::Vae if error::regular_file(&files.ae)? => &files.ae,
            Component::Vae => {
                return Err(error::missing(
                    &files.ae,
                    "the BFL autoencoder ae.safetensors (component `vae`)",
                ));
            }
            Component::TextEncoder | Component::TextEncoder2 => {
                return Err(error::missing(
                    path.join(c.as_str()),
                    format!(
                        "{c}: this path holds BFL single files, which have no text encoders; \
                         load them from a diffusers or mflux tree"
                    ),
                ));
            }
        };
        let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        // The model path is the user's and may link anywhere; a file found beside it (or in
        // the folder) keeps to the link rule.
        let ck = if file == path {
            Checkpoint::open_file(file)
        } else {
            Checkpoint::open_file_in(&dir, file)
        }
        .map_err(|e| error::weights(e, file))?;
        out.push((c, ck, dir));
    }
    Ok(out)
}

/// Checks that candle can hold every tensor's dtype, so that a hint never promises a load that
/// must fail.
fn loadable(ck: &Checkpoint) -> Result<(), BackendError> {
    match ck.tensors().find(|(_, t)| t.dtype().to_candle().is_none()) {
        Some((file, t)) => Err(error::tensor(
            file.path(),
            t.name(),
            format!("dtype {} cannot be loaded into candle tensors", t.dtype()),
        )),
        None => Ok(()),
    }
}

fn open_diffusers(
    root: &Path,
    options: &FluxOptions,
    mut probed: Probed,
) -> Result<Opened, BackendError> {
    // A component already opened while probing for mflux is not opened twice.
    let names: Vec<&str> = options
        .components
        .iter()
        .filter(|&&c| probed.as_ref().is_none_or(|(p, _)| *p != c))
        .map(|c| c.as_str())
        .collect();
    let mut tree =
        DiffusersTree::open_components(root, &names).map_err(|e| error::weights(e, root))?;
    if let Some(t) = tree.component(Component::Transformer.as_str()) {
        if options.components.contains(&Component::Transformer)
            && t.class() != FLUX_TRANSFORMER_CLASS
        {
            return Err(BackendError::invalid(
                root.join(modelcache_weights::MODEL_INDEX),
                format!(
                    "the transformer is a {}, not a {FLUX_TRANSFORMER_CLASS}",
                    t.class()
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for &c in &options.components {
        let dir = root.join(c.as_str());
        let ck = match probed.take() {
            Some((p, ck)) if p == c => Some(ck),
            _ => tree.take_checkpoint(c.as_str()),
        };
        let Some(ck) = ck else {
            let stem = if c.is_text_encoder() {
                "model"
            } else {
                "diffusion_pytorch_model"
            };
            return Err(error::missing(
                dir,
                format!(
                    "the weights of {c}: {stem}.safetensors, or {stem}.safetensors.index.json \
                     and its shards"
                ),
            ));
        };
        out.push((c, ck, dir));
    }
    Ok(out)
}

fn open_mflux(
    root: &Path,
    options: &FluxOptions,
    mut probed: Probed,
) -> Result<Opened, BackendError> {
    let mut out = Vec::new();
    for &c in &options.components {
        let dir = root.join(c.as_str());
        let ck = match probed.take() {
            Some((p, ck)) if p == c => ck,
            _ if !dir.is_dir() => {
                return Err(error::missing(
                    &dir,
                    format!("the mflux folder of {c} (0.safetensors, 1.safetensors, ...)"),
                ));
            }
            _ => Checkpoint::open_dir(&dir).map_err(|e| error::weights(e, &dir))?,
        };
        out.push((c, ck, dir));
    }
    Ok(out)
}
