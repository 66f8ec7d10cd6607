//! Voice packs: `voices/<name>.safetensors`, each one tensor `voice [rows, 1, 2 × style_dim]`.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use modelcache_weights::Checkpoint;

use crate::check::check_float;
use crate::config::KokoroConfig;
use crate::errors::{missing_or_io, regular_file};
use crate::options::Voices;

/// The folder of voice packs, inside the model folder.
pub const VOICES_DIR: &str = "voices";
/// The one tensor of a voice pack.
pub const VOICE_TENSOR: &str = "voice";
const EXTENSION: &str = ".safetensors";

/// The voices `selection` asks for, `(name, file)` sorted by name for [`Voices::All`] and in
/// the order given otherwise.
pub(crate) fn select(
    model_dir: &Path,
    selection: &Voices,
    id: &str,
) -> Result<Vec<(String, PathBuf)>, BackendError> {
    let dir = model_dir.join(VOICES_DIR);
    match selection {
        Voices::All => {
            let all = list(&dir).map_err(|e| {
                missing_or_io(&dir, e, format!("the voice packs of Kokoro model {id:?}"))
            })?;
            if all.is_empty() {
                return Err(BackendError::Missing {
                    path: dir,
                    what: format!("voice packs (*{EXTENSION}) of Kokoro model {id:?}: none found"),
                });
            }
            Ok(all)
        }
        Voices::Only(names) => names
            .iter()
            .map(|name| {
                let file = dir.join(format!("{name}{EXTENSION}"));
                if regular_file(&file)? {
                    Ok((name.clone(), file))
                } else {
                    Err(unknown_voice(&dir, name, file, id))
                }
            })
            .collect(),
    }
}

fn unknown_voice(dir: &Path, name: &str, file: PathBuf, id: &str) -> BackendError {
    let available = match list(dir) {
        Ok(all) if all.is_empty() => "none".to_owned(),
        Ok(all) => all
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("none ({e})"),
    };
    BackendError::Missing {
        path: file,
        what: format!(
            "voice {name:?} of Kokoro model {id:?}; available in {}: {available}",
            dir.display()
        ),
    }
}

/// Every `*.safetensors` entry in `dir` (not hidden, not a folder), by name. A FIFO or device
/// is listed, so that opening it is refused by name rather than skipped.
fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue; // not UTF-8: no option could name it
        };
        if let Some(stem) = name.strip_suffix(EXTENSION)
            && !stem.is_empty()
            && !stem.starts_with('.')
            && !path.is_dir()
        {
            out.push((stem.to_owned(), path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// Opens the voice pack `file` of the model folder `model_dir` (headers only; its links kept
/// inside the folder) and checks it against `config`: exactly one tensor, `voice`, a float of
/// shape `[rows ≥ max_position_embeddings - 2, 1, 2 × style_dim]`.
pub(crate) fn open_voice(
    model_dir: &Path,
    file: &Path,
    config: &KokoroConfig,
) -> Result<Checkpoint, BackendError> {
    let voice =
        Checkpoint::open_file_in(model_dir, file).map_err(|e| e.into_backend_error(file))?;
    let fail = |tensor: &str, reason: String| BackendError::Invalid {
        path: file.to_path_buf(),
        tensor: Some(tensor.to_owned()),
        reason,
    };
    let Some(t) = voice.tensor(VOICE_TENSOR) else {
        return Err(fail(
            VOICE_TENSOR,
            "missing: a voice pack holds one tensor called \"voice\"".to_owned(),
        ));
    };
    if let Some(other) = voice.names().find(|&n| n != VOICE_TENSOR) {
        return Err(fail(
            other,
            "unexpected: a voice pack holds only the tensor \"voice\"".to_owned(),
        ));
    }
    let (rows, width) = (config.voice_rows(), config.style_dim.saturating_mul(2));
    let ok = matches!(t.shape(), &[r, 1, w] if r >= rows && w == width);
    if !ok {
        return Err(fail(
            VOICE_TENSOR,
            format!(
                "shape {:?}, but config.json needs [rows, 1, {width}] with rows >= {rows} \
                 (width 2 x style_dim {}; a row per phoneme count up to plbert.max_position_embeddings - 2)",
                t.shape(),
                config.style_dim
            ),
        ));
    }
    check_float(t.dtype()).map_err(|reason| fail(VOICE_TENSOR, reason))?;
    Ok(voice)
}
