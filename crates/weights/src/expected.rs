//! [`ExpectedTensors`]: the tensors a model family's config requires, with their shapes, and
//! the check of a [`Checkpoint`]'s headers against them.
//!
//! A plugin's key tables fill the table in module order; [`ExpectedTensors::check`] reports
//! the first tensor that is missing or has another shape, as a [`TensorError`] naming the file
//! and the tensor. Extra tensors are the plugin's business. Each tensor carries a note (what
//! fixes its shape: the config and its values), which ends its error's reason.
//!
//! The table is bounded: with [`ExpectedTensors::with_cap`] it stops growing at the cap, so an
//! untrusted config's block count (`n_layer = 2^40`) costs no more than the cap. A checkpoint
//! of `n` tensors needs a cap of `n + 1`: a longer table has one of its first `n + 1` distinct
//! names missing, so the first problem is among them.

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;

use crate::checkpoint::Checkpoint;
use crate::inventory::{FileInventory, TensorInfo};

/// What is expected of one tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// Exactly this shape.
    Shape(Vec<u64>),
    /// Axis `axis` of this size (the other axes are not pinned down).
    Axis {
        axis: usize,
        size: u64,
        what: String,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    want: Want,
    optional: bool,
    note: usize,
}

/// The tensors a config requires, in the order they were added, each with its shape.
#[derive(Debug, Clone)]
pub struct ExpectedTensors {
    prefix: String,
    entries: Vec<Entry>,
    /// `notes[entry.note]`; `notes[0]` is empty.
    notes: Vec<String>,
    cap: usize,
    channels_last_convs: bool,
}

impl Default for ExpectedTensors {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            entries: Vec::new(),
            notes: vec![String::new()],
            cap: usize::MAX,
            channels_last_convs: false,
        }
    }
}

impl ExpectedTensors {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepends `prefix` to every name added afterwards (`model.diffusion_model.`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keeps at most `cap` tensors; later ones are dropped (see the module docs).
    #[must_use]
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap;
        self
    }

    /// Conv weights in MLX's channels-last layout `[O, kH, kW, I]`, not `[O, I, kH, kW]`.
    #[must_use]
    pub fn with_channels_last_convs(mut self, yes: bool) -> Self {
        self.channels_last_convs = yes;
        self
    }

    /// Sets the note of the tensors added from now on: what fixes their shapes.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Sets the note of the tensors added before any [`note`](Self::note): for a table whose
    /// one note is known only once it is built.
    pub fn default_note(&mut self, note: impl Into<String>) {
        self.notes[0] = note.into();
    }

    /// Whether the cap is reached: loops over config counts can stop here.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.cap
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push(&mut self, name: &str, want: Want, optional: bool) {
        if self.is_full() {
            return;
        }
        self.entries.push(Entry {
            name: format!("{}{name}", self.prefix),
            want,
            optional,
            note: self.notes.len() - 1,
        });
    }

    /// Requires tensor `name` with exactly `shape`.
    pub fn tensor(&mut self, name: impl AsRef<str>, shape: impl Into<Vec<u64>>) {
        self.push(name.as_ref(), Want::Shape(shape.into()), false);
    }

    /// Checks tensor `name`'s shape if the checkpoint has it.
    pub fn optional(&mut self, name: impl AsRef<str>, shape: impl Into<Vec<u64>>) {
        self.push(name.as_ref(), Want::Shape(shape.into()), true);
    }

    /// Requires tensor `name` whose axis `axis` is `size`; `what` says what that size is.
    pub fn axis(&mut self, name: impl AsRef<str>, axis: usize, size: u64, what: &str) {
        let what = what.to_owned();
        self.push(name.as_ref(), Want::Axis { axis, size, what }, false);
    }

    /// `Linear(i, o)`: `weight [o, i]` and, with `bias`, `bias [o]`.
    pub fn linear(&mut self, name: impl AsRef<str>, i: u64, o: u64, bias: bool) {
        let name = name.as_ref();
        self.tensor(format!("{name}.weight"), [o, i]);
        if bias {
            self.tensor(format!("{name}.bias"), [o]);
        }
    }

