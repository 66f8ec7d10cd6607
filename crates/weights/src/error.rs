//! The one error type of this crate.

use std::path::{Path, PathBuf};

/// A `Result` whose error is [`WeightsError`].
pub type Result<T, E = WeightsError> = std::result::Result<T, E>;

/// Why a checkpoint could not be discovered, inventoried or loaded.
///
/// Every variant names the file (or folder) concerned, and the tensor where there is one; the
/// `Display` text includes both.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// Reading or opening a file or folder failed.
    #[error("{}: {source}", modelcache_backend::shown(path))]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is shorter than its header says (or too short to hold a header at all).
    #[error(
        "{}: truncated: needs {expected} bytes, has {actual}",
        modelcache_backend::shown(path)
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The length the header implies (at least this many bytes).
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The file is longer than its header says: bytes follow the last tensor.
    #[error("{}: {} bytes after the last tensor (expected length {expected}, found {actual})",
        modelcache_backend::shown(path), actual.saturating_sub(*expected))]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// The length the header implies.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The header length field is over the limit of the reference reader: not a safetensors
    /// file, most likely. The message does not repeat the field's value, which for another kind
    /// of file is its first 8 bytes.
    #[error(
        "{}: not a safetensors file, or one with a header over the limit of {limit} bytes \
             (the first 8 bytes give the header length)",
        modelcache_backend::shown(path)
    )]
    HeaderTooLarge {
        /// The file.
        path: PathBuf,
        /// The header length the file claims.
        len: u64,
        /// The limit ([`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN)).
        limit: u64,
    },
    /// The header is not a UTF-8 JSON object.
    #[error(
        "{}: header is not a UTF-8 JSON object: {reason}",
        modelcache_backend::shown(path)
    )]
    HeaderNotJson {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A `__metadata__` value is not a string.
    #[error("{}: __metadata__ value for key `{}` is not a string",
        modelcache_backend::shown(path), key.escape_debug())]
    MetadataNotString {
        /// The file.
        path: PathBuf,
        /// The metadata key whose value is not a string.
        key: String,
    },
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or has the wrong JSON types.
    #[error("{}: tensor `{}`: invalid header entry: {reason}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    InvalidTensorEntry {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What the parser said.
        reason: String,
    },
    /// A tensor's dtype string is not one the safetensors format defines.
    #[error("{}: tensor `{}`: unknown dtype `{}`",
        modelcache_backend::shown(path), tensor.escape_debug(), dtype.escape_debug())]
    UnknownDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The dtype string found.
        dtype: String,
    },
    /// A tensor's element count times its element size overflows, or is not a whole number of
    /// bytes (sub-byte dtypes).
    #[error("{}: tensor `{}`: shape {shape:?} gives no whole, representable byte size",
        modelcache_backend::shown(path), tensor.escape_debug())]
    BadShape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The shape found.
        shape: Vec<u64>,
    },
    /// A tensor's `data_offsets` end before they begin.
    #[error("{}: tensor `{}`: data_offsets [{begin}, {end}] end before they begin",
        modelcache_backend::shown(path), tensor.escape_debug())]
    InvalidOffsets {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The begin offset.
        begin: u64,
        /// The end offset.
        end: u64,
    },
    /// `END - BEGIN` differs from the size the dtype and shape imply.
    #[error("{}: tensor `{}`: data_offsets span {actual} bytes but dtype and shape need {expected}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Bytes implied by dtype and shape.
        expected: u64,
        /// Bytes spanned by `data_offsets`.
        actual: u64,
    },
    /// Sorted by offset, this tensor starts after the previous one ends (or the first one does
    /// not start at 0).
    #[error("{}: tensor `{}`: gap before it (previous data ends at {expected}, it begins at {begin})",
        modelcache_backend::shown(path), tensor.escape_debug())]
    OffsetsGap {
        /// The file.
        path: PathBuf,
        /// The tensor after the gap.
        tensor: String,
        /// Where it should begin.
        expected: u64,
        /// Where it begins.
        begin: u64,
    },
    /// Sorted by offset, this tensor starts before the previous one ends.
    #[error("{}: tensor `{}`: overlaps the previous tensor (previous data ends at {expected}, it begins at {begin})",
        modelcache_backend::shown(path), tensor.escape_debug())]
    OffsetsOverlap {
        /// The file.
        path: PathBuf,
        /// The overlapping tensor.
        tensor: String,
        /// Where it should begin.
        expected: u64,
        /// Where it begins.
        begin: u64,
    },
    /// A tensor name occurs twice: twice in one header, or in two files of one checkpoint.
    #[error("tensor `{}` appears twice: in {} and in {}",
        tensor.escape_debug(), modelcache_backend::shown(first), modelcache_backend::shown(second))]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// The file where it was seen first.
        first: PathBuf,
        /// The file where it was seen again (the same file for a duplicate header key).
        second: PathBuf,
    },
    /// An index (`*.safetensors.index.json`) or `model_index.json` is malformed.
    #[error("{}: invalid index: {reason}", modelcache_backend::shown(path))]
    InvalidIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An index names a shard file that does not exist.
    #[error("{}: shard `{}` does not exist",
        modelcache_backend::shown(index), shard.escape_debug())]
    MissingShard {
        /// The index file.
        index: PathBuf,
        /// The shard file name as written in the index.
        shard: String,
    },
    /// An index maps a tensor to a shard whose header does not have it.
    #[error("{}: tensor `{}` is mapped to shard `{}`, which does not contain it",
        modelcache_backend::shown(index), tensor.escape_debug(), shard.escape_debug())]
    MissingTensor {
        /// The index file.
        index: PathBuf,
        /// The shard file name as written in the index.
        shard: String,
        /// The tensor.
        tensor: String,
    },
    /// A folder holds no safetensors checkpoint.
    #[error(
        "{}: no .safetensors file or index found",
        modelcache_backend::shown(dir)
    )]
    NoWeights {
        /// The folder.
        dir: PathBuf,
    },
    /// A folder holds several index files and none is the standard name.
    #[error(
        "{}: several index files, open one explicitly: {candidates:?}",
        modelcache_backend::shown(dir)
    )]
    Ambiguous {
        /// The folder.
        dir: PathBuf,
        /// The candidates found.
        candidates: Vec<PathBuf>,
    },
    /// A diffusers component that `model_index.json` does not list (or that has no weights).
    #[error("{}: no component `{}` with weights",
        modelcache_backend::shown(root), name.escape_debug())]
    UnknownComponent {
        /// The diffusers root.
        root: PathBuf,
        /// The component name asked for.
        name: String,
    },
    /// The file is not a regular file (a FIFO, socket, device or folder). Never opened, so
    /// never waited on.
    #[error("{}: is {kind}, not a regular file", modelcache_backend::shown(path))]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: modelcache_files::FileKind,
    },
    /// A symbolic link inside a checkpoint folder leads out of it (see
    /// [`modelcache_files::resolve_within`] for the rule).
    #[error(
        "{}: a symbolic link to {}, outside the checkpoint folder {}",
        modelcache_backend::shown(path),
        modelcache_backend::shown(target),
        modelcache_backend::shown(folder)
    )]
    LinkOutside {
        /// The link (or a path through a linked folder).
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
        /// The folder it had to stay in.
        folder: PathBuf,
    },
    /// An index, `model_index.json` or config file is over its size limit.
    #[error(
        "{}: {len} bytes, over the limit of {limit} bytes for this kind of file",
        modelcache_backend::shown(path)
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A checkpoint's headers (or an index) describe more tensors than
    /// [`MAX_TENSORS`](crate::MAX_TENSORS); parsing stopped there.
    #[error(
        "{}: more than {limit} tensors in one checkpoint (the limit modelcache reads)",
        modelcache_backend::shown(path)
    )]
    TooManyTensors {
        /// The file where the count went over.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The headers of one checkpoint's files together are over
    /// [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN) bytes.
    #[error(
        "{}: the headers of this checkpoint's files add up to {total} bytes, over the limit of {limit}",
        modelcache_backend::shown(path)
    )]
    HeadersTooLarge {
        /// The file where the total went over.
        path: PathBuf,
        /// The total so far.
        total: u64,
        /// The limit.
        limit: u64,
    },
    /// Memory for a tensor (or a header) could not be allocated: a typed error, not an abort.
    #[error("{}: {}cannot allocate {bytes} bytes", modelcache_backend::shown(path),
        tensor.as_ref().map(|t| format!("tensor `{}`: ", t.escape_debug())).unwrap_or_default())]
    OutOfMemory {
        /// The file.
        path: PathBuf,
        /// The tensor, when the buffer was for one (else the header).
        tensor: Option<String>,
        /// The bytes asked for.
        bytes: u64,
    },
    /// The file changed between inventory and load (header or length differ), or a load needs
    /// more bytes than were reserved for it (the checkpoint it sized has been replaced).
    #[error(
        "{}: changed since it was inventoried: {reason}",
        modelcache_backend::shown(path)
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The tensor's dtype cannot be held by the target (e.g. `I8` or `U64` in candle).
    #[error("{}: tensor `{}`: dtype {dtype} cannot be loaded into {target}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The stored dtype.
        dtype: crate::Dtype,
        /// The tensor library.
        target: &'static str,
    },
    /// A load-time dtype conversion to something other than `BF16`, `F16`, `F32` or `F64`.
    #[error("cannot convert floating-point tensors to {target}: choose BF16, F16, F32 or F64")]
    UnsupportedConversion {
        /// The requested target dtype.
        target: crate::Dtype,
    },
    /// The tensor library rejected a tensor.
    #[error("{}: tensor `{}`: {source}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    Candle {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The candle error (boxed: it is large).
        #[source]
        source: Box<candle_core::Error>,
    },
    /// A caller-supplied tensor does not match its declared dtype and shape (writer).
    #[error("{}: tensor `{}`: {actual} data bytes given, dtype and shape need {expected}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    WriteSizeMismatch {
        /// The file being written.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Bytes implied by dtype and shape.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// MLX rejected a tensor (feature `mlx`).
    #[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
    #[error("{}: tensor `{}`: {source}",
        modelcache_backend::shown(path), tensor.escape_debug())]
    Mlx {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The mlx-rs error.
        #[source]
        source: mlx_rs::error::Exception,
    },
}

