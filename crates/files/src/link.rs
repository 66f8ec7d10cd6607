//! The symbolic-link rule for files found inside a checkpoint folder.

use std::path::{Path, PathBuf};

use crate::error::FileError;
use crate::open::{Opened, open_as, read_opened};

/// The prefix of a model repository's folder in a Hugging Face cache
/// (`~/.cache/huggingface/hub/models--ORG--NAME/{blobs,snapshots/REV}`).
const HF_REPO_PREFIX: &str = "models--";

/// Checks the link rule for `path`, a file found inside `folder`, and returns the real path to
/// open.
///
/// **The rule.** A file found inside a checkpoint folder (named by an index, listed in the
/// folder, or a fixed name such as `config.json`) may be a symbolic link, or be reached through
/// linked folders, but it must resolve to a place inside `folder`, or, when `folder` lies in a
/// Hugging Face cache repository (an ancestor folder named `models--ORG--NAME`), inside that
/// repository folder, where the cache keeps the `blobs/` its snapshot links point to. Anything
/// else is [`FileError::LinkOutside`]: a downloaded folder cannot make modelcache read
/// `~/.ssh/id_rsa` or another model's files. The folder itself (the model path a user
/// configures) may be a link to anywhere: it is resolved first.
///
/// # Errors
/// [`FileError::Io`] when `path` or `folder` cannot be resolved (`NotFound` when `path` does
/// not exist), and [`FileError::LinkOutside`].
pub fn resolve_within(folder: &Path, path: &Path) -> Result<PathBuf, FileError> {
    let base = std::fs::canonicalize(folder).map_err(|e| FileError::io(folder, e))?;
    let target = std::fs::canonicalize(path).map_err(|e| FileError::io(path, e))?;
    if target.starts_with(&base) || hf_repo(&base).is_some_and(|repo| target.starts_with(repo)) {
        return Ok(target);
    }
    Err(FileError::LinkOutside {
        path: path.to_path_buf(),
        target,
        folder: folder.to_path_buf(),
    })
}

/// [`open`](crate::open) for a file found inside `folder`: the link rule of
/// [`resolve_within`] first, then the regular-file checks on what the link resolves to (the
/// checked path is the one opened). Errors name `path`.
///
/// # Errors
/// As [`resolve_within`] and [`open`](crate::open).
pub fn open_within(folder: &Path, path: &Path) -> Result<Opened, FileError> {
    let real = resolve_within(folder, path)?;
    open_as(&real, path)
}

/// [`read`](crate::read) for a file found inside `folder` ([`open_within`]'s checks).
///
/// # Errors
/// As [`open_within`], and [`FileError::TooLarge`].
pub fn read_within(folder: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_opened(open_within(folder, path)?, path, limit)
}

/// The Hugging Face cache repository folder holding `dir`, if any.
fn hf_repo(dir: &Path) -> Option<&Path> {
    dir.ancestors().find(|a| {
        a.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() > HF_REPO_PREFIX.len() && n.starts_with(HF_REPO_PREFIX))
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_inside_the_folder_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/real"), b"x").unwrap();
        symlink("sub/real", dir.path().join("link")).unwrap();
        let real = resolve_within(dir.path(), &dir.path().join("link")).unwrap();
        assert_eq!(
            real,
            std::fs::canonicalize(dir.path().join("sub/real")).unwrap()
        );
        assert_eq!(
            read_within(dir.path(), &dir.path().join("link"), 1).unwrap(),
            b"x"
        );
    }

    #[test]
    fn links_out_of_the_folder_are_refused_before_opening() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"key").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("model.safetensors");
        symlink(outside.path().join("secret"), &link).unwrap();
        let err = open_within(dir.path(), &link).unwrap_err();
        assert!(matches!(err, FileError::LinkOutside { .. }), "{err}");
        assert_eq!(err.path(), link);
        // A linked folder is the same as a linked file.
        symlink(outside.path(), dir.path().join("voices")).unwrap();
        let through = dir.path().join("voices/secret");
        assert!(matches!(
            resolve_within(dir.path(), &through),
            Err(FileError::LinkOutside { .. })
        ));
    }

    #[test]
    fn the_folder_itself_may_be_a_link() {
        let real = tempfile::tempdir().unwrap();
        std::fs::write(real.path().join("config.json"), b"{}").unwrap();
        let links = tempfile::tempdir().unwrap();
        let folder = links.path().join("model");
        symlink(real.path(), &folder).unwrap();
        assert!(resolve_within(&folder, &folder.join("config.json")).is_ok());
    }

    #[test]
    fn hugging_face_snapshots_may_link_into_their_blobs() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--name");
        let snapshot = repo.join("snapshots/abc123/transformer");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("blobs/sha"), b"w").unwrap();
        let link = snapshot.join("diffusion_pytorch_model.safetensors");
        symlink("../../../blobs/sha", &link).unwrap();
        assert!(open_within(&snapshot, &link).is_ok());
        // But not into another repository of the same cache.
        let other = cache.path().join("models--org--other/blobs");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("sha"), b"w").unwrap();
        let stray = snapshot.join("config.json");
        symlink(other.join("sha"), &stray).unwrap();
        assert!(matches!(
            open_within(&snapshot, &stray),
            Err(FileError::LinkOutside { .. })
        ));
    }
}
