//! Loading into candle: round trips, conversion, progress, and files that change under us.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use common::*;
use half::{bf16, f16};
use modelcache_weights::candle_core::{DType, Tensor};
use modelcache_weights::{Checkpoint, Dtype, LoadOptions, WeightsError};

fn mixed(dir: &std::path::Path) -> std::path::PathBuf {
    write(
        &dir.join("model.safetensors"),
        &[
            f32s("f32", &[2, 3], &[1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]),
            bf16s("bf16", &[3], &[0.5, -1.25, 384.0]),
            f16s("f16", &[1, 2], &[0.1, 65504.0]),
            f64s("f64", &[2], &[1.0 / 3.0, -1e300]),
            u32s("packed", &[2, 2], &[0xdead_beef, 1, 2, u32::MAX]),
            i64s("ids", &[1, 3], &[-1, 0, i64::MAX]),
            t("mask", "U8", &[4], vec![0, 1, 2, 255]),
            t("flag", "BOOL", &[2], vec![1, 0]),
            t(
                "i16",
                "I16",
                &[2],
                [-5i16, 9].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            t("i32", "I32", &[1], (-7i32).to_le_bytes().to_vec()),
            f32s("scalar", &[], &[42.0]),
            f32s("empty", &[0, 4], &[]),
        ],
        &[("format", "pt")],
    )
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

#[test]
fn round_trips_names_shapes_dtypes_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    for options in [LoadOptions::default(), LoadOptions::default().sequential()] {
        let loaded = ckpt.load(&options).unwrap();
        assert_eq!(loaded.len(), ckpt.len());
        for (file, info) in ckpt.tensors() {
            let tensor = loaded.get(info.name()).unwrap();
            assert_eq!(tensor.dims(), info.shape(), "{}", info.name());
            assert_eq!(
                Some(tensor.dtype()),
                info.dtype().to_candle(),
                "{}",
                info.name()
            );
            assert_eq!(file.metadata()["format"], "pt");
        }
        let get = |n: &str| loaded.get(n).unwrap();
        assert_eq!(
            get("f32").to_vec2::<f32>().unwrap(),
            [[1.0, -2.0, 3.5], [0.0, 1e-3, 7.0]]
        );
        assert_eq!(values(get("bf16")), [0.5, -1.25, 384.0]);
        assert_eq!(
            get("f16").flatten_all().unwrap().to_vec1::<f16>().unwrap(),
            [f16::from_f32(0.1), f16::MAX]
        );
        assert_eq!(get("f64").to_vec1::<f64>().unwrap(), [1.0 / 3.0, -1e300]);
        assert_eq!(
            get("packed").to_vec2::<u32>().unwrap(),
            [[0xdead_beef, 1], [2, u32::MAX]]
        );
        assert_eq!(get("ids").to_vec2::<i64>().unwrap(), [[-1, 0, i64::MAX]]);
        assert_eq!(get("mask").to_vec1::<u8>().unwrap(), [0, 1, 2, 255]);
        assert_eq!(get("flag").to_vec1::<u8>().unwrap(), [1, 0]);
        assert_eq!(values(get("i16")), [-5.0, 9.0]);
        assert_eq!(values(get("i32")), [-7.0]);
        assert_eq!(get("scalar").to_scalar::<f32>().unwrap(), 42.0);
        assert_eq!(get("empty").dims(), [0, 4]);
        assert_eq!(loaded.resident_bytes(), ckpt.loaded_bytes(None));
        assert_eq!(loaded.resident_bytes(), ckpt.tensor_bytes());
    }
}

#[test]
fn bf16_to_f32_conversion_is_exact_and_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    let loaded = ckpt
        .load(&LoadOptions::default().with_dtype(Dtype::F32))
        .unwrap();
    let get = |n: &str| loaded.get(n).unwrap();
    assert_eq!(get("bf16").dtype(), DType::F32);
    assert_eq!(get("bf16").to_vec1::<f32>().unwrap(), [0.5, -1.25, 384.0]);
    assert_eq!(get("f16").dtype(), DType::F32);
    assert_eq!(get("f64").dtype(), DType::F32);
    assert_eq!(
        get("f64").to_vec1::<f32>().unwrap(),
        [(1.0f64 / 3.0) as f32, f32::NEG_INFINITY]
    );
    // Integers (and MLX's packed U32 weights) load as stored.
    assert_eq!(get("packed").dtype(), DType::U32);
    assert_eq!(get("ids").dtype(), DType::I64);
    let predicted = ckpt.loaded_bytes(Some(Dtype::F32));
    assert_eq!(loaded.resident_bytes(), predicted);
    // bf16 [3]: 6 -> 12 bytes, f16 [2]: 4 -> 8, f64 [2]: 16 -> 8.
    assert_eq!(predicted, ckpt.tensor_bytes() + 6 + 4 - 8);
}

