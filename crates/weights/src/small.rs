//! The small files a plugin reads beside the weights (`config.json`), and probing for files
//! without mistaking a FIFO for nothing.

use std::path::Path;

use modelcache_files::FileKind;

use crate::error::{Result, WeightsError};

/// The largest `config.json` (or other small JSON file beside the weights) a plugin reads;
/// real ones are a few KiB.
pub const MAX_CONFIG_LEN: u64 = 1 << 20;

/// Reads `path`, a small file found in checkpoint folder `folder` (a component's
/// `config.json`): a regular file, never blocking, at most [`MAX_CONFIG_LEN`] bytes (checked
/// before reading), and under the link rule of [`modelcache_files::resolve_within`].
///
/// # Errors
/// [`Io`](WeightsError::Io) (see [`WeightsError::is_not_found`]),
/// [`NotRegularFile`](WeightsError::NotRegularFile), [`LinkOutside`](WeightsError::LinkOutside),
/// [`FileTooLarge`](WeightsError::FileTooLarge).
pub fn read_config_file(folder: &Path, path: &Path) -> Result<Vec<u8>> {
    Ok(modelcache_files::read_within(folder, path, MAX_CONFIG_LEN)?)
}

/// Whether `path` is a regular file: `false` when nothing is there, and an error when
/// something else is (a FIFO, socket, device or folder where a file belongs), so that a
/// special file is never reported as missing.
///
/// # Errors
/// [`NotRegularFile`](WeightsError::NotRegularFile), or [`Io`](WeightsError::Io) when `path`
/// cannot be looked at.
pub fn regular_file(path: &Path) -> Result<bool> {
    match modelcache_files::kind(path)? {
        None => Ok(false),
        Some(FileKind::File) => Ok(true),
        Some(kind) => Err(WeightsError::NotRegularFile {
            path: path.to_path_buf(),
            kind,
        }),
    }
}
