//! The T5 text encoder's `config.json` (transformers `T5EncoderModel`).

use serde_json::Value;

use modelcache_weights::Fields;

/// The fields of the T5 encoder config that shape its tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextEncoderConfig {
    vocab_size: u64,
    d_model: u64,
    d_ff: u64,
    d_kv: u64,
    num_heads: u64,
    num_layers: u64,
    relative_attention_num_buckets: u64,
    gated: bool,
}

impl TextEncoderConfig {
    /// Parses `text_encoder/config.json`.
    pub(crate) fn from_json(value: &Value, origin: &str) -> Result<Self, String> {
        let f = Fields::new(value, origin)?;
        Ok(Self {
            vocab_size: f.u64("vocab_size")?,
            d_model: f.u64("d_model")?,
            d_ff: f.u64("d_ff")?,
            d_kv: f.u64("d_kv")?,
            num_heads: f.u64("num_heads")?,
            num_layers: f.u64("num_layers")?,
            relative_attention_num_buckets: f
                .opt_u64("relative_attention_num_buckets")?
                .unwrap_or(32),
            // transformers: "gated-gelu" splits `wi` into `wi_0` and `wi_1`; the default is
            // "relu".
            gated: f
                .opt_str("feed_forward_proj")?
                .is_some_and(|p| p.starts_with("gated-")),
        })
    }

    /// `d_model`: the width of the encoder's output (4096 for T5-XXL), the transformer's
    /// `caption_channels`.
    pub fn d_model(&self) -> u64 {
        self.d_model
    }

    /// `num_layers` (24).
    pub fn num_layers(&self) -> u64 {
        self.num_layers
    }

    /// `num_heads` (64).
    pub fn num_heads(&self) -> u64 {
        self.num_heads
    }

    /// `d_kv` (64).
    pub fn d_kv(&self) -> u64 {
        self.d_kv
    }

    /// `d_ff` (10240).
    pub fn d_ff(&self) -> u64 {
        self.d_ff
    }

    /// `vocab_size` (32128).
    pub fn vocab_size(&self) -> u64 {
        self.vocab_size
    }

    /// `relative_attention_num_buckets` (32).
    pub fn relative_attention_num_buckets(&self) -> u64 {
        self.relative_attention_num_buckets
    }

    /// Whether the feed-forward is gated (`wi_0`, `wi_1`) rather than one `wi`.
    pub fn gated(&self) -> bool {
        self.gated
    }

    /// The values the expected shapes derive from, for error messages.
    pub(crate) fn summary(&self) -> String {
        format!(
            "num_layers {}, d_model {}, num_heads {} × d_kv {}, d_ff {}, vocab_size {}",
            self.num_layers, self.d_model, self.num_heads, self.d_kv, self.d_ff, self.vocab_size
        )
    }
}
