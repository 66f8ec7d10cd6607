//! One checkpoint: a single file, a sharded set behind an index, or a folder of files.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use crate::discover::{self, DirListing};
use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::header::{MAX_HEADER_LEN, MAX_TENSORS};
use crate::index::{INDEX_SUFFIX, ShardIndex};
use crate::inventory::{FileInventory, TensorInfo};

/// How a [`Checkpoint`] was found on disk.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CheckpointSource {
    /// One `.safetensors` file.
    File(PathBuf),
    /// Shards named by an index file.
    Index(ShardIndex),
    /// Every `.safetensors` file of a folder with no index (e.g. mflux `0.safetensors`,
    /// `1.safetensors`, ... from before mflux 0.13).
    Folder(PathBuf),
}

/// The inventory of one checkpoint (one model component): its files and a name-sorted table of
/// the tensors selected for loading (all of them until [`retain`](Self::retain) is called).
///
/// Opening reads and validates every file header, and nothing else. The byte counts are exact:
/// they come from the headers, not from file sizes. What the headers may hold is bounded for
/// the checkpoint as a whole, all its files together: [`MAX_TENSORS`](crate::MAX_TENSORS)
/// tensors and [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN) header bytes; opening stops at the
/// first file that goes over ([`TooManyTensors`](WeightsError::TooManyTensors),
/// [`HeadersTooLarge`](WeightsError::HeadersTooLarge)).
///
/// Files found through a folder or an index (shards, listed files) follow the link rule of
/// [`modelcache_files::resolve_within`]: a link must stay inside that folder (or inside the
/// Hugging Face cache repository it belongs to).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    source: CheckpointSource,
    files: Vec<FileInventory>,
    /// `(file index, tensor index)`, sorted by tensor name, no duplicates.
    entries: Vec<(usize, usize)>,
}

