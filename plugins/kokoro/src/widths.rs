//! The widths Kokoro's code hard-codes instead of reading from `config.json`, read back from the
//! tensor shapes that carry them (docs/checkpoint-layouts.md §8.3).

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::Checkpoint;

/// Widths fixed in Kokoro's Python code rather than in `config.json`. They are read from tensor
/// shapes, so a checkpoint that shrinks them (a test fixture) loads like the real one; every
/// other tensor is then checked against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Widths {
    /// ALBERT `embedding_size` (128): `bert.embeddings.word_embeddings.weight[1]`.
    pub albert_embedding_size: usize,
    /// The decoder width (1024): `decoder.encode.conv1.weight_v[0]`.
    pub decoder_dim: usize,
    /// The `asr_res` output width (64): `decoder.asr_res.0.weight_v[0]`.
    pub asr_res_dim: usize,
    /// The harmonics of the source module (8): `decoder.generator.m_source.l_linear.weight[1] - 1`.
    pub harmonic_num: usize,
}

/// Where each width is read: `(tensor, rank, axis)`.
const EMBEDDING: (&str, usize, usize) = ("bert.embeddings.word_embeddings.weight", 2, 1);
const DECODER: (&str, usize, usize) = ("decoder.encode.conv1.weight_v", 3, 0);
const ASR_RES: (&str, usize, usize) = ("decoder.asr_res.0.weight_v", 3, 0);
const HARMONICS: (&str, usize, usize) = ("decoder.generator.m_source.l_linear.weight", 2, 1);

impl Widths {
    /// The real Kokoro-82M v1.0 widths.
    pub const V1_0: Widths = Widths {
        albert_embedding_size: 128,
        decoder_dim: 1024,
        asr_res_dim: 64,
        harmonic_num: 8,
    };

    /// Reads the widths from the shapes of the weights in `file`.
    pub(crate) fn derive(weights: &Checkpoint, file: &Path) -> Result<Self, BackendError> {
        let axis = |(name, rank, axis): (&str, usize, usize)| {
            let fail = |reason: String| BackendError::Invalid {
                path: file.to_path_buf(),
                tensor: Some(name.to_owned()),
                reason,
            };
            let t = weights
                .tensor(name)
                .ok_or_else(|| fail("missing (Kokoro's layout needs it)".to_owned()))?;
            match t.shape() {
                s if s.len() != rank => Err(fail(format!(
                    "shape {s:?} has {} dimensions, expected {rank}",
                    s.len()
                ))),
                s if s[axis] == 0 => Err(fail(format!("shape {s:?} has a zero width"))),
                s => Ok(s[axis]),
            }
        };
        Ok(Self {
            albert_embedding_size: axis(EMBEDDING)?,
            decoder_dim: axis(DECODER)?,
            asr_res_dim: axis(ASR_RES)?,
            harmonic_num: axis(HARMONICS)? - 1, // checked nonzero above
        })
    }
}