    /// An affine norm over `c` channels: `weight [c]`, `bias [c]`.
    pub fn norm(&mut self, name: &str, c: u64) {
        self.tensor(format!("{name}.weight"), [c]);
        self.tensor(format!("{name}.bias"), [c]);
    }

    /// A square-kernel `Conv2d(i, o, k)` with bias, in the table's conv layout.
    pub fn conv2d(&mut self, name: &str, i: u64, o: u64, k: u64) {
        let weight = if self.channels_last_convs {
            [o, k, k, i]
        } else {
            [o, i, k, k]
        };
        self.tensor(format!("{name}.weight"), weight);
        self.tensor(format!("{name}.bias"), [o]);
    }

    /// The tensors, in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Expected<'_>> + '_ {
        self.entries.iter().map(|e| Expected {
            entry: e,
            note: &self.notes[e.note],
        })
    }

    /// Checks every tensor against `checkpoint`'s headers, in order.
    ///
    /// # Errors
    /// The first missing tensor (named at [`Checkpoint::location`]) or wrong shape (named at
    /// its file).
    pub fn check(&self, checkpoint: &Checkpoint) -> Result<(), TensorError> {
        for expected in self.iter() {
            if let Some((file, info)) = expected.find(checkpoint)? {
                expected.check_shape(file, info)?;
            }
        }
        Ok(())
    }

    /// [`check`](Self::check), and `more` on every tensor whose shape is right (a dtype rule).
    ///
    /// # Errors
    /// The first error of either, in table order.
    pub fn check_with(
        &self,
        checkpoint: &Checkpoint,
        mut more: impl FnMut(&Expected<'_>, &FileInventory, &TensorInfo) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        for expected in self.iter() {
            if let Some((file, info)) = expected.find(checkpoint)? {
                expected.check_shape(file, info)?;
                more(&expected, file, info)?;
            }
        }
        Ok(())
    }
}

/// One tensor of an [`ExpectedTensors`] table.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    entry: &'a Entry,
    note: &'a str,
}

impl<'a> Expected<'a> {
    /// The stored name (prefix included).
    pub fn name(&self) -> &'a str {
        &self.entry.name
    }

    /// The exact shape required, if the whole shape is.
    pub fn shape(&self) -> Option<&'a [u64]> {
        match &self.entry.want {
            Want::Shape(shape) => Some(shape),
            Want::Axis { .. } => None,
        }
    }

    /// What fixes the shape (`""` when nothing was noted).
    pub fn note(&self) -> &'a str {
        self.note
    }

    /// The tensor in `checkpoint`, `None` for an absent optional one.
    ///
    /// # Errors
    /// [`TensorError::Missing`] for an absent required one.
    #[allow(clippy::type_complexity)]
    pub fn find<'c>(
        &self,
        checkpoint: &'c Checkpoint,
    ) -> Result<Option<(&'c FileInventory, &'c TensorInfo)>, TensorError> {
        match checkpoint.get(self.name()) {
            Some(found) => Ok(Some(found)),
            None if self.entry.optional => Ok(None),
            None => Err(TensorError::Missing {
                path: checkpoint.location().to_path_buf(),
                tensor: self.name().to_owned(),
                expected: self.shape().map(<[u64]>::to_vec),
                note: self.note.to_owned(),
            }),
        }
    }

    /// Checks `info` (a tensor of `file`) against this entry's shape.
    ///
    /// # Errors
    /// [`TensorError::Shape`] or [`TensorError::Axis`].
    pub fn check_shape(&self, file: &FileInventory, info: &TensorInfo) -> Result<(), TensorError> {
        let found: Vec<u64> = info.shape().iter().map(|&d| d as u64).collect();
        match &self.entry.want {
            Want::Shape(shape) if *shape == found => Ok(()),
            Want::Shape(shape) => Err(TensorError::Shape {
                path: file.path().to_path_buf(),
                tensor: self.name().to_owned(),
                found,
                expected: shape.clone(),
                note: self.note.to_owned(),
            }),
            Want::Axis { axis, size, .. } if found.get(*axis) == Some(size) => Ok(()),
            Want::Axis { axis, size, what } => Err(TensorError::Axis {
                path: file.path().to_path_buf(),
                tensor: self.name().to_owned(),
                found,
                axis: *axis,
                size: *size,
                what: what.clone(),
                note: self.note.to_owned(),
            }),
        }
    }

    /// [`BackendError::Invalid`] about this tensor in `file` (a plugin's own rule).
    pub fn invalid(&self, file: &Path, reason: impl Into<String>) -> BackendError {
        BackendError::Invalid {
            path: file.to_path_buf(),
            tensor: Some(self.name().to_owned()),
            reason: reason.into(),
        }
    }
}

