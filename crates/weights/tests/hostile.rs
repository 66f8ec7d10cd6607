//! Checkpoints written by an attacker: files that are FIFOs or links out of the folder,
//! headers that claim 100 GiB tensors or a million of them, indexes that leave tensors out.
//! Each is a typed error naming the file (or, for unlisted tensors, a documented skip), and
//! none costs more than the few bytes it holds: large files are sparse, nothing is allocated
//! from what a header claims before it is checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use modelcache_weights::{
    Allowance, Checkpoint, FileInventory, LoadOptions, MAX_TENSORS, WeightsError,
};

const GIB: u64 = 1 << 30;

/// An index in `dir` mapping `a` to a real `m-1.safetensors` and `b` to `m-2.safetensors`,
/// which the caller makes (a FIFO, a link).
fn index_with_second_shard(dir: &Path) -> std::path::PathBuf {
    write(
        &dir.join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0])],
        &[],
    );
    write_index(
        &dir.join("model.safetensors.index.json"),
        "{}",
        &[("a", "m-1.safetensors"), ("b", "m-2.safetensors")],
    )
}

/// A header read at load time that claims 100 GiB where the cache reserved 16 bytes: the load
/// refuses before allocating (it would otherwise abort the process, "memory allocation of
/// 107374182400 bytes failed").
#[test]
fn a_load_allocates_no_more_than_its_allowance() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sparse(
        &dir.path().join("model.safetensors"),
        "w",
        "U8",
        &[100 * GIB],
        100 * GIB,
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.loaded_bytes(None), 100 * GIB);
    let allowance = Allowance::new(16);
    let err = ckpt
        .load(&LoadOptions::default().within(allowance.clone()))
        .unwrap_err();
    assert!(matches!(err, WeightsError::Changed { .. }), "{err}");
    assert_names(&err, &path, None);
    assert!(err.to_string().contains("107374182400 bytes"), "{err}");
    assert_eq!(allowance.left(), 16, "a refused load draws nothing");

    // One allowance for every checkpoint of a model: what one draws, the next cannot have.
    let small = write(
        &dir.path().join("small.safetensors"),
        &[f32s("a", &[2], &[1.0, 2.0])],
        &[],
    );
    let small = Checkpoint::open(&small).unwrap();
    let options = LoadOptions::default().within(allowance.clone());
    small.load(&options).unwrap();
    assert_eq!(allowance.left(), 8);
    small.load(&options).unwrap();
    assert!(matches!(
        small.load(&options),
        Err(WeightsError::Changed { .. })
    ));
}

/// The same header swapped in after the inventory: the reopened file no longer matches it.
#[test]
fn a_file_swapped_for_a_larger_one_after_the_inventory_is_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("model.safetensors"),
        &[f32s("w", &[2], &[1.0, 2.0])],
        &[],
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    let big = write_sparse(&dir.path().join("big"), "w", "F32", &[25 * GIB], 100 * GIB);
    std::fs::rename(&big, &path).unwrap();
    let err = ckpt.load(&LoadOptions::default()).unwrap_err();
    assert!(matches!(err, WeightsError::Changed { .. }), "{err}");
    assert_names(&err, &path, None);
}

/// A shard that is a FIFO is named for what it is: never opened (which would block), and not
/// reported as missing.
#[cfg(unix)]
#[test]
fn special_files_are_refused_by_kind_not_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("m-2.safetensors");
    mkfifo(&fifo);
    let index = index_with_second_shard(dir.path());
    for err in [
        Checkpoint::open_index(&index).unwrap_err(),
        Checkpoint::open_dir(dir.path()).unwrap_err(),
        Checkpoint::open_file(&fifo).unwrap_err(),
        FileInventory::read(&fifo).unwrap_err(),
    ] {
        assert!(matches!(err, WeightsError::NotRegularFile { .. }), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert_names(&err, &fifo, None);
    }

    // A folder of numbered shards, one of them a FIFO: the same, not "no weights".
    let mflux = tempfile::tempdir().unwrap();
    write(
        &mflux.path().join("0.safetensors"),
        &[f32s("a", &[1], &[1.0])],
        &[],
    );
    mkfifo(&mflux.path().join("1.safetensors"));
    let err = Checkpoint::open_dir(mflux.path()).unwrap_err();
    assert!(matches!(err, WeightsError::NotRegularFile { .. }), "{err}");
}

