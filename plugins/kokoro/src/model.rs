//! A loaded Kokoro model: its weights, its voice packs and its config.

use std::collections::BTreeMap;
use std::fmt;

use modelcache_backend::BackendError;
use modelcache_weights::candle_core::Tensor;
use modelcache_weights::{LoadedTensors, MoveTo};

use crate::config::KokoroConfig;
use crate::voices::VOICE_TENSOR;
use crate::widths::Widths;

/// Kokoro-82M in memory: 548 weight tensors keyed as in `kokoro-v1_0.safetensors`, the
/// selected voice packs by name, and the parsed `config.json`.
///
/// Everything is read-only: candle tensors are immutable and reference-counted, and inference
/// builds new tensors from them, so one model serves any number of threads at once.
pub struct KokoroModel {
    pub(crate) config: KokoroConfig,
    pub(crate) widths: Widths,
    pub(crate) weights: LoadedTensors,
    /// Each voice's file loaded as is: one tensor, [`VOICE_TENSOR`].
    pub(crate) voices: BTreeMap<String, LoadedTensors>,
}

impl KokoroModel {
    /// The parsed `config.json`.
    pub fn config(&self) -> &KokoroConfig {
        &self.config
    }

    /// The widths read from tensor shapes (the ones Kokoro's code hard-codes).
    pub fn widths(&self) -> Widths {
        self.widths
    }

    /// The weight called `name` (`"decoder.generator.conv_post.weight_v"`).
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.weights.get(name)
    }

    /// Every weight with its name, in no particular order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = (&str, &Tensor)> + '_ {
        self.weights.iter()
    }

    /// The voice pack called `name`: `[rows, 1, 2 × style_dim]`. Row `n - 1` is the style for
    /// `n` phonemes; its first `style_dim` values style the decoder, the rest the prosody
    /// predictor.
    pub fn voice(&self, name: &str) -> Option<&Tensor> {
        self.voices.get(name)?.get(VOICE_TENSOR)
    }

    /// The names of the loaded voices, sorted.
    pub fn voice_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.voices.keys().map(String::as_str)
    }

    /// Bytes held by every tensor's storage, weights and voices, measured from the tensors.
    pub fn resident_bytes(&self) -> u64 {
        self.weights.resident_bytes()
            + self
                .voices
                .values()
                .map(LoadedTensors::resident_bytes)
                .sum::<u64>()
    }

    /// A copy with every weight and voice tensor moved as `to` says; the config and widths
    /// as they are.
    pub(crate) fn moved(&self, to: &MoveTo) -> Result<Self, BackendError> {
        let name = crate::KokoroBackend::NAME;
        let voices = self
            .voices
            .iter()
            .map(|(voice, t)| Ok((voice.clone(), to.tensors(name, t)?)))
            .collect::<Result<_, BackendError>>()?;
        Ok(Self {
            config: self.config.clone(),
            widths: self.widths,
            weights: to.tensors(name, &self.weights)?,
            voices,
        })
    }
}

impl fmt::Debug for KokoroModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KokoroModel")
            .field("tensors", &self.weights.len())
            .field("voices", &self.voices.keys().collect::<Vec<_>>())
            .field("resident_bytes", &self.resident_bytes())
            .finish_non_exhaustive()
    }
}
