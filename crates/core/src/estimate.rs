//! A size estimate for checkpoints no backend understands.

use std::collections::HashSet;
use std::path::Path;

/// Sums the sizes of the `.safetensors` files under `dir`, following symbolic links but
/// visiting each real folder once (a link loop cannot recurse forever), to at most 32 levels.
///
/// This is a fallback for unknown layouts: a backend's
/// [`memory_hint`](crate::Backend::memory_hint) is exact where this is only an upper bound
/// (it counts every component and every duplicate layout in the folder).
pub fn estimate_model_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    visit(dir, 0, &mut seen, &mut total);
    total
}

const MAX_DEPTH: usize = 32;

fn visit(dir: &Path, depth: usize, seen: &mut HashSet<std::path::PathBuf>, total: &mut u64) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(real) = std::fs::canonicalize(dir) else {
        return;
    };
    if !seen.insert(real) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // `metadata` follows links, so a link to a file counts as that file.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            visit(&path, depth + 1, seen, total);
        } else if path.extension().is_some_and(|e| e == "safetensors") {
            *total = total.saturating_add(meta.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_safetensors_and_survives_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.safetensors"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("notes.txt"), [0u8; 1000]).unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("b.safetensors"), [0u8; 50]).unwrap();
        #[cfg(unix)]
        {
            // sub/loop -> .. : the baseline recursed into this forever.
            std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
            std::os::unix::fs::symlink(&sub, dir.path().join("again")).unwrap();
        }
        assert_eq!(estimate_model_size(dir.path()), 150);
    }

    #[test]
    fn missing_folder_is_zero() {
        assert_eq!(estimate_model_size(Path::new("/nonexistent/modelcache")), 0);
    }
}
