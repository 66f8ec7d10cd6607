//! The promises of the safetensors layer: what a parsed header guarantees, what its errors say,
//! and that a file that parses loads to exactly the bytes its inventory counts.

use std::path::Path;

use modelcache_weights::{Checkpoint, Dtype, FileInventory, LoadOptions, WeightsError};

/// Checks what [`FileInventory::parse`] guarantees of a file of `file_len` bytes: the tensors
/// tile the data buffer in offset order, each one's size matches its dtype and shape, the
/// buffer ends at the end of the file, and every tensor is found by name.
///
/// # Errors
/// The first broken guarantee, in words.
pub fn check_inventory(inv: &FileInventory, file_len: u64) -> Result<(), String> {
    let mut end = 0;
    for t in inv.tensors() {
        let [begin, stop] = t.data_offsets();
        if begin != end || stop < begin {
            return Err(format!(
                "tensor {:?} at [{begin}, {stop}) after {end}",
                t.name()
            ));
        }
        if t.dtype().bytes_for(t.numel()) != Some(t.byte_len()) {
            return Err(format!("tensor {:?}: {} bytes", t.name(), t.byte_len()));
        }
        let numel = t
            .shape()
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        if numel != Some(t.numel()) {
            return Err(format!(
                "tensor {:?}: numel {} vs shape",
                t.name(),
                t.numel()
            ));
        }
        if inv.tensor(t.name()) != Some(t) {
            return Err(format!("tensor {:?} not found by name", t.name()));
        }
        end = stop;
    }
    if inv.data_start() + end != file_len || inv.data_start() + inv.tensor_bytes() != file_len {
        return Err(format!(
            "data ends at {} + {end}, the file at {file_len}",
            inv.data_start()
        ));
    }
    Ok(())
}

/// Checks that a weights error names `path`, in [`WeightsError::path`] and its message.
///
/// # Errors
/// What is missing.
pub fn names_file(error: &WeightsError, path: &Path) -> Result<(), String> {
    let message = error.to_string();
    if error
        .path()
        .is_none_or(|p| !p.starts_with(path) && !path.starts_with(p))
    {
        return Err(format!(
            "error is about {:?}, not {}: {message}",
            error.path(),
            path.display()
        ));
    }
    if !message.contains(&*path.to_string_lossy()) {
        return Err(format!("message names no file: {message}"));
    }
    Ok(())
}

/// Opens `path` as a one-file checkpoint and loads it as stored and converted to F32: each
/// load either fails with an error naming the file, or holds exactly the bytes the inventory
/// counts for it.
///
/// # Errors
/// The broken promise, in words.
pub fn check_load(path: &Path) -> Result<(), String> {
    let checkpoint = match Checkpoint::open_file(path) {
        Ok(c) => c,
        Err(e) => return names_file(&e, path),
    };
    for target in [None, Some(Dtype::F32)] {
        let options = match target {
            Some(d) => LoadOptions::default().with_dtype(d),
            None => LoadOptions::default(),
        };
        match checkpoint.load(&options) {
            Ok(loaded) => {
                let (held, counted) = (loaded.resident_bytes(), checkpoint.loaded_bytes(target));
                if held != counted || loaded.len() != checkpoint.len() {
                    return Err(format!(
                        "{}: loaded as {target:?}: {} tensors holding {held} bytes, inventory \
                         counts {} tensors and {counted} bytes",
                        path.display(),
                        loaded.len(),
                        checkpoint.len()
                    ));
                }
            }
            Err(e) => names_file(&e, path)?,
        }
    }
    Ok(())
}