#[test]
fn every_float_target_matches_candle_and_the_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    let reference = ckpt.load(&LoadOptions::default()).unwrap();
    for target in [Dtype::BF16, Dtype::F16, Dtype::F32, Dtype::F64] {
        let loaded = ckpt
            .load(&LoadOptions::default().with_dtype(target))
            .unwrap();
        assert_eq!(
            loaded.resident_bytes(),
            ckpt.loaded_bytes(Some(target)),
            "{target}"
        );
        let candle_target = target.to_candle().unwrap();
        for name in ["f32", "bf16", "f16", "f64"] {
            let ours = loaded.get(name).unwrap();
            assert_eq!(ours.dtype(), candle_target);
            let theirs = reference
                .get(name)
                .unwrap()
                .to_dtype(candle_target)
                .unwrap();
            let (a, b) = (values(ours), values(&theirs));
            // Same value or both NaN; candle and we both round to nearest.
            assert!(
                a.iter()
                    .zip(&b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan())),
                "{name} as {target}: {a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn conversion_to_a_non_float_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    let err = ckpt
        .load(&LoadOptions::default().with_dtype(Dtype::U8))
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::UnsupportedConversion { target: Dtype::U8 }
        ),
        "{err:?}"
    );
}

#[test]
fn progress_sums_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    for options in [
        LoadOptions::default(),
        LoadOptions::default().sequential(),
        LoadOptions::default().with_dtype(Dtype::F32),
    ] {
        let (sum, calls) = (AtomicU64::new(0), AtomicUsize::new(0));
        ckpt.load_with_progress(&options, &|n| {
            sum.fetch_add(n, Ordering::Relaxed);
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(sum.into_inner(), ckpt.tensor_bytes());
        assert!(calls.into_inner() >= 1);
    }
}

#[test]
fn retain_loads_and_counts_only_the_selection() {
    let dir = tempfile::tempdir().unwrap();
    let mut ckpt = Checkpoint::open(&mixed(dir.path())).unwrap();
    ckpt.retain(|t| t.name().starts_with('f'));
    let names: Vec<_> = ckpt.names().collect();
    assert_eq!(names, ["f16", "f32", "f64", "flag"]);
    let sum = AtomicU64::new(0);
    let loaded = ckpt
        .load_with_progress(&LoadOptions::default(), &|n| {
            sum.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(loaded.len(), 4);
    assert!(loaded.get("packed").is_none());
    assert_eq!(sum.into_inner(), ckpt.tensor_bytes());
    assert_eq!(ckpt.tensor_bytes(), 4 + 24 + 16 + 2);
    assert_eq!(loaded.resident_bytes(), ckpt.tensor_bytes());
}

#[test]
fn file_truncated_after_inventory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = mixed(dir.path());
    let ckpt = Checkpoint::open(&path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    for options in [LoadOptions::default(), LoadOptions::default().sequential()] {
        let err = ckpt.load(&options).unwrap_err();
        assert!(
            matches!(err, WeightsError::Truncated { expected, actual, .. } if expected == len && actual == len - 10),
            "{err:?}"
        );
        assert_names(&err, &path, None);
    }
}

#[test]
fn file_rewritten_after_inventory_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("m.safetensors"),
        &[f32s("a", &[2], &[1.0, 2.0])],
        &[],
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    // Same length, different header: the tensor was renamed.
    write(&path, &[f32s("b", &[2], &[1.0, 2.0])], &[]);
    let err = ckpt.load(&LoadOptions::default()).unwrap_err();
    assert!(matches!(err, WeightsError::Changed { .. }), "{err:?}");
    assert_names(&err, &path, None);
    // Grown: bytes after the last tensor.
    write(&path, &[f32s("a", &[2], &[1.0, 2.0])], &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&path, bytes).unwrap();
    let err = ckpt.load(&LoadOptions::default()).unwrap_err();
    assert!(matches!(err, WeightsError::TrailingBytes { .. }), "{err:?}");
    // Deleted.
    std::fs::remove_file(&path).unwrap();
    let err = ckpt.load(&LoadOptions::default()).unwrap_err();
    assert!(matches!(err, WeightsError::Io { .. }), "{err:?}");
    assert_names(&err, &path, None);
}

#[test]
fn dtype_candle_cannot_hold_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("m.safetensors"),
        &[t("q", "I8", &[2], vec![1, 2]), f32s("a", &[1], &[1.0])],
        &[],
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    assert_eq!(ckpt.tensor_bytes(), 6); // the inventory handles every format dtype
    let reads = AtomicU64::new(0);
    let err = ckpt
        .load_with_progress(&LoadOptions::default(), &|n| {
            reads.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::UnsupportedDtype { tensor, dtype: Dtype::I8, .. } if tensor == "q"),
        "{err:?}"
    );
    assert_names(&err, &path, Some("q"));
    assert_eq!(reads.into_inner(), 0);
    // Leaving it out makes the rest loadable.
    let loaded = ckpt
        .filtered(|t| t.dtype() != Dtype::I8)
        .load(&LoadOptions::default())
        .unwrap();
    assert_eq!(loaded.len(), 1);
}

#[test]
fn packed_and_8_bit_floats_load_as_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("m.safetensors"),
        &[
            t("f4", "F4", &[6], vec![0x12, 0x34, 0x56]),
            t("e8", "F8_E8M0", &[2], vec![127, 128]),
            t("e4m3", "F8_E4M3", &[2], vec![0x38, 0x40]), // 1.0, 2.0
        ],
        &[],
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    let loaded = ckpt
        .load(&LoadOptions::default().with_dtype(Dtype::F32))
        .unwrap();
    assert_eq!(loaded.get("f4").unwrap().dtype(), DType::F4);
    assert_eq!(loaded.get("f4").unwrap().dims(), [6]);
    assert_eq!(loaded.get("e8").unwrap().dtype(), DType::F8E8M0);
    let e4m3 = loaded.get("e4m3").unwrap();
    assert_eq!(e4m3.dtype(), DType::F8E4M3);
    assert_eq!(
        e4m3.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap(),
        [1.0, 2.0]
    );
    assert_eq!(loaded.resident_bytes(), 3 + 2 + 2);
    assert_eq!(ckpt.loaded_bytes(Some(Dtype::F32)), 7);
}

#[test]
fn large_tensor_converts_and_round_trips() {
    // 1.1M BF16 values through the conversion path end to end, and back as stored.
    let dir = tempfile::tempdir().unwrap();
    let n = 1_100_000u64; // over 2 MiB stored and loaded: the huge-page hint applies
    // Integers in [-128, 128) are exact in BF16.
    let v: Vec<f32> = (0..n).map(|i| (i % 256) as f32 - 128.0).collect();
    let path = write(
        &dir.path().join("m.safetensors"),
        &[bf16s("w", &[n], &v)],
        &[],
    );
    let ckpt = Checkpoint::open(&path).unwrap();
    let loaded = ckpt
        .load(&LoadOptions::default().with_dtype(Dtype::F32))
        .unwrap();
    let got = loaded.get("w").unwrap().to_vec1::<f32>().unwrap();
    assert!(got == v, "values differ");
    assert_eq!(loaded.resident_bytes(), 2 * ckpt.tensor_bytes());
    let back = ckpt.load(&LoadOptions::default()).unwrap();
    let raw = back.get("w").unwrap().to_vec1::<bf16>().unwrap();
    assert!(raw.iter().zip(&v).all(|(a, b)| a.to_f32() == *b));
}
