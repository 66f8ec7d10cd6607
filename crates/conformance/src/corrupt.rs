//! Ways to damage a safetensors file.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One way to damage a checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Cut the last byte of tensor data.
    TruncatedData,
    /// Claim a header longer than the file.
    HeaderPastEnd,
    /// Replace the header's first byte so it is not a JSON object.
    HeaderNotJson,
    /// Remove the file.
    Deleted,
}

impl Corruption {
    /// Every corruption.
    pub const ALL: [Corruption; 4] = [
        Corruption::TruncatedData,
        Corruption::HeaderPastEnd,
        Corruption::HeaderNotJson,
        Corruption::Deleted,
    ];

    /// Damages `file`.
    ///
    /// # Errors
    /// When the file cannot be read or written.
    pub fn apply(self, file: &Path) -> io::Result<()> {
        match self {
            Corruption::Deleted => std::fs::remove_file(file),
            Corruption::TruncatedData => {
                let f = OpenOptions::new().write(true).open(file)?;
                let len = f.metadata()?.len();
                f.set_len(len.saturating_sub(1))
            }
            Corruption::HeaderPastEnd => {
                let mut f = OpenOptions::new().read(true).write(true).open(file)?;
                let len = f.metadata()?.len();
                f.write_all(&(len * 2).to_le_bytes())
            }
            Corruption::HeaderNotJson => {
                let mut f = OpenOptions::new().read(true).write(true).open(file)?;
                let mut n = [0u8; 8];
                f.read_exact(&mut n)?;
                f.seek(SeekFrom::Start(8))?;
                f.write_all(b"#")
            }
        }
    }
}
