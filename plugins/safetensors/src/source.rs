//! Finding the weights and `config.json` of a model path: a folder, an index file or a single
//! `.safetensors` file.

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::{Checkpoint, CheckpointSource, WeightsError, regular_file_or_error};
use serde_json::{Map, Value};

/// The config file of a Hugging Face model folder.
pub const CONFIG_FILE: &str = "config.json";

/// What a model path holds.
pub(crate) struct Found {
    pub(crate) checkpoint: Checkpoint,
    /// `config.json` beside the weights (a folder, or the folder of an index), if there is one.
    pub(crate) config: Option<Map<String, Value>>,
}

impl Found {
    /// How the weights were found, for the inspection (the other backends' style: one word;
    /// the file count is the inspection's): `single-file`, `sharded` (an index) or `folder`
    /// (every `.safetensors` file of a folder).
    pub(crate) fn layout(&self) -> &'static str {
        match self.checkpoint.source() {
            CheckpointSource::Index(_) => "sharded",
            CheckpointSource::Folder(_) => "folder",
            _ => "single-file",
        }
    }
}

/// Opens the checkpoint at `path` (headers only) and reads its `config.json`.
///
/// # Errors
/// A missing path, a folder without safetensors weights (PyTorch `.bin` files are named as not
/// supported), any header or index error, a `config.json` that is not a JSON object.
pub(crate) fn find(path: &Path, id: &str) -> Result<Found, BackendError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackendError::Missing {
                path: path.to_path_buf(),
                what: format!(
                    "the checkpoint of model {id:?}: a folder holding {CONFIG_FILE} and \
                     model.safetensors (or model.safetensors.index.json), or a .safetensors file"
                ),
            });
        }
        Err(e) => return Err(BackendError::io(path, e)),
    };
    let (checkpoint, config_dir) = if meta.is_dir() {
        let checkpoint = Checkpoint::open_dir(path).map_err(|e| no_weights(e, path, id))?;
        (checkpoint, Some(path.to_path_buf()))
    } else {
        let checkpoint = Checkpoint::open(path).map_err(|e| e.into_backend_error(path))?;
        // An index's folder is the model folder; a bare file's may hold anything.
        let beside = match checkpoint.source() {
            CheckpointSource::Index(index) => Some(index.dir().to_path_buf()),
            _ => None,
        };
        (checkpoint, beside)
    };
    let config = match config_dir {
        Some(dir) => read_config(&dir.join(CONFIG_FILE))?,
        None => None,
    };
    Ok(Found { checkpoint, config })
}

/// A folder without safetensors weights, said in the words of what it does hold.
fn no_weights(e: WeightsError, dir: &Path, id: &str) -> BackendError {
    if !matches!(e, WeightsError::NoWeights { .. }) {
        return e.into_backend_error(dir);
    }
    let pickle = [
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "model.pt",
    ]
    .into_iter()
    .find(|name| dir.join(name).exists());
    let what = match pickle {
        Some(name) => format!(
            "safetensors weights of model {id:?}; the folder holds {name}, the PyTorch pickle \
             format, which is not supported (loading a pickle can run code): convert it with \
             `safetensors`' convert script or download the .safetensors files"
        ),
        None => format!(
            "safetensors weights of model {id:?}: model.safetensors, \
             model.safetensors.index.json with its shards, or other .safetensors files"
        ),
    };
    BackendError::Missing {
        path: dir.to_path_buf(),
        what,
    }
}

/// `config.json` at `path` as a JSON object; `None` when there is none.
fn read_config(path: &Path) -> Result<Option<Map<String, Value>>, BackendError> {
    if !regular_file_or_error(path)? {
        return Ok(None);
    }
    let value: Value = modelcache_weights::read_config_json(path)
        .map_err(|e| e.into_backend_error("the model's config.json"))?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        other => Err(BackendError::invalid(
            path,
            format!(
                "not a JSON object: a Hugging Face config.json is an object of fields, this is {}",
                kind(&other)
            ),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
