//! One test per corrupt input: the typed error, and a message that names the file and tensor.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::path::{Path, PathBuf};

use common::*;
use modelcache_weights::{Checkpoint, FileInventory, LoadOptions, MAX_HEADER_LEN, WeightsError};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    (dir, path)
}

fn entry(name: &str, dtype: &str, shape: &str, begin: u64, end: u64) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":[{shape}],"data_offsets":[{begin},{end}]}}"#)
}

fn inventory_err(path: &Path) -> WeightsError {
    let err = FileInventory::read(path).unwrap_err();
    // The checkpoint opener reports the same error.
    let again = Checkpoint::open_file(path).unwrap_err();
    assert_eq!(err.to_string(), again.to_string());
    err
}

#[test]
fn truncated_data() {
    let (_d, path) = fixture();
    write(&path, &[f32s("w", &[4], &[1.0, 2.0, 3.0, 4.0])], &[]);
    let full = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full - 3)
        .unwrap();
    let err = inventory_err(&path);
    assert!(
        matches!(err, WeightsError::Truncated { expected, actual, .. } if expected == full && actual == full - 3),
        "{err:?}"
    );
    assert_names(&err, &path, None);
}

#[test]
fn shorter_than_the_length_prefix() {
    let (_d, path) = fixture();
    std::fs::write(&path, [1, 2, 3]).unwrap();
    let err = inventory_err(&path);
    assert!(
        matches!(
            err,
            WeightsError::Truncated {
                expected: 8,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &path, None);
}

#[test]
fn header_longer_than_the_file() {
    let (_d, path) = fixture();
    let mut bytes = 1_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}      ");
    std::fs::write(&path, bytes).unwrap();
    let err = inventory_err(&path);
    assert!(
        matches!(
            err,
            WeightsError::Truncated {
                expected: 1008,
                actual: 16,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &path, None);
}

#[test]
fn header_too_large_is_refused_without_allocating() {
    let (_d, path) = fixture();
    // A lying length (u64::MAX, then just over the limit) in a 16-byte file.
    for claimed in [u64::MAX, MAX_HEADER_LEN + 1] {
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}      ");
        std::fs::write(&path, bytes).unwrap();
        let err = inventory_err(&path);
        assert!(
            matches!(err, WeightsError::HeaderTooLarge { len, limit, .. } if len == claimed && limit == MAX_HEADER_LEN),
            "{err:?}"
        );
        assert_names(&err, &path, None);
    }
}

#[test]
fn header_not_utf8() {
    let (_d, path) = fixture();
    let mut bytes = 8u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[b'{', 0xff, 0xfe, b'}', b' ', b' ', b' ', b' ']);
    std::fs::write(&path, bytes).unwrap();
    let err = inventory_err(&path);
    assert!(matches!(err, WeightsError::HeaderNotJson { .. }), "{err:?}");
    assert_names(&err, &path, None);
}

#[test]
fn header_not_json() {
    let (_d, path) = fixture();
    for header in ["{not json}", "[1, 2]", "\"text\"", "{\"a\": 1"] {
        write_raw(&path, header, &[]);
        let err = inventory_err(&path);
        assert!(
            matches!(err, WeightsError::HeaderNotJson { .. }),
            "{header}: {err:?}"
        );
        assert_names(&err, &path, None);
    }
}

#[test]
fn metadata_value_not_a_string() {
    let (_d, path) = fixture();
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt","total":12}},{}}}"#,
        entry("w", "U8", "1", 0, 1)
    );
    write_raw(&path, &header, &[0]);
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::MetadataNotString { key, .. } if key == "total"),
        "{err:?}"
    );
    assert_names(&err, &path, None);
    assert!(err.to_string().contains("total"));
}

#[test]
fn size_mismatch() {
    let (_d, path) = fixture();
    // Two F32 need 8 bytes; the offsets span 6.
    write_raw(
        &path,
        &format!("{{{}}}", entry("blocks.0.w", "F32", "2", 0, 6)),
        &[0; 6],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::SizeMismatch { tensor, expected: 8, actual: 6, .. } if tensor == "blocks.0.w"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("blocks.0.w"));
}

#[test]
fn unknown_dtype() {
    let (_d, path) = fixture();
    write_raw(
        &path,
        &format!("{{{}}}", entry("w", "Q4_K", "2", 0, 2)),
        &[0; 2],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::UnknownDtype { tensor, dtype, .. } if tensor == "w" && dtype == "Q4_K"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("w"));
    assert!(err.to_string().contains("Q4_K"));
}

#[test]
fn offsets_gap() {
    let (_d, path) = fixture();
    let header = format!(
        "{{{},{}}}",
        entry("a", "U8", "2", 0, 2),
        entry("b", "U8", "2", 3, 5)
    );
    write_raw(&path, &header, &[0; 5]);
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::OffsetsGap { tensor, expected: 2, begin: 3, .. } if tensor == "b"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("b"));
}

#[test]
fn first_tensor_not_at_zero_is_a_gap() {
    let (_d, path) = fixture();
    write_raw(
        &path,
        &format!("{{{}}}", entry("a", "U8", "2", 2, 4)),
        &[0; 4],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::OffsetsGap { tensor, expected: 0, begin: 2, .. } if tensor == "a"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("a"));
}

