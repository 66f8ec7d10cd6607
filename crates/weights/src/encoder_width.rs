//! The width of a text encoder that another cache entry provides, read from its headers.
//!
//! A pipeline that takes its T5 or CLIP from another entry (a `Component` of the contract)
//! loads none of that encoder, but must still know, before anything loads, that the encoder's
//! output fits its transformer's text input. That width is the second dimension of the
//! encoder's token embedding, read from the safetensors headers (the weights are what will
//! run); a `config.json` beside them, when there is one, must say the same.
//!
//! Only the width is checked. The encoder's dtype, block count and the rest are the business
//! of the entry that loads it, with its own backend and options.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use serde_json::Value;

use crate::{Checkpoint, CheckpointSource, Fields, read_config_json, regular_file_or_error};

/// Which text encoder a width is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncoderKind {
    /// A transformers `T5EncoderModel` (FLUX.1 `text_encoder_2/`, LTX-Video `text_encoder/`).
    T5,
    /// A transformers `CLIPTextModel` (FLUX.1 `text_encoder/`).
    Clip,
}

impl EncoderKind {
    /// The `config.json` field that holds the width.
    pub const fn config_field(self) -> &'static str {
        match self {
            Self::T5 => "d_model",
            Self::Clip => "hidden_size",
        }
    }

    /// The token embeddings whose second dimension is the width, in the order they are looked
    /// for (a T5 export may store the tied `encoder.embed_tokens.weight` instead of `shared`).
    pub const fn embeddings(self) -> &'static [&'static str] {
        match self {
            Self::T5 => &["shared.weight", "encoder.embed_tokens.weight"],
            Self::Clip => &["text_model.embeddings.token_embedding.weight"],
        }
    }

    /// The encoder's name, for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::T5 => "T5 encoder",
            Self::Clip => "CLIP text encoder",
        }
    }
}

/// A text encoder's width, with where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderWidth {
    /// The cache entry that provides the encoder.
    pub id: String,
    /// Which encoder it is.
    pub kind: EncoderKind,
    /// `d_model` (T5) or `hidden_size` (CLIP).
    pub width: u64,
    /// The safetensors file holding the embedding it was read from.
    pub file: PathBuf,
    /// That embedding's name.
    pub tensor: &'static str,
}

/// Where a text encoder's output enters a model: the model, its input tensor and that
/// tensor's input width.
#[derive(Debug, Clone, Copy)]
pub struct TextInput<'a> {
    /// The model (cache entry) that takes the encoder.
    pub model: &'a str,
    /// The role the encoder plays in it (`"text_encoder_2"`).
    pub role: &'a str,
    /// The file holding the input tensor.
    pub file: &'a Path,
    /// The input tensor (`context_embedder.weight`).
    pub tensor: &'a str,
    /// Its `in_features`: the width it takes.
    pub width: u64,
}

impl EncoderWidth {
    /// Checks that this encoder is as wide as `input` takes.
    ///
    /// # Errors
    /// [`BackendError::Invalid`] on the input tensor, naming both models, both files and both
    /// widths.
    pub fn fits(&self, input: &TextInput<'_>) -> Result<(), BackendError> {
        if self.width == input.width {
            return Ok(());
        }
        Err(BackendError::Invalid {
            path: input.file.to_path_buf(),
            tensor: Some(input.tensor.to_owned()),
            reason: format!(
                "model {:?} takes a {} {} wide ({} in {}), but cache entry {:?}, given as its \
                 `{}`, is {} wide ({} of {} in {}): they do not belong together",
                input.model,
                self.kind.as_str(),
                input.width,
                input.tensor,
                input.file.display(),
                self.id,
                input.role,
                self.width,
                self.kind.config_field(),
                self.tensor,
                self.file.display()
            ),
        })
    }
}

