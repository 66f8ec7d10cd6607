//! Generated checkpoints whose files a test or a fuzzer may overwrite, one at a time.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::suites::Plugin;

/// One file a [`Fixture`] may overwrite, with its pristine bytes.
#[derive(Debug)]
struct Mutable {
    path: PathBuf,
    /// Which of the fixture's trees holds it.
    tree: usize,
    original: Vec<u8>,
    /// For a safetensors file, where its header ends (`8 + N`): a replacement stands for the
    /// header and the original tensor data follows it.
    header_end: Option<usize>,
}

/// What [`Fixture::overwrite`] did: the file replaced and the tree to point a backend at.
#[derive(Debug, Clone, Copy)]
pub struct Overwritten<'a> {
    /// The file now holding the fuzzed bytes.
    pub file: &'a Path,
    /// The model folder that holds it.
    pub tree: &'a Path,
    /// Its index among [`Fixture::files`].
    pub index: usize,
}

/// Tiny generated checkpoints of one plugin, in a temporary folder, and the files among them
/// a backend reads (weights, configs and indexes; not tokenizers), each kept in memory so it
/// can be restored.
///
/// A fuzz target or property test overwrites one file ([`overwrite`](Self::overwrite)), runs
/// the backend on the tree holding it, then puts the file back ([`restore`](Self::restore)):
/// one fixture serves any number of cases without being regenerated.
#[derive(Debug)]
pub struct Fixture {
    plugin: Plugin,
    trees: Vec<PathBuf>,
    files: Vec<Mutable>,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Writes the fixtures of `plugin`'s registered suite into a new temporary folder, one
    /// folder per case (see [`Plugin`]).
    ///
    /// # Errors
    /// Any I/O error while writing or reading back the files.
    pub fn tiny(plugin: Plugin) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("modelcache-{}-", plugin.name()))
            .tempdir()?;
        let cases = plugin.write_cases(dir.path())?;
        let mut files = Vec::new();
        for (i, (folder, _)) in cases.iter().enumerate() {
            for path in read_files(folder)? {
                let original = fs::read(&path)?;
                let header_end = is_safetensors(&path).then(|| header_end(&original));
                files.push(Mutable {
                    path,
                    tree: i,
                    original,
                    header_end,
                });
            }
        }
        Ok(Self {
            plugin,
            trees: cases.into_iter().map(|(_, model)| model).collect(),
            files,
            dir,
        })
    }

    /// The plugin the fixture is for.
    pub fn plugin(&self) -> Plugin {
        self.plugin
    }

    /// The model paths, one per case of the suite (what a backend's path points at).
    pub fn trees(&self) -> &[PathBuf] {
        &self.trees
    }

    /// The folder everything is written under: every error should name a path inside it.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The files that may be overwritten, sorted per tree.
    pub fn files(&self) -> impl ExactSizeIterator<Item = &Path> + '_ {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// The index of the file `selector` selects (`selector % len`).
    pub(crate) fn index_for(&self, selector: usize) -> usize {
        selector % self.files.len().max(1)
    }

    /// The model folder holding file `index`.
    pub(crate) fn tree_of(&self, index: usize) -> &Path {
        self.files
            .get(index)
            .map_or_else(|| self.dir.path(), |f| self.trees[f.tree].as_path())
    }

    /// Replaces file `selector % len` with a FIFO. A backend that opened it for reading would
    /// wait forever.
    ///
    /// # Errors
    /// Any I/O error, or `mkfifo` failing.
    pub fn make_fifo(&self, selector: usize) -> io::Result<Overwritten<'_>> {
        let index = self.index_for(selector);
        let Some(f) = self.files.get(index) else {
            return Err(io::Error::other("the fixture has no files"));
        };
        modelcache_testkit::mkfifo(&f.path)?;
        Ok(Overwritten {
            file: &f.path,
            tree: &self.trees[f.tree],
            index,
        })
    }

    /// Replaces file `selector % len` with `bytes`: a JSON file becomes `bytes`; a
    /// safetensors file becomes `bytes` followed by its original tensor data (so `bytes`
    /// stands for the length prefix and the header, where the parsing happens).
    ///
    /// # Errors
    /// Any I/O error while writing.
    pub fn overwrite(&self, selector: usize, bytes: &[u8]) -> io::Result<Overwritten<'_>> {
        let index = self.index_for(selector);
        let Some(f) = self.files.get(index) else {
            return Err(io::Error::other("the fixture has no files"));
        };
        let mut content = bytes.to_vec();
        if let Some(end) = f.header_end {
            content.extend_from_slice(f.original.get(end..).unwrap_or_default());
        }
        fs::write(&f.path, content)?;
        Ok(Overwritten {
            file: &f.path,
            tree: &self.trees[f.tree],
            index,
        })
    }

    /// Puts file `index` (of [`Overwritten::index`]) back as it was generated.
    ///
    /// # Errors
    /// Any I/O error while writing.
    pub fn restore(&self, index: usize) -> io::Result<()> {
        let Some(f) = self.files.get(index) else {
            return Ok(());
        };
        // Removed first: writing into a FIFO would wait for a reader.
        match fs::remove_file(&f.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::write(&f.path, &f.original)
    }

    /// The index of the first file whose path ends with `suffix` (`"transformer/config.json"`).
    pub fn index_of(&self, suffix: &str) -> Option<usize> {
        self.files.iter().position(|f| f.path.ends_with(suffix))
    }

    /// A fuzz seed for file `index`: `[index, options, replacement...]`, where the replacement
    /// is the file's header (safetensors) or its whole text (JSON), so the seed reproduces the
    /// pristine fixture. See [`Case`].
    pub fn seed(&self, index: usize, options: u8) -> Option<Vec<u8>> {
        let f = self.files.get(index)?;
        let body = match f.header_end {
            Some(end) => f.original.get(..end)?,
            None => &f.original,
        };
        let mut seed = vec![u8::try_from(index).ok()?, options];
        seed.extend_from_slice(body);
        Some(seed)
    }
}

