//! The `options = { ... }` table of an LTX-Video model in models.toml.

use std::path::{Component as PathPart, Path};

use modelcache_backend::BackendError;
use serde::Deserialize;

use crate::NAME;
/// The `dtype` option: one type, spelled the same way, for every plugin.
pub use modelcache_weights::LoadDtype;

/// Options of one LTX-Video model.
///
/// ```toml
/// options = { components = ["transformer", "vae"], layout = "auto", dtype = "bf16" }
/// ```
///
/// Every field is optional; unknown keys are errors when models.toml is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LtxOptions {
    /// The components to load (default `["transformer", "vae"]`). `text_encoder` exists in the
    /// diffusers tree only.
    pub components: Vec<Component>,
    /// Which layout to read (default [`LayoutChoice::Auto`]).
    pub layout: LayoutChoice,
    /// The single file to read in a folder that holds several (for example one version among
    /// `ltx-video-2b-v0.9.safetensors`, `ltx-video-2b-v0.9.1.safetensors`, ...), relative to the
    /// model's folder. Implies the single-file layout.
    pub file: Option<String>,
    /// Convert floating-point weights to this dtype while loading (default: as stored). The
    /// memory hint counts the converted size.
    pub dtype: Option<LoadDtype>,
}

impl Default for LtxOptions {
    fn default() -> Self {
        Self {
            components: vec![Component::Transformer, Component::Vae],
            layout: LayoutChoice::Auto,
            file: None,
            dtype: None,
        }
    }
}

/// One component of an LTX-Video pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The video transformer (`model.diffusion_model.*` in a single file, `transformer/`).
    Transformer,
    /// The causal video VAE (`vae.*` in a single file, `vae/`).
    Vae,
    /// The T5 text encoder (`text_encoder/`, diffusers tree only).
    TextEncoder,
}

impl Component {
    /// The name used in options and as the diffusers folder (`"text_encoder"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Component::Transformer => "transformer",
            Component::Vae => "vae",
            Component::TextEncoder => "text_encoder",
        }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which checkpoint layout to read. See [`Layout`](crate::Layout) for the rule `auto` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutChoice {
    /// Decide from the path (the default).
    #[default]
    Auto,
    /// The single-file checkpoint (`layout = "single_file"`).
    #[serde(alias = "single-file")]
    SingleFile,
    /// The diffusers tree (`layout = "diffusers"`).
    Diffusers,
}

impl LtxOptions {
    /// The layout the options force, if any: `file` implies the single file.
    pub(crate) fn forced_layout(&self) -> LayoutChoice {
        match (self.layout, &self.file) {
            (LayoutChoice::Auto, Some(_)) => LayoutChoice::SingleFile,
            (layout, _) => layout,
        }
    }

    /// Whether `component` is selected.
    pub(crate) fn wants(&self, component: Component) -> bool {
        self.components.contains(&component)
    }

    /// Rejects inconsistent combinations (see [`Backend::check_options`]).
    ///
    /// [`Backend::check_options`]: modelcache_backend::Backend::check_options
    pub(crate) fn check(&self) -> Result<(), BackendError> {
        let fail = |reason: String| {
            Err(BackendError::Options {
                backend: NAME.to_owned(),
                reason,
            })
        };
        if self.components.is_empty() {
            return fail(
                "`components` is empty: name at least one of transformer, vae, text_encoder".into(),
            );
        }
        for (i, c) in self.components.iter().enumerate() {
            if self.components[..i].contains(c) {
                return fail(format!("`components` lists {c} twice"));
            }
        }
        if let Some(file) = &self.file {
            if self.layout == LayoutChoice::Diffusers {
                return fail(format!(
                    "`file = {file:?}` names a single file, but `layout = \"diffusers\"`"
                ));
            }
            let path = Path::new(file);
            let plain = path.components().all(|p| matches!(p, PathPart::Normal(_)));
            if file.is_empty() || !plain {
                return fail(format!(
                    "`file = {file:?}` must be a path relative to the model folder, without `..`"
                ));
            }
            if !file.ends_with(".safetensors") {
                return fail(format!("`file = {file:?}` is not a .safetensors file"));
            }
        }
        if self.wants(Component::TextEncoder) && self.forced_layout() == LayoutChoice::SingleFile {
            return fail(
                "`text_encoder` is not in an LTX-Video single file (it holds the transformer and \
                 the VAE); load it from the diffusers tree"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LtxOptions, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_and_spellings() {
        let o = parse("{}").unwrap();
        assert_eq!(o, LtxOptions::default());
        assert_eq!(o.components, [Component::Transformer, Component::Vae]);
        let o =
            parse(r#"{"components": ["text_encoder"], "layout": "diffusers", "dtype": "bf16"}"#)
                .unwrap();
        assert_eq!(o.components, [Component::TextEncoder]);
        assert_eq!(o.layout, LayoutChoice::Diffusers);
        assert_eq!(
            o.dtype.map(LoadDtype::dtype),
            Some(modelcache_weights::Dtype::BF16)
        );
        assert_eq!(
            parse(r#"{"layout": "single-file"}"#).unwrap().layout,
            LayoutChoice::SingleFile
        );
        assert!(parse(r#"{"dtype": "f64"}"#).is_err());
        assert!(parse(r#"{"dtypes": "f16"}"#).is_err());
        assert!(parse(r#"{"components": ["unet"]}"#).is_err());
    }

    #[test]
    fn inconsistent_combinations_are_rejected() {
        let bad = [
            LtxOptions {
                components: vec![],
                ..LtxOptions::default()
            },
            LtxOptions {
                components: vec![Component::Vae, Component::Vae],
                ..LtxOptions::default()
            },
            LtxOptions {
                layout: LayoutChoice::Diffusers,
                file: Some("a.safetensors".into()),
                ..LtxOptions::default()
            },
            LtxOptions {
                file: Some("../a.safetensors".into()),
                ..LtxOptions::default()
            },
            LtxOptions {
                file: Some("/abs/a.safetensors".into()),
                ..LtxOptions::default()
            },
            LtxOptions {
                file: Some("a.bin".into()),
                ..LtxOptions::default()
            },
            LtxOptions {
                components: vec![Component::TextEncoder],
                layout: LayoutChoice::SingleFile,
                ..LtxOptions::default()
            },
            LtxOptions {
                components: vec![Component::Transformer, Component::TextEncoder],
                file: Some("a.safetensors".into()),
                ..LtxOptions::default()
            },
        ];
        for o in bad {
            let err = o.check().unwrap_err();
            assert!(matches!(err, BackendError::Options { .. }), "{o:?}: {err}");
            assert!(err.to_string().contains("\"ltx\""), "{err}");
        }
        let good = LtxOptions {
            components: vec![Component::TextEncoder],
            ..LtxOptions::default()
        };
        good.check().unwrap();
        let good = LtxOptions {
            file: Some("v0.9/ltx-video-2b-v0.9.safetensors".into()),
            layout: LayoutChoice::SingleFile,
            ..LtxOptions::default()
        };
        good.check().unwrap();
    }
}