/// Reads the width of the `kind` encoder at `path` (a Hugging Face model folder, its
/// `*.safetensors.index.json` or one `.safetensors` file), which is cache entry `id`'s
/// checkpoint. Reads headers and `config.json` only.
///
/// # Errors
/// Every error names entry `id`: [`BackendError::Missing`] when `path` does not exist;
/// [`BackendError::Invalid`] naming the file when a header or the `config.json` cannot be read,
/// when no token embedding of `kind` is there (it is not that encoder), when the embedding is
/// not two-dimensional, or when `config.json` gives another width than the weights.
pub fn encoder_width(
    id: &str,
    path: &Path,
    kind: EncoderKind,
) -> Result<EncoderWidth, BackendError> {
    let of = |what: String| format!("the {} of cache entry {id:?}: {what}", kind.as_str());
    if let Err(e) = std::fs::metadata(path) {
        return Err(if e.kind() == std::io::ErrorKind::NotFound {
            BackendError::Missing {
                path: path.to_path_buf(),
                what: of(
                    "a Hugging Face folder with config.json and model.safetensors (or \
                          model.safetensors.index.json and its shards)"
                        .to_owned(),
                ),
            }
        } else {
            BackendError::io(path, e)
        });
    }
    let checkpoint = Checkpoint::open(path).map_err(|e| {
        let file = e.path().unwrap_or(path).to_path_buf();
        BackendError::invalid(file, of(format!("its headers cannot be read: {e}")))
    })?;
    let found = kind
        .embeddings()
        .iter()
        .find_map(|&name| checkpoint.get(name).map(|(f, t)| (name, f, t)));
    let Some((tensor, file, info)) = found else {
        return Err(BackendError::invalid(
            checkpoint.location(),
            of(format!(
                "no {} among its {} tensors, so it is not a transformers {}",
                kind.embeddings().join(" or "),
                checkpoint.len(),
                kind.as_str()
            )),
        ));
    };
    let file = file.path().to_path_buf();
    let &[_, width] = info.shape() else {
        return Err(BackendError::Invalid {
            path: file,
            tensor: Some(tensor.to_owned()),
            reason: of(format!(
                "the token embedding has shape {:?}; expected [vocab, width]",
                info.shape()
            )),
        });
    };
    let width = width as u64;
    if let Some(config) = config_beside(&checkpoint, path) {
        if regular_file_or_error(&config)? {
            let value: Value = read_config_json(&config)
                .map_err(|e| e.into_backend_error(&of("its config.json".to_owned())))?;
            let said = Fields::new(&value, "config.json")
                .and_then(|f| f.opt_u64(kind.config_field()))
                .map_err(|e| BackendError::invalid(&config, of(e.to_string())))?;
            if let Some(said) = said.filter(|&said| said != width) {
                return Err(BackendError::invalid(
                    &config,
                    of(format!(
                        "{} is {said} but {} in {} is {width} wide",
                        kind.config_field(),
                        tensor,
                        file.display()
                    )),
                ));
            }
        }
    }
    Ok(EncoderWidth {
        id: id.to_owned(),
        kind,
        width,
        file,
        tensor,
    })
}

/// The `config.json` of a folder or of an index's folder; a bare file has none.
fn config_beside(checkpoint: &Checkpoint, path: &Path) -> Option<PathBuf> {
    match checkpoint.source() {
        CheckpointSource::Index(index) => Some(index.dir().join("config.json")),
        _ if path.is_dir() => Some(path.join("config.json")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dtype, TensorData, write_safetensors};

    /// A folder holding `model.safetensors` with `name` of `shape` (F32 zeros), and `config`.
    fn folder(name: &str, shape: &[usize], config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![0u8; shape.iter().product::<usize>() * 4];
        let tensor = TensorData::new(name, Dtype::F32, shape, &data);
        write_safetensors(&dir.path().join("model.safetensors"), [tensor], None).unwrap();
        if let Some(config) = config {
            std::fs::write(dir.path().join("config.json"), config).unwrap();
        }
        dir
    }

    #[test]
    fn the_width_is_the_embeddings_and_the_config_must_agree() {
        let dir = folder("shared.weight", &[8, 4], Some(r#"{"d_model": 4}"#));
        let w = encoder_width("t5", dir.path(), EncoderKind::T5).unwrap();
        assert_eq!((w.width, w.tensor), (4, "shared.weight"));
        assert_eq!(w.file, dir.path().join("model.safetensors"));

        let dir = folder("encoder.embed_tokens.weight", &[8, 6], None);
        assert_eq!(
            encoder_width("t5", dir.path(), EncoderKind::T5)
                .unwrap()
                .width,
            6
        );

        let dir = folder("shared.weight", &[8, 4], Some(r#"{"d_model": 5}"#));
        let text = encoder_width("t5", dir.path(), EncoderKind::T5)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("\"t5\"") && text.contains("d_model is 5"),
            "{text}"
        );
    }

    #[test]
    fn another_model_or_a_bad_shape_is_refused_naming_the_entry() {
        let dir = folder("shared.weight", &[8, 4], None);
        let text = encoder_width("clip", dir.path(), EncoderKind::Clip)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("\"clip\"") && text.contains("token_embedding"),
            "{text}"
        );

        let dir = folder("shared.weight", &[32], None);
        let err = encoder_width("t5", dir.path(), EncoderKind::T5).unwrap_err();
        assert!(
            matches!(&err, BackendError::Invalid { tensor: Some(t), .. } if t == "shared.weight"),
            "{err}"
        );

        let dir = folder("shared.weight", &[8, 4], Some("[1]"));
        let text = encoder_width("t5", dir.path(), EncoderKind::T5)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("\"t5\"") && text.contains("config.json"),
            "{text}"
        );
    }

    #[test]
    fn fits_names_both_models_and_both_widths() {
        let dir = folder("shared.weight", &[8, 4], None);
        let w = encoder_width("t5", dir.path(), EncoderKind::T5).unwrap();
        let input = TextInput {
            model: "flux",
            role: "text_encoder_2",
            file: Path::new("transformer.safetensors"),
            tensor: "txt_in.weight",
            width: 4,
        };
        assert!(w.fits(&input).is_ok());
        let text = w
            .fits(&TextInput { width: 8, ..input })
            .unwrap_err()
            .to_string();
        for needle in ["\"flux\"", "\"t5\"", "8 wide", "4 wide", "txt_in.weight"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}
