//! The safetensors backend's options: the `options` table of a `[models.ID]` using it.

use modelcache_backend::BackendError;
/// The `dtype` option: one type, spelled the same way, for every plugin.
pub use modelcache_weights::LoadDtype;
use serde::Deserialize;

/// `options = { dtype = "bf16", prefix = "bert.", skip = ["cls."] }`; every key is optional
/// and unknown keys are refused.
///
/// * `dtype`: convert floating-point tensors while loading (integer buffers keep theirs).
/// * `prefix`: keep only the tensors whose names start with it, and hand them over without it
///   (`"bert."` turns a `BertForMaskedLM` checkpoint into the names `BertModel` reads).
/// * `skip`: drop the tensors whose names (before the prefix is removed) start with any of
///   these (`["lm_head."]`); they are neither charged nor read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SafetensorsOptions {
    /// Convert floating-point tensors to this dtype while loading (default: as stored).
    pub dtype: Option<LoadDtype>,
    /// Keep only tensors under this name prefix, and remove it from their names.
    pub prefix: Option<String>,
    /// Drop tensors whose names start with any of these.
    pub skip: Vec<String>,
}

impl SafetensorsOptions {
    /// Converts floating-point tensors to `dtype` while loading.
    #[must_use]
    pub fn with_dtype(mut self, dtype: LoadDtype) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Keeps only tensors under `prefix`, handed over without it.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Drops tensors whose names start with any of `prefixes`.
    #[must_use]
    pub fn skipping<S: Into<String>>(mut self, prefixes: impl IntoIterator<Item = S>) -> Self {
        self.skip.extend(prefixes.into_iter().map(Into::into));
        self
    }

    /// Whether tensor `name` is selected.
    pub(crate) fn keeps(&self, name: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| name.starts_with(p))
            && !self.skip.iter().any(|s| name.starts_with(s.as_str()))
    }

    /// Refuses an empty prefix or skip entry (which would select nothing, or everything, by
    /// accident).
    pub(crate) fn check(&self, backend: &str) -> Result<(), BackendError> {
        let fail = |reason: &str| {
            Err(BackendError::Options {
                backend: backend.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.prefix.as_deref() == Some("") {
            return fail("`prefix` is empty: leave it out to keep every tensor");
        }
        if self.skip.iter().any(String::is_empty) {
            return fail("`skip` holds an empty prefix, which would drop every tensor");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(json: &str) -> Result<SafetensorsOptions, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn schema() {
        assert_eq!(parse("{}").unwrap(), SafetensorsOptions::default());
        let o = parse(r#"{"dtype":"bfloat16","prefix":"bert.","skip":["cls."]}"#).unwrap();
        assert_eq!(
            o,
            SafetensorsOptions::default()
                .with_dtype(LoadDtype::Bf16)
                .with_prefix("bert.")
                .skipping(["cls."])
        );
        assert!(parse(r#"{"dtype":"int8"}"#).is_err());
        assert!(parse(r#"{"prefixes":"a"}"#).is_err());
    }

    #[test]
    fn selection_and_names() {
        let o = SafetensorsOptions::default()
            .with_prefix("bert.")
            .skipping(["bert.pooler."]);
        assert!(o.keeps("bert.embeddings.word_embeddings.weight"));
        assert!(!o.keeps("cls.predictions.bias"));
        assert!(!o.keeps("bert.pooler.dense.weight"));
        let check = |o: SafetensorsOptions| o.check("safetensors").map_err(|e| e.to_string());
        assert!(check(o).is_ok());
        assert!(check(SafetensorsOptions::default().with_prefix("")).is_err());
        assert!(check(SafetensorsOptions::default().skipping([""])).is_err());
    }
}