impl Checkpoint {
    /// Opens whatever `path` is: a folder ([`open_dir`](Self::open_dir)), an index file
    /// ([`open_index`](Self::open_index)) or a single file ([`open_file`](Self::open_file)).
    ///
    /// # Errors
    /// As the function it dispatches to.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            Self::open_dir(path)
        } else if file_name(path).ends_with(INDEX_SUFFIX) {
            Self::open_index(path)
        } else {
            Self::open_file(path)
        }
    }

    /// Opens a single `.safetensors` file.
    ///
    /// # Errors
    /// Any header error of [`FileInventory::read`].
    pub fn open_file(path: &Path) -> Result<Self> {
        let file = FileInventory::read(path)?;
        Self::from_files(CheckpointSource::File(path.to_path_buf()), vec![file])
    }

    /// [`open_file`](Self::open_file) for a file found inside checkpoint folder `folder` (a
    /// fixed name such as `ae.safetensors`, or a file listed there): the link rule of
    /// [`modelcache_files::resolve_within`] applies, at open and again at load.
    ///
    /// # Errors
    /// As [`open_file`](Self::open_file), and [`LinkOutside`](WeightsError::LinkOutside).
    pub fn open_file_in(folder: &Path, path: &Path) -> Result<Self> {
        let file = FileInventory::read_in(folder, path)?;
        Self::from_files(CheckpointSource::File(path.to_path_buf()), vec![file])
    }

    /// Opens a sharded checkpoint through its index. Every shard must exist, every mapped tensor
    /// must be in its shard, and no tensor may be in two shards. **The index decides what the
    /// checkpoint holds**: a tensor that a shard holds but the index does not map to that shard
    /// is skipped (not selected, not counted, not loaded), as loaders that follow the index
    /// ignore it.
    ///
    /// # Errors
    /// [`MissingShard`](WeightsError::MissingShard) (checked before any header is read),
    /// [`NotRegularFile`](WeightsError::NotRegularFile) for a shard that is a FIFO, socket,
    /// device or folder, [`LinkOutside`](WeightsError::LinkOutside),
    /// [`MissingTensor`](WeightsError::MissingTensor),
    /// [`DuplicateTensor`](WeightsError::DuplicateTensor), the checkpoint limits, and any
    /// index or header error.
    pub fn open_index(index_path: &Path) -> Result<Self> {
        Self::open_index_from(index_path, None)
    }

    fn open_index_from(index_path: &Path, within: Option<&Path>) -> Result<Self> {
        let index = ShardIndex::read_from(index_path, within)?;
        let dir = index.dir().to_path_buf();
        let shards = index.shards();
        for shard in &shards {
            let path = dir.join(shard);
            match modelcache_files::kind(&path)? {
                Some(modelcache_files::FileKind::File) => {}
                None => {
                    return Err(WeightsError::MissingShard {
                        index: index_path.to_path_buf(),
                        shard: (*shard).to_owned(),
                    });
                }
                Some(kind) => return Err(WeightsError::NotRegularFile { path, kind }),
            }
        }
        let mut tally = Tally::default();
        let files = shards
            .iter()
            .map(|shard| tally.add(FileInventory::read_in(&dir, &dir.join(shard))?))
            .collect::<Result<Vec<_>>>()?;
        for (tensor, shard) in index.weight_map() {
            // Every mapped shard is in `shards`, which is sorted.
            let found = shards
                .binary_search(&shard.as_str())
                .ok()
                .and_then(|i| files[i].tensor(tensor));
            if found.is_none() {
                return Err(WeightsError::MissingTensor {
                    index: index_path.to_path_buf(),
                    shard: shard.clone(),
                    tensor: tensor.clone(),
                });
            }
        }
        let mapped = |f: usize, t: &TensorInfo| {
            index
                .weight_map()
                .get(t.name())
                .is_some_and(|shard| shard == shards[f])
        };
        let entries = select(&files, mapped)?;
        Ok(Self {
            source: CheckpointSource::Index(index),
            files,
            entries,
        })
    }

    /// Opens the checkpoint in one folder (a diffusers component folder, an mflux folder, ...),
    /// without descending into sub-folders:
    ///
    /// 1. an index file if there is one (with several, the standard
    ///    `diffusion_pytorch_model.safetensors.index.json` or `model.safetensors.index.json`;
    ///    otherwise the choice is [`Ambiguous`](WeightsError::Ambiguous));
    /// 2. else the standard single file `diffusion_pytorch_model.safetensors` or
    ///    `model.safetensors` if present (variants such as `*.fp16.safetensors` are ignored);
    /// 3. else every `.safetensors` file (numbered mflux shards in numeric order). A tensor in
    ///    two files is a [`DuplicateTensor`](WeightsError::DuplicateTensor) error.
    ///
    /// # Errors
    /// [`NoWeights`](WeightsError::NoWeights) if the folder holds neither, [`Io`](WeightsError::Io)
    /// if it cannot be listed, and the errors of the chosen opener.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let DirListing {
            indexes,
            safetensors,
            ..
        } = discover::list_dir(dir)?;
        if !indexes.is_empty() {
            let index = pick_standard(&indexes, |n| {
                n == "diffusion_pytorch_model.safetensors.index.json"
                    || n == "model.safetensors.index.json"
            });
            return match index {
                Some(index) => Self::open_index_from(index, Some(dir)),
                None => Err(WeightsError::Ambiguous {
                    dir: dir.to_path_buf(),
                    candidates: indexes,
                }),
            };
        }
        if let Some(single) = pick_standard(&safetensors, |n| {
            n == "diffusion_pytorch_model.safetensors" || n == "model.safetensors"
        }) {
            let file = FileInventory::read_in(dir, single)?;
            return Self::from_files(CheckpointSource::File(single.clone()), vec![file]);
        }
        if safetensors.is_empty() {
            return Err(WeightsError::NoWeights {
                dir: dir.to_path_buf(),
            });
        }
        let mut tally = Tally::default();
        let files = safetensors
            .iter()
            .map(|p| tally.add(FileInventory::read_in(dir, p)?))
            .collect::<Result<Vec<_>>>()?;
        Self::from_files(CheckpointSource::Folder(dir.to_path_buf()), files)
    }

    fn from_files(source: CheckpointSource, files: Vec<FileInventory>) -> Result<Self> {
        let entries = select(&files, |_, _| true)?;
        Ok(Self {
            source,
            files,
            entries,
        })
    }

    /// How the checkpoint was found.
    pub fn source(&self) -> &CheckpointSource {
        &self.source
    }

    /// Where the checkpoint is, the path an error about it as a whole names (a tensor it
    /// lacks): its single file, its index, or its folder.
    pub fn location(&self) -> &Path {
        match &self.source {
            CheckpointSource::File(path) | CheckpointSource::Folder(path) => path,
            CheckpointSource::Index(index) => index.path(),
        }
    }

    /// The index, for a sharded checkpoint.
    pub fn index(&self) -> Option<&ShardIndex> {
        match &self.source {
            CheckpointSource::Index(index) => Some(index),
            _ => None,
        }
    }

    /// Every file of the checkpoint, selected tensors or not.
    pub fn files(&self) -> &[FileInventory] {
        &self.files
    }

    /// The number of selected tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no tensor is selected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The selected tensors with their files, sorted by name.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = (&FileInventory, &TensorInfo)> + '_ {
        self.entries
            .iter()
            .map(|&(f, t)| (&self.files[f], &self.files[f].tensors()[t]))
    }

    /// The names of the selected tensors, sorted.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.tensors().map(|(_, t)| t.name())
    }

    /// The selected tensor called `name`, with its file.
    pub fn get(&self, name: &str) -> Option<(&FileInventory, &TensorInfo)> {
        let i = self
            .entries
            .binary_search_by(|&(f, t)| self.files[f].tensors()[t].name().cmp(name))
            .ok()?;
        let (f, t) = self.entries[i];
        Some((&self.files[f], &self.files[f].tensors()[t]))
    }

    /// The selected tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.get(name).map(|(_, t)| t)
    }

    /// Keeps only the tensors for which `keep` is true (e.g. one prefix of an LTX single file).
    /// Byte counts and loads then cover the selection only.
    pub fn retain(&mut self, mut keep: impl FnMut(&TensorInfo) -> bool) {
        let files = &self.files;
        self.entries.retain(|&(f, t)| keep(&files[f].tensors()[t]));
    }

    /// [`retain`](Self::retain), by value.
    #[must_use]
    pub fn filtered(mut self, keep: impl FnMut(&TensorInfo) -> bool) -> Self {
        self.retain(keep);
        self
    }

    /// Bytes of all the checkpoint's files on disk (headers included, selection ignored).
    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(FileInventory::file_len).sum()
    }

    /// Bytes of the selected tensors as stored.
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors().map(|(_, t)| t.byte_len()).sum()
    }

    /// Bytes the selected tensors take once loaded with `target` conversion (exactly what
    /// [`LoadedTensors::resident_bytes`](crate::LoadedTensors::resident_bytes) measures after
    /// a load with the same [`LoadOptions::dtype`](crate::LoadOptions::dtype)).
    pub fn loaded_bytes(&self, target: Option<Dtype>) -> u64 {
        self.tensors().map(|(_, t)| t.loaded_bytes(target)).sum()
    }

    /// The selected `(file index, tensor index)` pairs grouped by file.
    pub(crate) fn selection_by_file(&self) -> Vec<(usize, Vec<usize>)> {
        let mut by_file: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut sorted = self.entries.clone();
        sorted.sort_unstable();
        for (f, t) in sorted {
            match by_file.last_mut() {
                Some((last, ts)) if *last == f => ts.push(t),
                _ => by_file.push((f, vec![t])),
            }
        }
        by_file
    }
}