/// The first tensor of a checkpoint that disagrees with an [`ExpectedTensors`] table. Every
/// variant names the file and the tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// A required tensor is absent.
    #[error("{} (tensor {tensor:?}): {}", modelcache_backend::shown(path), self.reason())]
    Missing {
        /// Where the checkpoint is ([`Checkpoint::location`]).
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The shape it needs, if the whole shape is known.
        expected: Option<Vec<u64>>,
        /// What fixes the shape.
        note: String,
    },
    /// A tensor has another shape.
    #[error("{} (tensor {tensor:?}): {}", modelcache_backend::shown(path), self.reason())]
    Shape {
        /// The file holding it.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its shape.
        found: Vec<u64>,
        /// The shape required.
        expected: Vec<u64>,
        /// What fixes the shape.
        note: String,
    },
    /// A tensor's axis has another size.
    #[error("{} (tensor {tensor:?}): {}", modelcache_backend::shown(path), self.reason())]
    Axis {
        /// The file holding it.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its shape.
        found: Vec<u64>,
        /// The axis.
        axis: usize,
        /// The size required.
        size: u64,
        /// What that size is, in words.
        what: String,
        /// What fixes the shape.
        note: String,
    },
    /// The numbered blocks are not the ones the config counts (see [`Blocks`](crate::Blocks)).
    #[error("{} (tensor {tensor:?}): {}", modelcache_backend::shown(path), self.reason())]
    Blocks {
        /// The checkpoint location (a missing block) or the file holding `tensor` (an extra
        /// one).
        path: PathBuf,
        /// The first tensor of the missing block, or of the first block beyond the count.
        tensor: String,
        /// The stored names' prefix up to the index.
        prefix: String,
        /// The config field that counts the blocks.
        field: String,
        /// Its value.
        configured: u64,
        /// The blocks the checkpoint holds (highest index + 1).
        held: u64,
        /// The block `tensor` belongs to.
        block: u64,
        /// Where the config came from.
        note: String,
    },
    /// A block index no real checkpoint has: at or above its tensor count.
    #[error("{} (tensor {tensor:?}): {}", modelcache_backend::shown(path), self.reason())]
    Implausible {
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its block index.
        index: u64,
        /// The checkpoint's tensor count.
        tensors: u64,
    },
}

impl TensorError {
    /// The file (or, for a missing tensor, the checkpoint location) the error names.
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing { path, .. }
            | Self::Shape { path, .. }
            | Self::Axis { path, .. }
            | Self::Blocks { path, .. }
            | Self::Implausible { path, .. } => path,
        }
    }

    /// The tensor.
    pub fn tensor(&self) -> &str {
        match self {
            Self::Missing { tensor, .. }
            | Self::Shape { tensor, .. }
            | Self::Axis { tensor, .. }
            | Self::Blocks { tensor, .. }
            | Self::Implausible { tensor, .. } => tensor,
        }
    }

    /// What is wrong, without the file and the tensor.
    pub fn reason(&self) -> String {
        let (text, note) = match self {
            Self::Missing { expected, note, .. } => match expected {
                Some(shape) => (format!("missing: expected shape {shape:?}"), note),
                None => ("missing".to_owned(), note),
            },
            Self::Shape {
                found,
                expected,
                note,
                ..
            } => (format!("shape {found:?}, expected {expected:?}"), note),
            Self::Axis {
                found,
                axis,
                size,
                what,
                note,
                ..
            } => (
                format!("shape {found:?}: dimension {axis} should be {what} = {size}"),
                note,
            ),
            Self::Blocks {
                prefix,
                field,
                configured,
                held,
                block,
                note,
                ..
            } => {
                let blocks = if *held == 1 { "block" } else { "blocks" };
                let holds = format!("the checkpoint holds {held} {blocks} `{prefix}N`");
                let text = if block < configured {
                    format!("missing: the config's {field} is {configured}, but {holds}")
                } else {
                    format!("block {block} is beyond the config's {field} = {configured}: {holds}")
                };
                (text, note)
            }
            Self::Implausible { index, tensors, .. } => {
                return format!(
                    "block index {index} is implausible: the checkpoint holds only {tensors} tensors"
                );
            }
        };
        if note.is_empty() {
            text
        } else {
            format!("{text} ({note})")
        }
    }
}

