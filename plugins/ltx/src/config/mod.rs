//! Typed configs, parsed once from the single file's `__metadata__["config"]` or from the
//! diffusers `config.json` files. Parsing checks types and required fields; whether the tensors
//! agree with a config is checked in [`keys`](crate::keys).

mod read;
mod text_encoder;
mod transformer;
mod vae;

pub(crate) use read::{read_config_file, sub_object};
pub use text_encoder::TextEncoderConfig;
pub use transformer::TransformerConfig;
pub use vae::{VaeBlock, VaeBlockLayout, VaeConfig};

/// The configs of the loaded components (a component that was not loaded has none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LtxConfig {
    pub(crate) transformer: Option<TransformerConfig>,
    pub(crate) vae: Option<VaeConfig>,
    pub(crate) text_encoder: Option<TextEncoderConfig>,
}

impl LtxConfig {
    /// The transformer's config, if the transformer was selected.
    pub fn transformer(&self) -> Option<&TransformerConfig> {
        self.transformer.as_ref()
    }

    /// The VAE's config, if the VAE was selected.
    pub fn vae(&self) -> Option<&VaeConfig> {
        self.vae.as_ref()
    }

    /// The text encoder's config, if the text encoder was selected.
    pub fn text_encoder(&self) -> Option<&TextEncoderConfig> {
        self.text_encoder.as_ref()
    }
}
