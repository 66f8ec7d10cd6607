//! diffusers pipeline folders: `model_index.json` plus one folder per component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checkpoint::Checkpoint;
use crate::discover::MODEL_INDEX;
use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::index::read_small_json;

/// One component listed in `model_index.json` (`"vae": ["diffusers", "AutoencoderKL"]`).
#[derive(Debug, Clone)]
pub struct Component {
    name: String,
    library: String,
    class: String,
    dir: PathBuf,
    checkpoint: Option<Checkpoint>,
}

impl Component {
    /// The key in `model_index.json`, also the folder name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The library (`"diffusers"`, `"transformers"`).
    pub fn library(&self) -> &str {
        &self.library
    }

    /// The class (`"FluxTransformer2DModel"`, `"T5EncoderModel"`, ...).
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The component's folder (it may not exist).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The component's weights, if its folder holds any and it was opened. Schedulers and
    /// tokenizers have none.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }

    /// The weights, by value.
    pub fn into_checkpoint(self) -> Option<Checkpoint> {
        self.checkpoint
    }
}

/// A diffusers pipeline folder: `model_index.json` and its components, each inventoried with
/// [`Checkpoint::open_dir`].
#[derive(Debug, Clone)]
pub struct DiffusersTree {
    root: PathBuf,
    class_name: Option<String>,
    components: BTreeMap<String, Component>,
}

impl DiffusersTree {
    /// Reads `root/model_index.json` and inventories every component folder that holds weights.
    ///
    /// Keys starting with `_` and entries that are not `[library, class]` string pairs (such as
    /// `[null, null]`) are skipped.
    ///
    /// # Errors
    /// [`InvalidIndex`](WeightsError::InvalidIndex) if `model_index.json` is not a JSON object,
    /// and any error of [`Checkpoint::open_dir`] for a component folder that exists.
    pub fn open(root: &Path) -> Result<Self> {
        Self::open_filtered(root, |_| true)
    }

    /// Like [`open`](Self::open), but inventories only the named components (the others are
    /// listed with no checkpoint).
    ///
    /// # Errors
    /// [`UnknownComponent`](WeightsError::UnknownComponent) if a name is not listed, and the
    /// errors of [`open`](Self::open).
    pub fn open_components(root: &Path, names: &[&str]) -> Result<Self> {
        let tree = Self::open_filtered(root, |n| names.contains(&n))?;
        if let Some(missing) = names.iter().find(|n| !tree.components.contains_key(**n)) {
            return Err(WeightsError::UnknownComponent {
                root: root.to_path_buf(),
                name: (*missing).to_owned(),
            });
        }
        Ok(tree)
    }

    fn open_filtered(root: &Path, wanted: impl Fn(&str) -> bool) -> Result<Self> {
        let path = root.join(MODEL_INDEX);
        let text = read_small_json(&path, Some(root))?;
        let invalid = |reason: String| WeightsError::InvalidIndex {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(invalid("not a JSON object".into()));
        };
        let class_name = map
            .get("_class_name")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let mut components = BTreeMap::new();
        for (name, entry) in &map {
            if name.starts_with('_') {
                continue;
            }
            let Some(
                [
                    serde_json::Value::String(library),
                    serde_json::Value::String(class),
                ],
            ) = entry.as_array().map(Vec::as_slice)
            else {
                continue;
            };
            let dir = root.join(name);
            let checkpoint = if wanted(name) && dir.is_dir() {
                // A component folder that is a link must stay in the tree, as files do.
                modelcache_files::resolve_within(root, &dir)?;
                match Checkpoint::open_dir(&dir) {
                    Ok(c) => Some(c),
                    Err(WeightsError::NoWeights { .. }) => None,
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            components.insert(
                name.clone(),
                Component {
                    name: name.clone(),
                    library: library.clone(),
                    class: class.clone(),
                    dir,
                    checkpoint,
                },
            );
        }
        Ok(Self {
            root: root.to_path_buf(),
            class_name,
            components,
        })
    }

    /// The pipeline folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `_class_name` (`"FluxPipeline"`, `"LTXPipeline"`), if present.
    pub fn class_name(&self) -> Option<&str> {
        self.class_name.as_deref()
    }

    /// Every listed component, sorted by name.
    pub fn components(&self) -> impl ExactSizeIterator<Item = &Component> + '_ {
        self.components.values()
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.get(name)
    }

    /// The weights of component `name`.
    ///
    /// # Errors
    /// [`UnknownComponent`](WeightsError::UnknownComponent) if it is not listed or has no
    /// (opened) weights.
    pub fn checkpoint(&self, name: &str) -> Result<&Checkpoint> {
        self.component(name)
            .and_then(Component::checkpoint)
            .ok_or_else(|| WeightsError::UnknownComponent {
                root: self.root.clone(),
                name: name.to_owned(),
            })
    }

    /// Removes component `name` and returns its weights (to [`retain`](Checkpoint::retain) or
    /// load them by value).
    pub fn take_checkpoint(&mut self, name: &str) -> Option<Checkpoint> {
        self.components
            .remove(name)
            .and_then(Component::into_checkpoint)
    }

    /// The components that have weights.
    pub fn checkpoints(&self) -> impl Iterator<Item = (&str, &Checkpoint)> + '_ {
        self.components
            .values()
            .filter_map(|c| Some((c.name(), c.checkpoint()?)))
    }

    /// Tensor bytes of all components with weights, as stored.
    pub fn tensor_bytes(&self) -> u64 {
        self.checkpoints().map(|(_, c)| c.tensor_bytes()).sum()
    }

    /// Bytes all components with weights take once loaded with `target` conversion.
    pub fn loaded_bytes(&self, target: Option<Dtype>) -> u64 {
        self.checkpoints()
            .map(|(_, c)| c.loaded_bytes(target))
            .sum()
    }
}