impl From<TensorError> for BackendError {
    fn from(e: TensorError) -> Self {
        BackendError::Invalid {
            reason: e.reason(),
            path: e.path().to_path_buf(),
            tensor: Some(e.tensor().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Dtype, TensorData, write_safetensors};

    fn checkpoint() -> (tempfile::TempDir, PathBuf, Checkpoint) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let data = [0u8; 24];
        write_safetensors(
            &path,
            [
                TensorData::new("p.fc.weight", Dtype::F32, &[2, 3], &data),
                TensorData::new("p.fc.bias", Dtype::F32, &[2], &data[..8]),
            ],
            None,
        )
        .unwrap();
        let ck = Checkpoint::open_file(&path).unwrap();
        (dir, path, ck)
    }

    #[test]
    fn a_matching_table_passes() {
        let (_dir, _, ck) = checkpoint();
        let mut t = ExpectedTensors::new().with_prefix("p.");
        t.note("cfg: width 3");
        t.linear("fc", 3, 2, true);
        t.optional("absent", [1]);
        t.axis("fc.weight", 1, 3, "width");
        assert_eq!(t.len(), 4);
        t.check(&ck).unwrap();
    }

    #[test]
    fn a_missing_tensor_names_the_file_and_the_tensor() {
        let (_dir, path, ck) = checkpoint();
        let mut t = ExpectedTensors::new();
        t.note("cfg: n_layer 2");
        t.tensor("p.fc.weight", [2, 3]);
        t.tensor("p.norm.weight", [2]);
        let err = t.check(&ck).unwrap_err();
        assert_eq!(
            (err.path(), err.tensor()),
            (path.as_path(), "p.norm.weight")
        );
        assert_eq!(err.reason(), "missing: expected shape [2] (cfg: n_layer 2)");
        let text = err.to_string();
        assert!(
            text.contains("model.safetensors") && text.contains("p.norm.weight"),
            "{text}"
        );
        match BackendError::from(err) {
            BackendError::Invalid {
                path: p, tensor, ..
            } => {
                assert_eq!((p, tensor.as_deref()), (path, Some("p.norm.weight")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_shape_names_the_file_and_both_shapes() {
        let (_dir, path, ck) = checkpoint();
        let mut t = ExpectedTensors::new();
        t.tensor("p.fc.weight", [2, 4]);
        let err = t.check(&ck).unwrap_err();
        assert_eq!((err.path(), err.tensor()), (path.as_path(), "p.fc.weight"));
        assert_eq!(err.reason(), "shape [2, 3], expected [2, 4]");
        let mut t = ExpectedTensors::new();
        t.axis("p.fc.weight", 0, 5, "out_channels");
        let err = t.check(&ck).unwrap_err();
        assert_eq!(
            err.reason(),
            "shape [2, 3]: dimension 0 should be out_channels = 5"
        );
    }

    #[test]
    fn the_cap_bounds_the_table_and_check_with_adds_rules() {
        let (_dir, _, ck) = checkpoint();
        let mut t = ExpectedTensors::new()
            .with_cap(1)
            .with_channels_last_convs(true);
        t.linear("p.fc", 3, 2, true);
        t.default_note("later");
        assert!(t.is_full() && t.len() == 1);
        assert_eq!(t.iter().next().unwrap().note(), "later");
        let err = t
            .check_with(&ck, |e, file, _| {
                Err(e.invalid(file.path(), "no floats here"))
            })
            .unwrap_err();
        assert!(err.to_string().contains("no floats here"), "{err}");
        let mut t = ExpectedTensors::new().with_channels_last_convs(true);
        t.conv2d("c", 4, 8, 3);
        assert_eq!(t.iter().next().unwrap().shape(), Some(&[8, 3, 3, 4][..]));
    }
}
