//! # modelcache-files
//!
//! The one place where modelcache opens a file for reading. Checkpoints, their indexes and
//! configs, and models.toml files come from strangers, so every open here:
//!
//! - **opens regular files only**, and **never blocks**: a FIFO, socket, device or folder is
//!   refused with [`FileError::NotRegular`], which says what it is (not "does not exist"). The
//!   path is checked with `stat` before it is opened, the open is non-blocking (`O_NONBLOCK`,
//!   `O_NOCTTY` on Unix) so that a path swapped for a FIFO in between cannot hang it, and the
//!   opened file is checked again with `fstat`;
//! - **bounds what it reads**: [`read`] takes a limit and checks the file's length before it
//!   allocates, so a 50 GB "config.json" costs nothing;
//! - **applies one symbolic-link rule** to files found inside a checkpoint folder
//!   ([`open_within`], [`resolve_within`]): links are followed (Hugging Face's cache is made of
//!   them) but must stay inside the folder, or inside the Hugging Face cache repository it
//!   belongs to.
//!
//! ```
//! use modelcache_files::{FileError, FileKind};
//!
//! let dir = tempfile::tempdir()?;
//! let config = dir.path().join("config.json");
//! std::fs::write(&config, br#"{"dim": 8}"#)?;
//! assert_eq!(modelcache_files::read(&config, 1 << 20)?, br#"{"dim": 8}"#);
//!
//! // A folder where a file was expected is named for what it is.
//! match modelcache_files::open(dir.path()) {
//!     Err(FileError::NotRegular { kind: FileKind::Dir, .. }) => {}
//!     other => panic!("{other:?}"),
//! }
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod link;
mod open;

pub use error::{FileError, FileKind};
pub use link::{open_within, read_within, resolve_within};
pub use open::{Opened, kind, open, read};
