//! Kokoro-82M fixtures in the `mlx-community/Kokoro-82M-bf16` layout (docs/checkpoint-layouts.md §8).

mod config;
mod keys;

use std::io;
use std::path::Path;

use crate::fill::tensor_seed;
use crate::out::Out;
use crate::report::FixtureReport;
use crate::scale::{file_len, fit};
use crate::{Dtype, TensorSpec};

pub use config::{IstftnetConfig, KokoroConfig, PlbertConfig};
pub use keys::kokoro_keys;

/// A Kokoro fixture: seed, config, voices and the size target.
#[derive(Debug, Clone, PartialEq)]
pub struct KokoroSpec {
    /// Seed of the tensor contents.
    pub seed: u64,
    /// Target size in bytes of everything written; `None` keeps the config. Scaling grows every width together.
    pub scale: Option<u64>,
    /// The model.
    pub config: KokoroConfig,
    /// Voice pack names (`voices/<name>.safetensors`).
    pub voices: Vec<String>,
}

impl KokoroSpec {
    /// Tiny Kokoro with three voices (`af_heart`, `am_adam`, `bf_emma`).
    pub fn tiny() -> Self {
        Self {
            seed: 0,
            scale: None,
            config: KokoroConfig::tiny(),
            voices: ["af_heart", "am_adam", "bf_emma"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// The real v1.0 dimensions: for counting (writing it takes 327 MB).
    pub fn real() -> Self {
        Self {
            config: KokoroConfig::v1_0(),
            ..Self::tiny()
        }
    }

    /// The same spec with another seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same spec with a target size in bytes.
    #[must_use]
    pub fn with_scale(mut self, bytes: u64) -> Self {
        self.scale = Some(bytes);
        self
    }

    /// Rows of a voice pack: the context limit `max_position_embeddings - 2` (510 for the real model).
    pub fn voice_rows(&self) -> u64 {
        self.config
            .plbert
            .max_position_embeddings
            .saturating_sub(2)
            .max(1)
    }

    /// The one tensor of a voice file: `voice [rows, 1, 2·style_dim]`, F32. The MLX dtype is not verified (the
    /// `.pt` and `.bin` packs are F32).
    pub fn voice_keys(&self) -> Vec<TensorSpec> {
        vec![TensorSpec::new(
            "voice",
            Dtype::F32,
            [self.voice_rows(), 1, 2 * self.config.style_dim],
        )]
    }

    fn size(&self) -> u64 {
        let model = file_len(kokoro_keys(&self.config, false).tensors(), None);
        model + self.voices.len() as u64 * file_len(&self.voice_keys(), None)
    }

    /// Widths × `w` (relative to this config), decoder width × `n/64` on top.
    fn resized(&self, w: u64, n: u64) -> Self {
        let mut s = self.clone();
        let c = &mut s.config;
        for x in [
            &mut c.hidden_dim,
            &mut c.style_dim,
            &mut c.plbert.hidden_size,
            &mut c.plbert.intermediate_size,
            &mut c.albert_embedding_size,
            &mut c.istftnet.upsample_initial_channel,
            &mut c.asr_res_dim,
        ] {
            *x *= w;
        }
        c.decoder_dim = (c.decoder_dim * w * n / 64).max(1);
        s.scale = None;
        s
    }

    fn scaled(&self) -> Self {
        let Some(target) = self.scale else {
            return self.clone();
        };
        let (w, n) = fit(target, 4096, 32, 128, |w, n| self.resized(w, n).size());
        self.resized(w, n)
    }
}

/// Writes `config.json`, `kokoro-v1_0.safetensors` (flattened `<component>.<key>`, F32, PyTorch layouts, no
/// `__metadata__`) and `voices/<name>.safetensors` (`{"voice": [rows, 1, 2·style_dim]}`, F32) into `dir`.
///
/// # Errors
///
/// Any I/O error.
pub fn write_kokoro_mlx(dir: &Path, spec: &KokoroSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled();
    let mut out = Out::new(dir, spec.seed)?;
    out.json("config.json", &spec.config.config_json())?;
    out.safetensors(
        "kokoro",
        "kokoro-v1_0.safetensors",
        kokoro_keys(&spec.config, false).into_tensors(),
        None,
    )?;
    for v in &spec.voices {
        let seed = tensor_seed(spec.seed, v);
        out.safetensors_seeded(
            &format!("voice:{v}"),
            &format!("voices/{v}.safetensors"),
            spec.voice_keys(),
            None,
            seed,
        )?;
    }
    Ok(out.finish())
}
