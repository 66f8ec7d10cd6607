//! The header-only inventory of one safetensors file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dtype::Dtype;
use crate::error::Result;
use crate::header;

/// One tensor as its header describes it. Validated: the byte size matches dtype and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    numel: u64,
    data_offsets: [u64; 2],
}

impl TensorInfo {
    pub(crate) fn new(
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        numel: u64,
        data_offsets: [u64; 2],
    ) -> Self {
        Self {
            name,
            dtype,
            shape,
            numel,
            data_offsets,
        }
    }

    /// The tensor's name (header key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The shape (`[]` for a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn numel(&self) -> u64 {
        self.numel
    }

    /// `[BEGIN, END)` relative to the start of the data buffer (as in the header).
    pub fn data_offsets(&self) -> [u64; 2] {
        self.data_offsets
    }

    /// Bytes stored on disk.
    pub fn byte_len(&self) -> u64 {
        self.data_offsets[1] - self.data_offsets[0] // validated: END >= BEGIN
    }

    /// Bytes this tensor takes once loaded with `target` conversion (see
    /// [`Dtype::loaded_as`]): a `BF16` tensor loaded as `F32` counts twice its stored size;
    /// integer and packed tensors count as stored.
    pub fn loaded_bytes(&self, target: Option<Dtype>) -> u64 {
        let dtype = self.dtype.loaded_as(target);
        if dtype == self.dtype {
            return self.byte_len();
        }
        // Only BF16/F16/F32/F64 convert, all whole-byte types; saturate rather than overflow on
        // an absurd (but validated) element count.
        self.numel.saturating_mul(dtype.bits() / 8)
    }
}

/// Everything a safetensors header says about one file, read without touching tensor data.
#[derive(Debug, Clone)]
pub struct FileInventory {
    path: PathBuf,
    /// The folder the file was found in, whose link rule a load's reopen applies again.
    within: Option<PathBuf>,
    file_len: u64,
    /// Which file it was (device, inode, modification time) when inventoried, where known.
    identity: Option<Identity>,
    header_len: u64,
    metadata: BTreeMap<String, String>,
    tensors: Vec<TensorInfo>,
    /// Indexes into `tensors`, sorted by name.
    by_name: Vec<u32>,
}

impl FileInventory {
    /// Reads and validates the header of `path` (at most `8 + N` bytes, never the data).
    /// `path` must be a regular file (links followed); a FIFO or device is refused without
    /// being opened.
    ///
    /// # Errors
    /// [`WeightsError::Io`] if the file cannot be opened or read,
    /// [`NotRegularFile`](WeightsError::NotRegularFile), and every header error:
    /// [`Truncated`](WeightsError::Truncated), [`TrailingBytes`](WeightsError::TrailingBytes),
    /// [`HeaderTooLarge`](WeightsError::HeaderTooLarge),
    /// [`TooManyTensors`](WeightsError::TooManyTensors),
    /// [`HeaderNotJson`](WeightsError::HeaderNotJson), [`SizeMismatch`](WeightsError::SizeMismatch),
    /// [`OffsetsGap`](WeightsError::OffsetsGap), and so on.
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_opened(path, None)
    }

    /// Like [`read`](Self::read), for a file found inside checkpoint folder `folder` (named
    /// by an index, or listed in the folder): links must stay inside it, see
    /// [`modelcache_files::resolve_within`]. A later load checks the link again.
    ///
    /// # Errors
    /// As [`read`](Self::read), and [`LinkOutside`](WeightsError::LinkOutside).
    pub fn read_in(folder: &Path, path: &Path) -> Result<Self> {
        Self::read_opened(path, Some(folder))
    }

    fn read_opened(path: &Path, within: Option<&Path>) -> Result<Self> {
        let opened = open_for_reading(path, within)?;
        let file_len = opened.len();
        let mut inv = Self::parse(path, opened.file(), file_len)?;
        inv.within = within.map(Path::to_path_buf);
        inv.identity = Identity::of(opened.file());
        Ok(inv)
    }

    /// Like [`read`](Self::read), from any reader positioned at the start of a file of
    /// `file_len` bytes; `path` only names the file in errors. Reads exactly the header.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn parse(path: &Path, mut reader: impl Read, file_len: u64) -> Result<Self> {
        let h = header::read(path, &mut reader, file_len)?;
        Ok(Self::from_header(path.to_path_buf(), file_len, h))
    }

    fn from_header(path: PathBuf, file_len: u64, h: header::Header) -> Self {
        Self {
            path,
            within: None,
            file_len,
            identity: None,
            header_len: h.len,
            metadata: h.metadata,
            tensors: h.tensors,
            by_name: h.by_name,
        }
    }

    /// The folder whose link rule applies to this file, if it was found in one.
    pub(crate) fn within(&self) -> Option<&Path> {
        self.within.as_deref()
    }

    /// Checks that `file`, opened again under this inventory's name, is the file that was
    /// inventoried: not another file renamed into its place, not rewritten since (its
    /// modification time). Where the identity is unknown (an inventory parsed from a reader, a
    /// platform without inodes), nothing is compared.
    pub(crate) fn same_file(&self, file: &std::fs::File) -> std::result::Result<(), String> {
        let (Some(then), Some(now)) = (self.identity, Identity::of(file)) else {
            return Ok(());
        };
        if (then.dev, then.ino) != (now.dev, now.ino) {
            return Err("another file was put in its place since it was opened".into());
        }
        if then.modified != now.modified {
            return Err("it was modified since it was opened".into());
        }
        Ok(())
    }

    /// Checks that `other` (a fresh read of the same file) describes the same file.
    pub(crate) fn same_as(&self, other: &FileInventory) -> std::result::Result<(), String> {
        if self.header_len != other.header_len {
            return Err(format!(
                "header length was {}, is {}",
                self.header_len, other.header_len
            ));
        }
        if self.metadata != other.metadata {
            return Err("__metadata__ differs".into());
        }
        if self.tensors != other.tensors {
            return Err("tensor table differs".into());
        }
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length when it was inventoried.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// `N`, the JSON header's length (padding included).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// Where the data buffer starts in the file (`8 + N`).
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }

    /// The `__metadata__` map (empty if absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The tensors, in data-offset order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let at = self
            .by_name
            .binary_search_by(|&i| self.tensors[i as usize].name().cmp(name))
            .ok()?;
        Some(&self.tensors[self.by_name[at] as usize])
    }

    /// Bytes of tensor data (the file length minus the header).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(TensorInfo::byte_len).sum()
    }

    /// Bytes all tensors take once loaded with `target` conversion.
    pub fn loaded_bytes(&self, target: Option<Dtype>) -> u64 {
        self.tensors.iter().map(|t| t.loaded_bytes(target)).sum()
    }
}