#[test]
fn offsets_overlap() {
    let (_d, path) = fixture();
    let header = format!(
        "{{{},{}}}",
        entry("a", "U8", "4", 0, 4),
        entry("b", "U8", "2", 2, 4)
    );
    write_raw(&path, &header, &[0; 4]);
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::OffsetsOverlap { tensor, expected: 4, begin: 2, .. } if tensor == "b"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("b"));
}

#[test]
fn offsets_end_before_begin() {
    let (_d, path) = fixture();
    write_raw(
        &path,
        &format!("{{{}}}", entry("a", "U8", "0", 4, 2)),
        &[0; 4],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::InvalidOffsets { tensor, begin: 4, end: 2, .. } if tensor == "a"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("a"));
}

#[test]
fn shape_overflow() {
    let (_d, path) = fixture();
    let shape = "4294967296,4294967296,16";
    write_raw(
        &path,
        &format!("{{{}}}", entry("huge", "F64", shape, 0, 8)),
        &[0; 8],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::BadShape { tensor, .. } if tensor == "huge"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("huge"));
}

#[test]
fn entry_missing_a_field() {
    let (_d, path) = fixture();
    write_raw(
        &path,
        r#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::InvalidTensorEntry { tensor, .. } if tensor == "w"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("w"));
}

#[test]
fn trailing_bytes_after_the_last_tensor() {
    let (_d, path) = fixture();
    write_raw(
        &path,
        &format!("{{{}}}", entry("a", "U8", "2", 0, 2)),
        &[0; 5],
    );
    let err = inventory_err(&path);
    assert!(matches!(err, WeightsError::TrailingBytes { .. }), "{err:?}");
    assert_names(&err, &path, None);
}

#[test]
fn duplicate_key_in_one_header() {
    let (_d, path) = fixture();
    let header = format!(
        "{{{},{}}}",
        entry("a", "U8", "2", 0, 2),
        entry("a", "U8", "2", 2, 4)
    );
    write_raw(&path, &header, &[0; 4]);
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::DuplicateTensor { tensor, .. } if tensor == "a"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("a"));
}

#[test]
fn missing_file_is_io() {
    let (_d, path) = fixture();
    let err = inventory_err(&path);
    assert!(
        matches!(&err, WeightsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert_names(&err, &path, None);
}

// Index files.

#[test]
fn index_names_a_missing_shard() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0])],
        &[],
    );
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[("a", "m-1.safetensors"), ("b", "m-2.safetensors")],
    );
    let err = Checkpoint::open_index(&index).unwrap_err();
    assert!(
        matches!(&err, WeightsError::MissingShard { shard, .. } if shard == "m-2.safetensors"),
        "{err:?}"
    );
    assert_names(&err, &index, None);
    assert!(err.to_string().contains("m-2.safetensors"));
}

#[test]
fn index_maps_a_tensor_its_shard_lacks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0])],
        &[],
    );
    write(
        &dir.path().join("m-2.safetensors"),
        &[f32s("b", &[1], &[1.0])],
        &[],
    );
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[("a", "m-1.safetensors"), ("b", "m-1.safetensors")],
    );
    let err = Checkpoint::open_index(&index).unwrap_err();
    assert!(
        matches!(&err, WeightsError::MissingTensor { shard, tensor, .. } if shard == "m-1.safetensors" && tensor == "b"),
        "{err:?}"
    );
    assert_names(&err, &index, Some("b"));
}

/// The index decides: a second copy of a tensor in a shard the index does not map it to is
/// skipped, not a duplicate (and not counted or loaded).
#[test]
fn tensor_in_two_shards_is_taken_from_the_mapped_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(
        &dir.path().join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0]), f32s("x", &[1], &[0.0])],
        &[],
    );
    write(
        &dir.path().join("m-2.safetensors"),
        &[f32s("b", &[1], &[1.0]), f32s("x", &[1], &[9.0])],
        &[],
    );
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[
            ("a", "m-1.safetensors"),
            ("b", "m-2.safetensors"),
            ("x", "m-1.safetensors"),
        ],
    );
    let ckpt = Checkpoint::open_index(&index).unwrap();
    assert_eq!(ckpt.names().collect::<Vec<_>>(), ["a", "b", "x"]);
    assert_eq!(ckpt.get("x").map(|(f, _)| f.path()), Some(first.as_path()));
    assert_eq!(ckpt.tensor_bytes(), 12);
    let loaded = ckpt.load(&LoadOptions::default()).unwrap();
    assert_eq!(loaded.get("x").unwrap().to_vec1::<f32>().unwrap(), [0.0]);
}

#[test]
fn corrupt_shard_is_reported_by_its_own_path() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("m-1.safetensors"),
        &[f32s("a", &[1], &[1.0])],
        &[],
    );
    let bad = dir.path().join("m-2.safetensors");
    write_raw(
        &bad,
        &format!("{{{}}}", entry("b", "F32", "1", 0, 3)),
        &[0; 3],
    );
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[("a", "m-1.safetensors"), ("b", "m-2.safetensors")],
    );
    let err = Checkpoint::open_index(&index).unwrap_err();
    assert!(matches!(err, WeightsError::SizeMismatch { .. }), "{err:?}");
    assert_names(&err, &bad, Some("b"));
}

#[test]
fn index_shard_outside_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let index = write_index(
        &dir.path().join("model.safetensors.index.json"),
        "{}",
        &[("a", "../elsewhere.safetensors")],
    );
    let err = Checkpoint::open_index(&index).unwrap_err();
    assert!(matches!(err, WeightsError::InvalidIndex { .. }), "{err:?}");
    assert_names(&err, &index, None);
}
