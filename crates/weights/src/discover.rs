//! Finding checkpoints in folders, without reading any header.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::checkpoint::shard_order;
use crate::error::{Result, WeightsError};
use crate::index::INDEX_SUFFIX;

/// The name of a diffusers pipeline's root file.
pub const MODEL_INDEX: &str = "model_index.json";

/// How deep [`discover`] descends below its root.
const MAX_DEPTH: usize = 8;

/// A checkpoint layout found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// A single `.safetensors` file (open with [`Checkpoint::open_file`](crate::Checkpoint::open_file)).
    File(PathBuf),
    /// A `*.safetensors.index.json` and its shards
    /// ([`Checkpoint::open_index`](crate::Checkpoint::open_index)).
    Index(PathBuf),
    /// A folder of numbered shards without an index, as older mflux versions save
    /// ([`Checkpoint::open_dir`](crate::Checkpoint::open_dir)).
    NumberedShards(PathBuf),
    /// A diffusers pipeline folder holding `model_index.json`
    /// ([`DiffusersTree::open`](crate::DiffusersTree::open)); its component folders are not
    /// reported separately.
    Diffusers(PathBuf),
}

/// Lists the checkpoint layouts under `root`, in path order, reading no file contents.
///
/// Real repositories often ship several layouts of one model (FLUX.1 has the single-file
/// transformer and autoencoder at the root *and* a diffusers tree), so a plugin picks one rather
/// than summing everything. Symbolic links are followed (as in Hugging Face cache snapshots)
/// with loop detection; hidden folders (`.cache`, `.git`) are skipped; the walk stops
/// 8 levels down.
///
/// # Errors
/// [`WeightsError::Io`] if `root` cannot be read. Unreadable entries below it are skipped.
pub fn discover(root: &Path) -> Result<Vec<Layout>> {
    let mut dirs: BTreeMap<PathBuf, DirListing> = BTreeMap::new();
    let walk = WalkDir::new(root)
        .follow_links(true)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.depth() == 0 => return Err(walk_error(root, e)),
            Err(_) => continue, // a broken link or a link loop below the root
        };
        if entry.file_type().is_dir() {
            dirs.entry(entry.path().to_path_buf()).or_default();
        } else if entry.file_type().is_file() {
            if let Some(parent) = entry.path().parent() {
                dirs.entry(parent.to_path_buf())
                    .or_default()
                    .add(entry.path().to_path_buf());
            }
        }
    }

    let mut found = Vec::new();
    for (dir, listing) in &dirs {
        let in_tree = dir
            .parent()
            .and_then(|p| dirs.get(p))
            .is_some_and(|parent| parent.model_index);
        if in_tree {
            continue; // a diffusers component: reported through its tree
        }
        if listing.model_index {
            found.push(Layout::Diffusers(dir.clone()));
        }
        found.extend(listing.indexes.iter().cloned().map(Layout::Index));
        if !listing.indexes.is_empty() {
            continue; // the loose files are the index's shards
        }
        if listing.all_numbered() {
            found.push(Layout::NumberedShards(dir.clone()));
        } else {
            found.extend(listing.safetensors.iter().cloned().map(Layout::File));
        }
    }
    Ok(found)
}

/// The checkpoint-related files directly in one folder.
#[derive(Debug, Default)]
pub(crate) struct DirListing {
    /// `*.safetensors.index.json`, sorted by name.
    pub indexes: Vec<PathBuf>,
    /// `*.safetensors`, numbered shards first in numeric order, then by name.
    pub safetensors: Vec<PathBuf>,
    /// Whether `model_index.json` is present.
    pub model_index: bool,
}

impl DirListing {
    fn add(&mut self, path: PathBuf) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        if name == MODEL_INDEX {
            self.model_index = true;
        } else if name.ends_with(INDEX_SUFFIX) {
            self.indexes.push(path);
        } else if name.ends_with(".safetensors") {
            let at = self
                .safetensors
                .partition_point(|p| shard_order(p, &path).is_lt());
            self.safetensors.insert(at, path);
        }
    }

    fn all_numbered(&self) -> bool {
        !self.safetensors.is_empty()
            && self.safetensors.iter().all(|p| {
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            })
    }
}

/// Lists the files directly in `dir` (following links to files).
pub(crate) fn list_dir(dir: &Path) -> Result<DirListing> {
    let mut listing = DirListing::default();
    let walk = WalkDir::new(dir)
        .follow_links(true)
        .min_depth(0)
        .max_depth(1)
        .sort_by_file_name();
    let named_as_weights = |name: &std::ffi::OsStr| {
        name.to_str()
            .is_some_and(|n| n.ends_with(".safetensors") || n.ends_with(INDEX_SUFFIX))
    };
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.depth() == 0 => return Err(walk_error(dir, e)),
            Err(e) => {
                // A dangling or looping link named as weights is listed, so that opening it
                // fails naming it, rather than the folder being read as its other files.
                if let Some(path) = e
                    .path()
                    .filter(|p| p.file_name().is_some_and(named_as_weights))
                {
                    listing.add(path.to_path_buf());
                }
                continue;
            }
        };
        // Special files are listed too, and folders named as weights (`model.safetensors/`):
        // opening one is refused by name (`NotRegularFile`), where skipping it would report a
        // FIFO or a folder where a file belongs as "no weights".
        if entry.depth() == 1
            && (!entry.file_type().is_dir() || named_as_weights(entry.file_name()))
        {
            listing.add(entry.into_path());
        }
    }
    Ok(listing)
}

fn walk_error(path: &Path, e: walkdir::Error) -> WeightsError {
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("symbolic link loop"));
    WeightsError::io(path, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_sorts_and_classifies() {
        let mut l = DirListing::default();
        for n in [
            "10.safetensors",
            "2.safetensors",
            "model_index.json",
            "x.safetensors.index.json",
            "config.json",
        ] {
            l.add(PathBuf::from(n));
        }
        assert!(l.model_index);
        assert_eq!(l.indexes, [PathBuf::from("x.safetensors.index.json")]);
        assert_eq!(
            l.safetensors,
            [
                PathBuf::from("2.safetensors"),
                PathBuf::from("10.safetensors")
            ]
        );
        assert!(l.all_numbered());
        l.add(PathBuf::from("model.safetensors"));
        assert!(!l.all_numbered());
    }

    #[test]
    fn missing_root_is_an_io_error() {
        let err = discover(Path::new("/nonexistent/modelcache-weights")).unwrap_err();
        assert!(matches!(err, WeightsError::Io { .. }), "{err}");
        let err = list_dir(Path::new("/nonexistent/modelcache-weights")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/modelcache-weights"));
    }
}