/// Which file an open file is: device and inode (Unix), and its modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    modified: Option<std::time::SystemTime>,
}

impl Identity {
    #[cfg(unix)]
    fn of(file: &std::fs::File) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            modified: m.modified().ok(),
        })
    }

    #[cfg(not(unix))]
    fn of(_file: &std::fs::File) -> Option<Self> {
        None
    }
}

/// Opens a checkpoint file: a regular file, never blocking, and inside `within` (the link
/// rule) when it was found in a folder.
pub(crate) fn open_for_reading(
    path: &Path,
    within: Option<&Path>,
) -> Result<modelcache_files::Opened> {
    Ok(match within {
        Some(folder) => modelcache_files::open_within(folder, path)?,
        None => modelcache_files::open(path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_bytes_per_dtype() {
        let t = |dtype, numel| {
            TensorInfo::new(
                "t".into(),
                dtype,
                vec![numel as usize],
                numel,
                [0, dtype.bytes_for(numel).unwrap_or(0)],
            )
        };
        assert_eq!(t(Dtype::BF16, 10).loaded_bytes(Some(Dtype::F32)), 40);
        assert_eq!(t(Dtype::F32, 10).loaded_bytes(Some(Dtype::BF16)), 20);
        assert_eq!(t(Dtype::U32, 10).loaded_bytes(Some(Dtype::F32)), 40);
        assert_eq!(t(Dtype::U32, 10).loaded_bytes(Some(Dtype::F64)), 40);
        assert_eq!(t(Dtype::F4, 10).loaded_bytes(Some(Dtype::F32)), 5);
        assert_eq!(t(Dtype::F16, 10).loaded_bytes(None), 20);
    }

    #[test]
    fn parse_reads_only_the_header() {
        let json = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json);
        // The data region is a reader that fails: the inventory must not touch it.
        struct Fails;
        impl Read for Fails {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("data region read"))
            }
        }
        let len = bytes.len() as u64 + 8;
        let inv = FileInventory::parse(Path::new("x"), bytes.as_slice().chain(Fails), len).unwrap();
        assert_eq!(inv.tensor_bytes(), 8);
        assert_eq!(inv.data_start(), 8 + json.len() as u64);
        assert_eq!(inv.tensor("a").map(TensorInfo::shape), Some(&[2usize][..]));
    }
}
