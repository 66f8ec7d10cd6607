//! What a Flux fixture is made of: the configs of its components and the size knobs.

use crate::safetensors_writer::Metadata;
use crate::scale::{fit, lcm};
use crate::text_encoders::{ClipConfig, T5Config};

use super::{AeConfig, FluxConfig};

/// A Flux fixture: seed, component configs and size knobs, shared by the BFL, diffusers and "real repo" layouts
/// (and wrapped by [`MfluxSpec`](super::MfluxSpec)).
#[derive(Debug, Clone, PartialEq)]
pub struct FluxSpec {
    /// Seed of the tensor contents.
    pub seed: u64,
    /// Target size in bytes of everything the generator writes; `None` keeps the configs as given. Scaling grows
    /// the transformer (width and block count); the autoencoder and text encoders stay as configured.
    pub scale: Option<u64>,
    /// The transformer.
    pub transformer: FluxConfig,
    /// The autoencoder (BFL `ae.safetensors`; diffusers `vae/` is derived from it).
    pub ae: AeConfig,
    /// `text_encoder/` (CLIP-L).
    pub clip: ClipConfig,
    /// `text_encoder_2/` (T5-XXL encoder).
    pub t5: T5Config,
    /// Write BFL transformer keys under `model.diffusion_model.` (as some repackagings do).
    pub prefix: bool,
    /// `__metadata__` of the BFL files; `None` writes none.
    pub bfl_metadata: Option<Metadata>,
    /// Max data bytes per diffusers transformer shard; `None` scales the real 10 GB / 23.78 GB ratio (3 shards).
    pub transformer_shard_bytes: Option<u64>,
    /// Max data bytes per T5 shard; `None` scales the real 5 GB / 9.52 GB ratio (2 shards).
    pub t5_shard_bytes: Option<u64>,
}

impl FluxSpec {
    /// Tiny FLUX.1 [schnell]: about 2 MiB for the whole "real repo" layout, most of it the F32 autoencoder
    /// (BFL's 32 GroupNorm groups set a floor on its width).
    pub fn tiny() -> Self {
        Self {
            seed: 0,
            scale: None,
            transformer: FluxConfig::tiny(),
            ae: AeConfig::tiny(),
            clip: ClipConfig::tiny(),
            t5: T5Config::tiny(),
            prefix: false,
            bfl_metadata: None,
            transformer_shard_bytes: None,
            t5_shard_bytes: None,
        }
    }

    /// The real FLUX.1 [schnell] dimensions: for counting keys and bytes. Writing it produces 34 GB and more.
    pub fn real_schnell() -> Self {
        Self {
            transformer: FluxConfig::schnell(),
            ae: AeConfig::flux(),
            clip: ClipConfig::clip_l(),
            t5: T5Config::xxl(),
            transformer_shard_bytes: Some(10_000_000_000),
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

    /// A non-trivial `__metadata__` for BFL files. What BFL's own files carry is not known (their headers are about
    /// 63 KB larger than a bare key table, docs/checkpoint-layouts.md §2.5); this map only exercises readers with a
    /// large, varied metadata block.
    pub fn example_bfl_metadata() -> Metadata {
        let mut m = Metadata::new();
        m.insert("format".into(), "pt".into());
        m.insert("modelspec.architecture".into(), "Flux.1-schnell".into());
        m.insert(
            "modelspec.title".into(),
            "FLUX.1 [schnell] (modelcache fixture) — ünïcödé".into(),
        );
        m.insert("modelspec.sai_model_spec".into(), "1.0.0".into());
        m.insert(
            "notes".into(),
            "{\"nested\": \"json as a string\", \"quote\": \"\\\"\"}".into(),
        );
        m.insert("padding".into(), "x".repeat(4096));
        m
    }

    pub(crate) fn transformer_shard_limit(&self, transformer_bytes: u64) -> u64 {
        self.transformer_shard_bytes
            .unwrap_or(transformer_bytes * 1000 / 2378 + 1)
    }

    pub(crate) fn t5_shard_limit(&self, t5_bytes: u64) -> u64 {
        self.t5_shard_bytes
            .unwrap_or_else(|| crate::t5_encoder::real_shard_limit(t5_bytes))
    }

    /// This spec with the transformer resized to `H = unit·w` and `n` blocks, a third of them double-stream.
    fn resized(&self, unit: u64, w: u64, n: u64) -> Self {
        let mut s = self.clone();
        let hd = self.transformer.head_dim();
        let t = &mut s.transformer;
        t.hidden_size = unit * w;
        t.num_heads = t.hidden_size / hd;
        t.depth = n.div_ceil(3);
        t.depth_single_blocks = n - t.depth;
        s.scale = None;
        s
    }

    /// Resolves `scale`: the spec whose `size` is closest to the target. `unit` divides every transformer width
    /// (32, or the mflux group size).
    pub(crate) fn scaled(&self, unit: u64, size: impl Fn(&Self) -> u64) -> Self {
        let Some(target) = self.scale else {
            return self.clone();
        };
        let unit = lcm(unit, self.transformer.head_dim().max(1));
        // n up to 57 = the real 19 + 38 blocks.
        let (w, n) = fit(target, 4096, 3, 57, |w, n| size(&self.resized(unit, w, n)));
        self.resized(unit, w, n)
    }
}
