//! What an LTX-Video fixture is made of.

use crate::scale::fit;
use crate::text_encoders::T5Config;

use super::{LtxTransformerConfig, LtxVaeConfig};

/// An LTX-Video fixture: seed, component configs and size knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct LtxSpec {
    /// Seed of the tensor contents.
    pub seed: u64,
    /// Target size in bytes of everything the generator writes; `None` keeps the configs. Scaling grows the
    /// transformer (heads and layers); the VAE and text encoder stay as configured.
    pub scale: Option<u64>,
    /// The transformer.
    pub transformer: LtxTransformerConfig,
    /// The VAE.
    pub vae: LtxVaeConfig,
    /// The text encoder of the diffusers tree (the single file has none).
    pub t5: T5Config,
    /// Name of the single file (`ltx-video-2b-v0.9.safetensors`).
    pub file_name: String,
    /// Also write `vae.per_channel_statistics.{channel,mean-of-stds}` (shapes unverified; see
    /// [`original_vae_keys`](super::original_vae_keys)).
    pub extra_statistics: bool,
    /// Max data bytes per diffusers transformer shard; `None` scales the converter's 5 GB / 7.69 GB (2 shards).
    pub transformer_shard_bytes: Option<u64>,
    /// Max data bytes per text-encoder shard; `None` gives two shards.
    pub t5_shard_bytes: Option<u64>,
}

impl LtxSpec {
    /// Tiny LTX-Video 0.9.0: about 0.95 MiB as a single file, most of it the F32 VAE.
    pub fn tiny() -> Self {
        Self {
            seed: 0,
            scale: None,
            transformer: LtxTransformerConfig::tiny(),
            vae: LtxVaeConfig::tiny(),
            t5: T5Config::tiny(),
            file_name: "ltx-video-2b-v0.9.safetensors".into(),
            extra_statistics: false,
            transformer_shard_bytes: None,
            t5_shard_bytes: None,
        }
    }

    /// The real 2B / 0.9.0 dimensions: for counting, not for writing.
    pub fn real_2b() -> Self {
        Self {
            transformer: LtxTransformerConfig::ltx_2b(),
            vae: LtxVaeConfig::v0_9_0(),
            t5: T5Config::xxl(),
            transformer_shard_bytes: Some(5_000_000_000),
            t5_shard_bytes: Some(5_000_000_000),
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

    pub(crate) fn transformer_shard_limit(&self, bytes: u64) -> u64 {
        self.transformer_shard_bytes
            .unwrap_or(bytes * 500 / 769 + 1)
    }

    pub(crate) fn t5_shard_limit(&self, bytes: u64) -> u64 {
        self.t5_shard_bytes
            .unwrap_or_else(|| crate::t5_encoder::real_shard_limit(bytes))
    }

    fn resized(&self, w: u64, n: u64) -> Self {
        let mut s = self.clone();
        let t = &mut s.transformer;
        t.num_attention_heads = w;
        t.num_layers = n;
        t.cross_attention_dim = t.inner_dim();
        s.scale = None;
        s
    }

    /// Resolves `scale` against `size` (heads 1..=4096, layers 1..=48, the 13B depth).
    pub(crate) fn scaled(&self, size: impl Fn(&Self) -> u64) -> Self {
        let Some(target) = self.scale else {
            return self.clone();
        };
        let (w, n) = fit(target, 4096, 1, 48, |w, n| size(&self.resized(w, n)));
        self.resized(w, n)
    }
}
