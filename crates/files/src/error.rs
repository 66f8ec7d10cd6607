//! What can be wrong with a file before a byte of it is parsed.

use std::fmt;
use std::fs::FileType;
use std::path::{Path, PathBuf};

/// What a path is, as `stat` reports it (symbolic links followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file: the only kind this crate opens.
    File,
    /// A folder.
    Dir,
    /// A named pipe: opening it for reading blocks until a writer appears.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block device (`/dev/sda`).
    BlockDevice,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// Anything else the platform has.
    Other,
}

impl FileKind {
    /// The kind of `file_type`.
    pub fn of(file_type: &FileType) -> Self {
        if file_type.is_file() {
            return Self::File;
        }
        if file_type.is_dir() {
            return Self::Dir;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Self::Fifo;
            }
            if file_type.is_socket() {
                return Self::Socket;
            }
            if file_type.is_block_device() {
                return Self::BlockDevice;
            }
            if file_type.is_char_device() {
                return Self::CharDevice;
            }
        }
        Self::Other
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => "a regular file",
            Self::Dir => "a folder",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::BlockDevice => "a block device",
            Self::CharDevice => "a character device",
            Self::Other => "a special file",
        })
    }
}

/// Why a file was not opened or read. Every variant names the path as the caller gave it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused (`NotFound` when the path does not exist).
    #[error("{}: {source}", modelcache_backend::shown(path))]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a regular file.
    #[error("{}: is {kind}, not a regular file", modelcache_backend::shown(path))]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// The file is longer than the limit for what it is meant to hold.
    #[error(
        "{}: {len} bytes, over the limit of {limit} bytes",
        modelcache_backend::shown(path)
    )]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its length (at least this much, if it grew while being read).
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A symbolic link inside a checkpoint folder leads out of it (see
    /// [`open_within`](crate::open_within) for the rule).
    #[error(
        "{}: a symbolic link to {}, outside {}",
        modelcache_backend::shown(path),
        modelcache_backend::shown(target),
        modelcache_backend::shown(folder)
    )]
    LinkOutside {
        /// The path (the link, or a path through a linked folder).
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
        /// The folder it had to stay in.
        folder: PathBuf,
    },
}

impl FileError {
    /// The path the error is about, as the caller gave it.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::LinkOutside { path, .. } => path,
        }
    }

    /// Whether the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