impl WeightsError {
    /// The file or folder the error is about (the first file for a duplicate tensor), if any.
    pub fn path(&self) -> Option<&Path> {
        use WeightsError as E;
        match self {
            E::Io { path, .. }
            | E::Truncated { path, .. }
            | E::TrailingBytes { path, .. }
            | E::HeaderTooLarge { path, .. }
            | E::HeaderNotJson { path, .. }
            | E::MetadataNotString { path, .. }
            | E::InvalidTensorEntry { path, .. }
            | E::UnknownDtype { path, .. }
            | E::BadShape { path, .. }
            | E::InvalidOffsets { path, .. }
            | E::SizeMismatch { path, .. }
            | E::OffsetsGap { path, .. }
            | E::OffsetsOverlap { path, .. }
            | E::InvalidIndex { path, .. }
            | E::Changed { path, .. }
            | E::UnsupportedDtype { path, .. }
            | E::Candle { path, .. }
            | E::WriteSizeMismatch { path, .. }
            | E::NotRegularFile { path, .. }
            | E::LinkOutside { path, .. }
            | E::FileTooLarge { path, .. }
            | E::TooManyTensors { path, .. }
            | E::HeadersTooLarge { path, .. }
            | E::OutOfMemory { path, .. } => Some(path),
            #[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
            E::Mlx { path, .. } => Some(path),
            E::DuplicateTensor { first, .. } => Some(first),
            E::MissingShard { index, .. } | E::MissingTensor { index, .. } => Some(index),
            E::NoWeights { dir } | E::Ambiguous { dir, .. } => Some(dir),
            E::UnknownComponent { root, .. } => Some(root),
            E::UnsupportedConversion { .. } => None,
        }
    }