/// The `(file index, tensor index)` pairs that `keep` selects, sorted by tensor name, or the
/// first selected name that two files hold.
fn select(
    files: &[FileInventory],
    keep: impl Fn(usize, &TensorInfo) -> bool,
) -> Result<Vec<(usize, usize)>> {
    let mut entries: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.tensors().len()).map(move |t| (f, t)))
        .filter(|&(f, t)| keep(f, &files[f].tensors()[t]))
        .collect();
    let name = |&(f, t): &(usize, usize)| files[f].tensors()[t].name();
    entries.sort_by(|a, b| name(a).cmp(name(b)).then(a.0.cmp(&b.0)));
    if let Some(w) = entries.windows(2).find(|w| name(&w[0]) == name(&w[1])) {
        return Err(WeightsError::DuplicateTensor {
            tensor: name(&w[0]).to_owned(),
            first: files[w[0].0].path().to_path_buf(),
            second: files[w[1].0].path().to_path_buf(),
        });
    }
    Ok(entries)
}

/// What a checkpoint's headers hold so far, against the checkpoint limits.
#[derive(Default)]
struct Tally {
    tensors: usize,
    header_bytes: u64,
}

impl Tally {
    /// Counts `file`, or says which limit it takes the checkpoint over.
    fn add(&mut self, file: FileInventory) -> Result<FileInventory> {
        self.tensors = self.tensors.saturating_add(file.tensors().len());
        self.header_bytes = self.header_bytes.saturating_add(file.header_len());
        if self.tensors > MAX_TENSORS {
            return Err(WeightsError::TooManyTensors {
                path: file.path().to_path_buf(),
                limit: MAX_TENSORS,
            });
        }
        if self.header_bytes > MAX_HEADER_LEN {
            return Err(WeightsError::HeadersTooLarge {
                path: file.path().to_path_buf(),
                total: self.header_bytes,
                limit: MAX_HEADER_LEN,
            });
        }
        Ok(file)
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The only candidate, or the one whose name is standard.
fn pick_standard(candidates: &[PathBuf], standard: impl Fn(&str) -> bool) -> Option<&PathBuf> {
    match candidates {
        [only] => Some(only),
        _ => candidates.iter().find(|p| standard(file_name(p))),
    }
}

/// Orders file names with numbered shards (`2.safetensors` before `10.safetensors`) first.
pub(crate) fn shard_order(a: &Path, b: &Path) -> Ordering {
    let key = |p: &Path| {
        let name = file_name(p).to_owned();
        let number = name
            .strip_suffix(".safetensors")
            .and_then(|s| s.parse::<u64>().ok());
        (number.is_none(), number, name)
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_shards_sort_numerically() {
        let mut v: Vec<PathBuf> = [
            "10.safetensors",
            "b.safetensors",
            "2.safetensors",
            "a.safetensors",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        v.sort_by(|a, b| shard_order(a, b));
        let names: Vec<_> = v.iter().map(|p| file_name(p)).collect();
        assert_eq!(
            names,
            [
                "2.safetensors",
                "10.safetensors",
                "a.safetensors",
                "b.safetensors"
            ]
        );
    }

    /// Headers under the limit one by one but over it together: the checkpoint's tally says
    /// which file took it over (parsed from memory: two 50 MB headers of padding, no disk).
    #[test]
    fn the_header_bytes_of_a_checkpoint_are_limited_together() {
        let half = usize::try_from(MAX_HEADER_LEN / 2 + 8).unwrap();
        let parse = |name: &str| {
            let mut bytes = (half as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(b"{}");
            bytes.resize(8 + half, b' ');
            let len = bytes.len() as u64;
            FileInventory::parse(Path::new(name), bytes.as_slice(), len).unwrap()
        };
        let mut tally = Tally::default();
        tally.add(parse("/m/0.safetensors")).unwrap();
        let err = tally.add(parse("/m/1.safetensors")).unwrap_err();
        assert!(
            matches!(&err, WeightsError::HeadersTooLarge { path, limit, .. }
                if path == Path::new("/m/1.safetensors") && *limit == MAX_HEADER_LEN),
            "{err}"
        );
    }

    #[test]
    fn pick_prefers_the_standard_name() {
        let v = vec![
            PathBuf::from("x.fp16.safetensors"),
            PathBuf::from("model.safetensors"),
        ];
        assert_eq!(pick_standard(&v, |n| n == "model.safetensors"), Some(&v[1]));
        let v = vec![
            PathBuf::from("a.safetensors"),
            PathBuf::from("b.safetensors"),
        ];
        assert_eq!(pick_standard(&v, |n| n == "model.safetensors"), None);
    }
}
