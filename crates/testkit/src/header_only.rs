//! Real-size checkpoints without their data: the header written, the data left as a hole.
//!
//! A size check on real dimensions (34 GB of FLUX.1, 19 GB of T5-XXL) needs files whose headers
//! and lengths are the real ones; their data is never read, so the file is extended to its full
//! length without writing it (a sparse file on every filesystem that has them).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::TensorSpec;
use crate::safetensors_writer::{Metadata, encode_header};

/// Writes the safetensors header of `tensors` at `path` (folders created) and sets the file's
/// length to the full file's without writing the data. Returns the bytes the header takes
/// (its 8-byte length included): what reading the header reads.
///
/// # Errors
///
/// Any I/O error, and the header errors of [`encode_header`](crate::encode_header).
pub fn write_header_only(
    path: &Path,
    tensors: &[TensorSpec],
    metadata: Option<&Metadata>,
) -> io::Result<u64> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let header = encode_header(tensors, metadata)?;
    let mut f = File::create(path)?;
    f.write_all(&(header.json.len() as u64).to_le_bytes())?;
    f.write_all(&header.json)?;
    f.set_len(header.file_len())?;
    Ok(8 + header.json.len() as u64)
}