/// One fuzz or property case against a [`Fixture`]: which file to damage and how, which
/// backend options to use, and the replacement bytes. Its byte form is
/// `[file, options, bytes...]`.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// Selects the file (modulo the number of files).
    pub file: usize,
    /// Selects the backend options (bits 0-5, see [`crate::probe`]) and the [`Mode`] (bits 6-7).
    pub options: u8,
    /// The replacement.
    pub bytes: &'a [u8],
}

/// How a [`Case`] damages its file: bits 6-7 of [`Case::options`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The file holds the replacement bytes (0 and 3).
    Overwrite,
    /// The file is pristine for the hint, and holds the replacement from then on, as when a
    /// file is replaced between the cache's reservation and its load (1).
    SwapAfterHint,
    /// The file is a FIFO (2).
    Fifo,
}

impl<'a> Case<'a> {
    /// The mode bits 6-7 of `options` select.
    pub fn mode(&self) -> Mode {
        match self.options >> 6 {
            1 => Mode::SwapAfterHint,
            2 => Mode::Fifo,
            _ => Mode::Overwrite,
        }
    }

    /// Splits fuzzer input into a case; `None` when it is shorter than two bytes.
    pub fn from_bytes(data: &'a [u8]) -> Option<Self> {
        match data {
            [file, options, bytes @ ..] => Some(Self {
                file: usize::from(*file),
                options: *options,
                bytes,
            }),
            _ => None,
        }
    }
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// `8 + N` for a well-formed safetensors file, clamped to its length.
fn header_end(bytes: &[u8]) -> usize {
    let n = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .map_or(bytes.len(), |end| end.min(bytes.len()))
}

/// Whether a backend reads `path`: safetensors files, `config.json`, `model_index.json` and
/// shard indexes (`*.index.json`).
fn is_read_by_backends(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    is_safetensors(path)
        || name == "config.json"
        || name == "model_index.json"
        || name.ends_with(".index.json")
}

/// The files under `root` that backends read, sorted.
fn read_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_read_by_backends(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
