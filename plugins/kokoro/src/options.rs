//! The Kokoro backend's options: the `options` table of a `[models.ID]` using it.

use std::collections::BTreeSet;
use std::fmt;

use modelcache_backend::BackendError;
/// The `dtype` option: one type, spelled the same way, for every plugin.
pub use modelcache_weights::LoadDtype;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// `options = { voices = ["af_heart", "am_adam"], dtype = "bf16" }`; both keys are optional and
/// unknown keys are refused.
///
/// Build one in code with [`with_voices`](Self::with_voices) and
/// [`with_dtype`](Self::with_dtype).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KokoroOptions {
    /// The voice packs to load from `voices/` (default: all of them).
    pub voices: Voices,
    /// Convert every tensor to this dtype while loading (default: as stored, F32 for the
    /// published checkpoint). The size hint accounts for the conversion.
    pub dtype: Option<LoadDtype>,
}

impl KokoroOptions {
    /// Loads only the voices called `names` (`voices/<name>.safetensors`).
    #[must_use]
    pub fn with_voices<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.voices = Voices::Only(names.into_iter().map(Into::into).collect());
        self
    }

    /// Converts tensors to `dtype` while loading.
    #[must_use]
    pub fn with_dtype(mut self, dtype: LoadDtype) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Refuses an empty voice list, a name given twice and names that are not plain file stems.
    pub(crate) fn check(&self, backend: &str) -> Result<(), BackendError> {
        let fail = |reason: String| BackendError::Options {
            backend: backend.to_owned(),
            reason,
        };
        let Voices::Only(names) = &self.voices else {
            return Ok(());
        };
        if names.is_empty() {
            return Err(fail(
                "`voices` is an empty list: name at least one voice, or write `voices = \"all\"`"
                    .to_owned(),
            ));
        }
        let mut seen = BTreeSet::new();
        for name in names {
            if !is_plain_name(name) {
                return Err(fail(format!(
                    "`voices` entry {name:?} is not a voice name (a file stem in voices/, such as \"af_heart\")"
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(fail(format!("`voices` lists {name:?} twice")));
            }
        }
        Ok(())
    }
}

/// A voice name must name a file directly inside `voices/`: no separators, no leading dot.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.ends_with(".safetensors")
}

/// Which voice packs to load: `voices = "all"` (the default) or `voices = ["af_heart", ...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Voices {
    /// Every `voices/*.safetensors` file, as found when the model is inspected.
    #[default]
    All,
    /// These voices, each `voices/<name>.safetensors`; a missing one is an error.
    Only(Vec<String>),
}

impl<'de> Deserialize<'de> for Voices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Voices;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a list of voice names")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Voices, E> {
                if s == "all" {
                    Ok(Voices::All)
                } else {
                    Err(E::custom(format!(
                        "expected \"all\" or a list of voice names, found {s:?} (write [{s:?}] for one voice)"
                    )))
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Voices, A::Error> {
                let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Voices::Only(names))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(json: &str) -> Result<KokoroOptions, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn schema() {
        assert_eq!(parse("{}").unwrap(), KokoroOptions::default());
        assert_eq!(parse(r#"{"voices":"all"}"#).unwrap().voices, Voices::All);
        let o = parse(r#"{"voices":["af_heart","am_adam"],"dtype":"bf16"}"#).unwrap();
        assert_eq!(
            o,
            KokoroOptions::default()
                .with_voices(["af_heart", "am_adam"])
                .with_dtype(LoadDtype::Bf16)
        );
        let e = parse(r#"{"voices":"af_heart"}"#).unwrap_err().to_string();
        assert!(e.contains(r#"["af_heart"]"#), "{e}");
        assert!(parse(r#"{"voice":["af_heart"]}"#).is_err());
        assert!(parse(r#"{"dtype":"f64"}"#).is_err());
        assert!(parse(r#"{"voices":[1]}"#).is_err());
    }

    #[test]
    fn check_refuses_empty_duplicate_and_path_like_lists() {
        let check = |o: KokoroOptions| o.check("kokoro").map_err(|e| e.to_string());
        assert!(check(KokoroOptions::default()).is_ok());
        assert!(check(KokoroOptions::default().with_voices(["a", "b"])).is_ok());
        let none: [&str; 0] = [];
        assert!(
            check(KokoroOptions::default().with_voices(none))
                .unwrap_err()
                .contains("empty")
        );
        let e = check(KokoroOptions::default().with_voices(["a", "b", "a"])).unwrap_err();
        assert!(e.contains("\"a\" twice"), "{e}");
        for bad in ["", "../x", "a/b", ".hidden", "a.safetensors"] {
            assert!(
                check(KokoroOptions::default().with_voices([bad])).is_err(),
                "{bad}"
            );
        }
    }
}