/// A shard that links out of the checkpoint folder is refused before it is read; links into a
/// Hugging Face cache repository's `blobs/` (how the Hub cache is laid out) are followed.
#[cfg(unix)]
#[test]
fn shard_links_stay_inside_the_folder_or_its_hugging_face_repository() {
    use std::os::unix::fs::symlink;
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = write(
        &elsewhere.path().join("secret.safetensors"),
        &[f32s("b", &[1], &[7.0])],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    symlink(&secret, dir.path().join("m-2.safetensors")).unwrap();
    let index = index_with_second_shard(dir.path());
    for err in [
        Checkpoint::open_index(&index).unwrap_err(),
        Checkpoint::open_dir(dir.path()).unwrap_err(),
    ] {
        assert!(matches!(err, WeightsError::LinkOutside { .. }), "{err}");
        assert_names(&err, &dir.path().join("m-2.safetensors"), None);
    }

    // The Hub cache: snapshots/REV/transformer/* link to ../../../blobs/SHA.
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--org--model");
    let snapshot = repo.join("snapshots/0123abc/transformer");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    write(&repo.join("blobs/aaaa"), &[f32s("a", &[1], &[1.0])], &[]);
    write(&repo.join("blobs/bbbb"), &[f32s("b", &[1], &[2.0])], &[]);
    symlink("../../../blobs/aaaa", snapshot.join("m-1.safetensors")).unwrap();
    symlink("../../../blobs/bbbb", snapshot.join("m-2.safetensors")).unwrap();
    write_index(
        &repo.join("blobs/cccc"),
        "{}",
        &[("a", "m-1.safetensors"), ("b", "m-2.safetensors")],
    );
    symlink(
        "../../../blobs/cccc",
        snapshot.join("diffusion_pytorch_model.safetensors.index.json"),
    )
    .unwrap();
    let ckpt = Checkpoint::open_dir(&snapshot).unwrap();
    assert_eq!(ckpt.len(), 2);
    let loaded = ckpt.load(&LoadOptions::default()).unwrap();
    assert_eq!(loaded.get("b").unwrap().to_vec1::<f32>().unwrap(), [2.0]);
}

/// A file that is not a safetensors file at all: the error does not print its first 8 bytes
/// as a "header length".
#[test]
fn a_non_safetensors_file_does_not_leak_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, b"-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    let err = FileInventory::read(&path).unwrap_err();
    let WeightsError::HeaderTooLarge { len, .. } = err else {
        panic!("{err:?}");
    };
    let text = err.to_string();
    assert!(!text.contains(&len.to_string()), "{text}");
    assert!(text.contains("not a safetensors file"), "{text}");
    assert_names(&err, &path, None);
}

/// Tensors a shard holds but its index does not list are skipped: not counted, not loaded.
#[test]
fn tensors_the_index_does_not_list_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0]), f32s("hidden", &[4], &[0.0; 4])],
        &[],
    );
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[("a", "m-1.safetensors")],
    );
    let ckpt = Checkpoint::open_index(&index).unwrap();
    assert_eq!(ckpt.names().collect::<Vec<_>>(), ["a"]);
    assert_eq!(ckpt.tensor_bytes(), 4);
    let loaded = ckpt.load(&LoadOptions::default()).unwrap();
    assert!(loaded.get("hidden").is_none());
    assert_eq!(loaded.resident_bytes(), 4);
}

/// A header of more tensors than one checkpoint may hold stops parsing at the limit, with an
/// error that names the file and the limit (parsed from memory: no disk).
#[test]
fn a_header_of_too_many_tensors_is_refused_at_the_limit() {
    let json = many_tensors_header(MAX_TENSORS + 1);
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    let path = Path::new("/m/huge-header.safetensors");
    let err = FileInventory::parse(path, bytes.as_slice(), bytes.len() as u64).unwrap_err();
    assert!(
        matches!(err, WeightsError::TooManyTensors { limit, .. } if limit == MAX_TENSORS),
        "{err}"
    );
    assert_names(&err, path, None);
    // Exactly at the limit is fine.
    let json = many_tensors_header(MAX_TENSORS);
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    let inv = FileInventory::parse(path, bytes.as_slice(), bytes.len() as u64).unwrap();
    assert_eq!(inv.tensors().len(), MAX_TENSORS);
    assert!(inv.tensor("t131071").is_some());
}

/// The limit holds for a checkpoint as a whole: shards under it one by one but over it
/// together are refused at the shard that goes over (about 7 MB of headers on disk).
#[test]
fn the_tensor_limit_counts_every_shard_of_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let half = MAX_TENSORS / 2 + 1;
    let shard = |name: &str, from: usize| {
        let mut json = many_tensors_header(half);
        json = json.replace("\"t", &format!("\"{from}_t"));
        write_raw(&dir.path().join(name), &json, &[])
    };
    shard("0.safetensors", 0);
    let second = shard("1.safetensors", 1);
    let err = Checkpoint::open_dir(dir.path()).unwrap_err();
    assert!(matches!(err, WeightsError::TooManyTensors { .. }), "{err}");
    assert_names(&err, &second, None);
}
