//! A loaded safetensors model: named candle tensors and the folder's `config.json`.

use std::collections::HashMap;

use modelcache_backend::BackendError;
use modelcache_weights::candle_core::Tensor;
use modelcache_weights::{MoveTo, resident_bytes};
use serde_json::{Map, Value};

/// The tensors of a checkpoint, under their stored names (less the `prefix` option), and its
/// `config.json`.
///
/// Read-only: candle tensors are immutable and reference-counted, so one model serves any
/// number of threads, and [`tensor_map`](Self::tensor_map) hands a model-code constructor
/// (`candle_nn::VarBuilder::from_tensors`) a map that shares the storage rather than copying it.
pub struct SafetensorsModel {
    pub(crate) tensors: HashMap<String, Tensor>,
    pub(crate) config: Option<Map<String, Value>>,
    pub(crate) resident: u64,
}

impl SafetensorsModel {
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Every tensor with its name, in no particular order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = (&str, &Tensor)> + '_ {
        self.tensors.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// A map of every tensor, for `candle_nn::VarBuilder::from_tensors`. The tensors share
    /// their storage with the cached model (a clone of a candle tensor is a reference).
    pub fn tensor_map(&self) -> HashMap<String, Tensor> {
        self.tensors.clone()
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are none (never, for a model that loaded: an empty selection is refused).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The folder's `config.json`, when it has one.
    pub fn config(&self) -> Option<&Map<String, Value>> {
        self.config.as_ref()
    }

    /// `config.json` parsed into the model code's own config type (for example
    /// `candle_transformers::models::bert::Config`).
    ///
    /// # Errors
    /// When there is no `config.json`, or it does not fit `T`.
    pub fn config_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let Some(config) = &self.config else {
            return Err(serde::de::Error::custom(
                "the model folder has no config.json to parse",
            ));
        };
        serde_json::from_value(Value::Object(config.clone()))
    }

    /// Bytes held by the tensors' storage, measured from the tensors after the load (or the
    /// move that made this copy).
    pub fn resident_bytes(&self) -> u64 {
        self.resident
    }

    /// A copy with every tensor moved as `to` says, under the same names, with the same
    /// `config.json`; its size measured again.
    pub(crate) fn moved(&self, to: &MoveTo) -> Result<Self, BackendError> {
        let tensors = to.map(crate::SafetensorsBackend::NAME, &self.tensors)?;
        Ok(Self {
            resident: resident_bytes(tensors.values()),
            tensors,
            config: self.config.clone(),
        })
    }
}

impl std::fmt::Debug for SafetensorsModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsModel")
            .field("tensors", &self.tensors.len())
            .field("resident_bytes", &self.resident)
            .field("config", &self.config.is_some())
            .finish()
    }
}
