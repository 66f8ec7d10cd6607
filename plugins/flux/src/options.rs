//! The Flux backend's options: the `options` table of a `[models.ID]` that uses it.

use std::fmt;

use modelcache_backend::BackendError;
/// The `dtype` option: one type, spelled the same way, for every plugin.
pub use modelcache_weights::LoadDtype;
use serde::Deserialize;

/// `options = { components = ["transformer", "vae"], layout = "auto", dtype = "bf16" }`. Every
/// key is optional and unknown keys are refused.
///
/// Build one in code with [`with_components`](Self::with_components),
/// [`with_layout`](Self::with_layout) and [`with_dtype`](Self::with_dtype).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FluxOptions {
    /// The components to load, in this order (default: transformer and VAE; text encoders are
    /// often served elsewhere).
    pub components: Vec<Component>,
    /// Which layout to read when a folder holds several (default: [`LayoutChoice::Auto`]).
    pub layout: LayoutChoice,
    /// Convert floating-point tensors to this dtype while loading (default: as stored). Packed
    /// `U32` codes of quantized weights always load as stored; the size hint accounts for the
    /// conversion.
    pub dtype: Option<LoadDtype>,
}

impl Default for FluxOptions {
    fn default() -> Self {
        Self {
            components: vec![Component::Transformer, Component::Vae],
            layout: LayoutChoice::Auto,
            dtype: None,
        }
    }
}

impl FluxOptions {
    /// Loads these components, in this order.
    #[must_use]
    pub fn with_components(mut self, components: impl IntoIterator<Item = Component>) -> Self {
        self.components = components.into_iter().collect();
        self
    }

    /// Reads this layout.
    #[must_use]
    pub fn with_layout(mut self, layout: LayoutChoice) -> Self {
        self.layout = layout;
        self
    }

    /// Converts floating-point tensors to `dtype` while loading.
    #[must_use]
    pub fn with_dtype(mut self, dtype: LoadDtype) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Refuses an empty or repeated component list, and text encoders with the BFL layout.
    pub(crate) fn check(&self, backend: &str) -> Result<(), BackendError> {
        let fail = |reason: String| {
            Err(BackendError::Options {
                backend: backend.to_owned(),
                reason,
            })
        };
        if self.components.is_empty() {
            return fail("`components` is empty: name at least one of \"transformer\", \"vae\", \"text_encoder\", \"text_encoder_2\"".to_owned());
        }
        for (i, c) in self.components.iter().enumerate() {
            if self.components[..i].contains(c) {
                return fail(format!("`components` names {c} twice"));
            }
        }
        if self.layout == LayoutChoice::Bfl {
            if let Some(c) = self.components.iter().find(|c| c.is_text_encoder()) {
                return fail(format!(
                    "`layout = \"bfl\"` has no {c}: the BFL single files hold the transformer and \
                     the autoencoder only; load text encoders from a diffusers or mflux tree"
                ));
            }
        }
        Ok(())
    }
}

/// One part of the Flux pipeline, named as its diffusers folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[non_exhaustive]
pub enum Component {
    /// The diffusion transformer (`flux1-*.safetensors`, `transformer/`).
    #[serde(rename = "transformer")]
    Transformer,
    /// The autoencoder (`ae.safetensors` in BFL's layout, `vae/`).
    #[serde(rename = "vae")]
    Vae,
    /// CLIP-L text encoder (`text_encoder/`).
    #[serde(rename = "text_encoder")]
    TextEncoder,
    /// T5-XXL encoder (`text_encoder_2/`).
    #[serde(rename = "text_encoder_2")]
    TextEncoder2,
}

impl Component {
    /// Every component, in pipeline order.
    pub const ALL: [Component; 4] = [
        Component::Transformer,
        Component::Vae,
        Component::TextEncoder,
        Component::TextEncoder2,
    ];

    /// The name in options and the diffusers / mflux folder name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Component::Transformer => "transformer",
            Component::Vae => "vae",
            Component::TextEncoder => "text_encoder",
            Component::TextEncoder2 => "text_encoder_2",
        }
    }

    /// Whether this is one of the two text encoders.
    pub const fn is_text_encoder(self) -> bool {
        matches!(self, Component::TextEncoder | Component::TextEncoder2)
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.as_str())
    }
}

/// Which on-disk layout to read (see the crate docs for what `Auto` picks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LayoutChoice {
    /// mflux markers, else a diffusers tree, else BFL single files.
    #[default]
    Auto,
    /// BFL single files: `flux1-*.safetensors` and `ae.safetensors`.
    Bfl,
    /// The diffusers tree: `model_index.json` and one folder per component.
    Diffusers,
    /// An mflux tree (`mflux-save`, optionally quantized).
    Mflux,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<FluxOptions, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_and_names() {
        let o = parse("{}").unwrap();
        assert_eq!(o, FluxOptions::default());
        assert_eq!(o.components, [Component::Transformer, Component::Vae]);
        let o =
            parse(r#"{"components":["text_encoder_2","vae"],"layout":"mflux","dtype":"bfloat16"}"#)
                .unwrap();
        assert_eq!(o.components, [Component::TextEncoder2, Component::Vae]);
        assert_eq!(o.layout, LayoutChoice::Mflux);
        assert_eq!(o.dtype, Some(LoadDtype::Bf16));
        assert!(parse(r#"{"dtype":"f8"}"#).is_err());
        assert!(parse(r#"{"component":["vae"]}"#).is_err());
        assert!(parse(r#"{"components":["text_encoder2"]}"#).is_err());
    }

    #[test]
    fn check_refuses_inconsistent_lists() {
        let ok = FluxOptions::default();
        assert!(ok.check("flux").is_ok());
        let empty = FluxOptions::default().with_components([]);
        assert!(matches!(
            empty.check("flux"),
            Err(BackendError::Options { .. })
        ));
        let twice = FluxOptions::default().with_components([Component::Vae, Component::Vae]);
        assert!(twice.check("flux").is_err());
        let bfl_t5 = FluxOptions::default()
            .with_layout(LayoutChoice::Bfl)
            .with_components([Component::Transformer, Component::TextEncoder2]);
        let err = bfl_t5.check("flux").unwrap_err().to_string();
        assert!(
            err.contains("text_encoder_2") && err.contains("bfl"),
            "{err}"
        );
    }
}