    /// The tensor the error is about, if any.
    pub fn tensor(&self) -> Option<&str> {
        use WeightsError as E;
        match self {
            E::InvalidTensorEntry { tensor, .. }
            | E::UnknownDtype { tensor, .. }
            | E::BadShape { tensor, .. }
            | E::InvalidOffsets { tensor, .. }
            | E::SizeMismatch { tensor, .. }
            | E::OffsetsGap { tensor, .. }
            | E::OffsetsOverlap { tensor, .. }
            | E::DuplicateTensor { tensor, .. }
            | E::MissingTensor { tensor, .. }
            | E::UnsupportedDtype { tensor, .. }
            | E::Candle { tensor, .. }
            | E::WriteSizeMismatch { tensor, .. } => Some(tensor),
            E::OutOfMemory { tensor, .. } => tensor.as_deref(),
            #[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
            E::Mlx { tensor, .. } => Some(tensor),
            _ => None,
        }
    }

    /// Whether the file or folder does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// Names `name` as the tensor of an [`OutOfMemory`](Self::OutOfMemory) error that names
    /// none; other errors are returned as they are.
    pub fn for_tensor(self, name: &str) -> Self {
        match self {
            Self::OutOfMemory {
                path,
                tensor: None,
                bytes,
            } => Self::OutOfMemory {
                path,
                tensor: Some(name.to_owned()),
                bytes,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<modelcache_files::FileError> for WeightsError {
    fn from(e: modelcache_files::FileError) -> Self {
        use modelcache_files::FileError as F;
        match e {
            F::Io { path, source } => Self::Io { path, source },
            F::NotRegular { path, kind } => Self::NotRegularFile { path, kind },
            F::TooLarge { path, len, limit } => Self::FileTooLarge { path, len, limit },
            F::LinkOutside {
                path,
                target,
                folder,
            } => Self::LinkOutside {
                path,
                target,
                folder,
            },
            // `FileError` is non-exhaustive: name the file and keep the message.
            other => Self::Io {
                path: other.path().to_path_buf(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: Send + Sync + 'static + std::error::Error>() {}
        check::<WeightsError>();
    }

    #[test]
    fn display_names_file_and_tensor() {
        let e = WeightsError::SizeMismatch {
            path: PathBuf::from("/m/a.safetensors"),
            tensor: "w".into(),
            expected: 8,
            actual: 4,
        };
        let s = e.to_string();
        assert!(s.contains("/m/a.safetensors") && s.contains("`w`"), "{s}");
        assert_eq!(e.path(), Some(Path::new("/m/a.safetensors")));
        assert_eq!(e.tensor(), Some("w"));
    }
}
