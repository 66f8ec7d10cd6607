//! Opening a regular file for reading without ever blocking, and bounded whole-file reads.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::error::{FileError, FileKind};

/// An open regular file and its length when it was opened.
#[derive(Debug)]
pub struct Opened {
    file: File,
    len: u64,
}

impl Opened {
    /// The file, positioned at its start.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file, by value.
    pub fn into_file(self) -> File {
        self.file
    }

    /// Its length in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it was empty when it was opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What `path` is (links followed), or `None` if it does not exist.
///
/// # Errors
/// [`FileError::Io`] when it cannot be looked at (a permission error on a folder above it, a
/// link loop).
pub fn kind(path: &Path) -> Result<Option<FileKind>, FileError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(FileKind::of(&meta.file_type()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// Opens `path` for reading if it is a regular file (symbolic links followed), and never
/// blocks: a FIFO, socket, device or folder is refused with [`FileError::NotRegular`] before it
/// is opened, and the open itself is non-blocking (and acquires no controlling terminal), so a
/// path swapped for a FIFO in between cannot hang it either; the opened file is checked again.
///
/// # Errors
/// [`FileError::Io`] (`NotFound` when it does not exist, see [`FileError::is_not_found`]) and
/// [`FileError::NotRegular`].
pub fn open(path: &Path) -> Result<Opened, FileError> {
    open_as(path, path)
}

/// [`open`], reading `real` but naming `shown` in errors.
pub(crate) fn open_as(real: &Path, shown: &Path) -> Result<Opened, FileError> {
    let not_regular = |kind| FileError::NotRegular {
        path: shown.to_path_buf(),
        kind,
    };
    let io = |e| FileError::io(shown, e);
    let before = std::fs::metadata(real).map_err(io)?;
    if !before.is_file() {
        return Err(not_regular(FileKind::of(&before.file_type())));
    }
    let file = non_blocking().open(real).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(FileKind::of(&meta.file_type())));
    }
    Ok(Opened {
        file,
        len: meta.len(),
    })
}

#[cfg(unix)]
fn non_blocking() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    // Regular files ignore O_NONBLOCK for reads, so it may stay set.
    options
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    options
}

#[cfg(not(unix))]
fn non_blocking() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true);
    options
}

/// Reads the whole of `path`, a regular file of at most `limit` bytes ([`open`]'s checks
/// first). The length is checked before anything is allocated, and a file that grows while it
/// is read is cut off at `limit + 1` bytes and refused.
///
/// # Errors
/// As [`open`], and [`FileError::TooLarge`].
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_opened(open(path)?, path, limit)
}

pub(crate) fn read_opened(opened: Opened, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let too_large = |len| FileError::TooLarge {
        path: path.to_path_buf(),
        len,
        limit,
    };
    if opened.len > limit {
        return Err(too_large(opened.len));
    }
    let mut bytes = Vec::new();
    // `len <= limit`: the file's own length bounds this allocation.
    let capacity = usize::try_from(opened.len).map_err(|_| too_large(opened.len))?;
    bytes.try_reserve_exact(capacity).map_err(|e| {
        FileError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, e),
        )
    })?;
    opened
        .file
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_regular_files_and_reports_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(open(&path).unwrap().len(), 5);
        assert_eq!(read(&path, 5).unwrap(), b"hello");
        assert_eq!(kind(&path).unwrap(), Some(FileKind::File));
        assert_eq!(kind(&dir.path().join("b")).unwrap(), None);
    }

    #[test]
    fn refuses_folders_and_missing_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let err = open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: FileKind::Dir,
                    ..
                }
            ),
            "{err}"
        );
        let gone = dir.path().join("gone");
        let err = open(&gone).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(err.path(), gone);
    }

    #[test]
    fn refuses_files_over_the_limit_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        // Sparse: a length far over the limit costs no disk.
        File::create(&path).unwrap().set_len(1 << 40).unwrap();
        let err = read(&path, 1 << 20).unwrap_err();
        assert!(
            matches!(err, FileError::TooLarge { len, limit, .. } if len == 1 << 40 && limit == 1 << 20),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_sockets_are_named_for_what_they_are() {
        let err = open(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.safetensors");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = read(&socket, 10).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: FileKind::Socket,
                    ..
                }
            ),
            "{err}"
        );
    }
}
