//! `Checkpoint::load_mlx` against `Checkpoint::load` (candle) on the same files: every dtype
//! both hold, every float conversion, the exact size, and the same errors when a file changes
//! after it was opened. Built where the `mlx` feature loads (macOS, `scripts/mlx-linux`).
#![cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use modelcache_conformance::mlx::{assert_same_tensors, mlx_bits};
use modelcache_weights::{
    Allowance, Checkpoint, Dtype, LoadOptions, LoadedTensors, MlxTensors, TensorData, WeightsError,
    write_safetensors,
};

/// Deterministic bytes (a 64-bit LCG), so that every bit pattern of a dtype can occur.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// Finite values across the ranges that conversions round, overflow or flush.
fn floats(n: usize) -> Vec<f64> {
    const EDGES: [f64; 12] = [
        0.0, -0.0, 1.0, -1.5, 3.140625, 1e-3, -7.0e-6, 6.0e-8, 65504.0, 65520.0, 1.0e5, -3.0e38,
    ];
    (0..n)
        .map(|i| {
            EDGES
                .get(i)
                .copied()
                .unwrap_or((i as f64 * 0.37).sin() * 10.0)
        })
        .collect()
}

fn float_bytes(dtype: Dtype, v: &[f64]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| match dtype {
            Dtype::BF16 => half::bf16::from_f64(x).to_le_bytes().to_vec(),
            Dtype::F16 => half::f16::from_f64(x).to_le_bytes().to_vec(),
            Dtype::F32 => (x as f32).to_le_bytes().to_vec(),
            _ => x.to_le_bytes().to_vec(),
        })
        .collect()
}

struct File {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn file(name: &str, dtype: Dtype, shape: &[usize], data: Vec<u8>) -> File {
    File {
        name: name.to_owned(),
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

fn write(path: &Path, tensors: &[File]) {
    write_safetensors(
        path,
        tensors
            .iter()
            .map(|t| TensorData::new(&t.name, t.dtype, &t.shape, &t.data)),
        None,
    )
    .unwrap();
}

fn candle_parts(loaded: &LoadedTensors) -> Vec<(String, modelcache_weights::candle_core::Tensor)> {
    loaded
        .iter()
        .map(|(n, t)| (n.to_owned(), t.clone()))
        .collect()
}

/// Loads `checkpoint` both ways with `dtype` and checks that they agree with each other and
/// with the header's prediction.
fn both(checkpoint: &Checkpoint, dtype: Option<Dtype>) -> MlxTensors {
    let mut options = LoadOptions::default();
    if let Some(d) = dtype {
        options = options.with_dtype(d);
    }
    let candle = checkpoint.load(&options).unwrap();
    let read = AtomicU64::new(0);
    let mlx = checkpoint
        .load_mlx(dtype, None, &|n| {
            read.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap();
    assert_same_tensors(&format!("dtype {dtype:?}"), &candle_parts(&candle), &mlx);
    assert_eq!(mlx.resident_bytes(), checkpoint.loaded_bytes(dtype));
    assert_eq!(mlx.resident_bytes(), candle.resident_bytes());
    assert_eq!(read.load(Ordering::Relaxed), checkpoint.tensor_bytes());
    mlx
}

#[test]
fn every_dtype_both_hold_loads_bit_for_bit_as_candle_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let shapes: [&[usize]; 4] = [&[], &[0, 3], &[2, 3, 4], &[7]];
    let dtypes = [
        Dtype::U8,
        Dtype::U32,
        Dtype::I16,
        Dtype::I32,
        Dtype::I64,
        Dtype::BF16,
        Dtype::F16,
        Dtype::F32,
        Dtype::F64,
    ];
    let mut tensors = Vec::new();
    for (i, &dtype) in dtypes.iter().enumerate() {
        for (j, shape) in shapes.iter().enumerate() {
            let k = i * shapes.len() + j;
            let numel: usize = shape.iter().product();
            let len = dtype.bytes_for(numel as u64).unwrap() as usize;
            tensors.push(file(&format!("t{k}"), dtype, shape, bytes(k as u64, len)));
        }
    }
    // Arbitrary bits include NaNs and infinities: loading as stored copies them untouched.
    write(&path, &tensors);
    let checkpoint = Checkpoint::open(&path).unwrap();
    let mlx = both(&checkpoint, None);
    assert_eq!(mlx.len(), tensors.len());
}

#[test]
fn every_float_conversion_gives_candle_s_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floats.safetensors");
    let v = floats(40);
    let tensors: Vec<File> = [
        ("bf16", Dtype::BF16),
        ("f16", Dtype::F16),
        ("f32", Dtype::F32),
        ("f64", Dtype::F64),
    ]
    .into_iter()
    .map(|(name, dtype)| file(name, dtype, &[5, 8], float_bytes(dtype, &v)))
    .chain([file("packed", Dtype::U32, &[2, 2], bytes(9, 16))])
    .collect();
    write(&path, &tensors);
    let checkpoint = Checkpoint::open(&path).unwrap();
    for target in [Dtype::BF16, Dtype::F16, Dtype::F32, Dtype::F64] {
        let mlx = both(&checkpoint, Some(target));
        // Integers (MLX's packed weights) load as stored.
        let packed = mlx.get("packed").unwrap();
        assert_eq!(packed.dtype(), modelcache_weights::mlx_rs::Dtype::Uint32);
    }
    // A selection loads only what it selects.
    let some = Checkpoint::open(&path)
        .unwrap()
        .filtered(|t| t.name().starts_with('f'));
    let mlx = both(&some, Some(Dtype::BF16));
    assert_eq!(mlx.len(), 3);
    assert!(mlx.get("bf16").is_none());
}

#[test]
fn dtypes_candle_lacks_load_with_their_stored_bits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlx-only.safetensors");
    let flags = vec![1, 0, 0, 1, 1];
    let tensors = [
        file("bool", Dtype::BOOL, &[5], flags.clone()),
        file("i8", Dtype::I8, &[3, 3], bytes(1, 9)),
        file("u16", Dtype::U16, &[4], bytes(2, 8)),
        file("u64", Dtype::U64, &[2], bytes(3, 16)),
    ];
    write(&path, &tensors);
    let checkpoint = Checkpoint::open(&path).unwrap();
    let mlx = checkpoint.load_mlx(None, None, &|_| {}).unwrap();
    assert_eq!(mlx.resident_bytes(), checkpoint.loaded_bytes(None));
    let le = |t: &File, width: usize| -> Vec<u64> {
        t.data
            .chunks(width)
            .map(|c| c.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
            .collect()
    };
    let a = |name| mlx.get(name).unwrap();
    for (t, width) in tensors.iter().zip([1, 1, 2, 8]) {
        assert_eq!(mlx_bits(a(&t.name)), le(t, width), "{}", t.name);
    }
    assert_eq!(a("i8").shape(), [3, 3]);
}

#[test]
fn what_neither_can_hold_is_refused_before_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c64.safetensors");
    write(
        &path,
        &[
            file("a", Dtype::F32, &[2], bytes(4, 8)),
            file("c", Dtype::C64, &[1], bytes(5, 8)),
        ],
    );
    let checkpoint = Checkpoint::open(&path).unwrap();
    let read = AtomicU64::new(0);
    let err = checkpoint
        .load_mlx(None, None, &|n| {
            read.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::UnsupportedDtype { tensor, dtype: Dtype::C64, target: "mlx", .. } if tensor == "c"),
        "{err}"
    );
    assert_eq!(read.load(Ordering::Relaxed), 0);
    // MLX shapes are `i32`s: a 2 GiB U8 vector (a sparse file) is refused without a read.
    let big = dir.path().join("big.safetensors");
    let len = 1u64 << 31;
    let mut header =
        format!(r#"{{"big":{{"dtype":"U8","shape":[{len}],"data_offsets":[0,{len}]}}}}"#);
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&big, &bytes).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    file.set_len(bytes.len() as u64 + len).unwrap();
    let err = Checkpoint::open(&big)
        .unwrap()
        .load_mlx(None, None, &|n| {
            read.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap_err();
    assert!(err.to_string().contains("i32::MAX"), "{err}");
    assert_eq!(read.load(Ordering::Relaxed), 0);
    // A conversion to a non-float is refused by both, the same way.
    let ok = Checkpoint::open(&path)
        .unwrap()
        .filtered(|t| t.name() == "a");
    let mlx = ok.load_mlx(Some(Dtype::U32), None, &|_| {}).unwrap_err();
    let candle = ok
        .load(&LoadOptions::default().with_dtype(Dtype::U32))
        .unwrap_err();
    assert_eq!(mlx.to_string(), candle.to_string());
    assert!(matches!(
        mlx,
        WeightsError::UnsupportedConversion { target: Dtype::U32 }
    ));
}

#[test]
fn a_file_changed_after_opening_gives_the_error_candle_gives() {
    type Change = fn(&Path);
    let changes: [(&str, Change); 3] = [
        ("truncated", |p| {
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len - 3).unwrap();
        }),
        ("rewritten with another dtype", |p| {
            write(p, &[file("w", Dtype::F16, &[4, 4], bytes(6, 32))]);
        }),
        ("deleted", |p| std::fs::remove_file(p).unwrap()),
    ];
    for (what, change) in changes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        write(&path, &[file("w", Dtype::BF16, &[4, 4], bytes(7, 32))]);
        let checkpoint = Checkpoint::open(&path).unwrap();
        change(&path);
        let candle = checkpoint.load(&LoadOptions::default()).unwrap_err();
        let mlx = checkpoint.load_mlx(None, None, &|_| {}).unwrap_err();
        assert_eq!(mlx.to_string(), candle.to_string(), "{what}");
        assert_eq!(
            std::mem::discriminant(&mlx),
            std::mem::discriminant(&candle),
            "{what}: {mlx:?}"
        );
        assert_eq!(mlx.path(), Some(path.as_path()), "{what}");
    }
}

#[test]
fn an_allowance_one_byte_short_refuses_both_loads_the_same_way_before_any_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    write(&path, &[file("w", Dtype::BF16, &[8, 8], bytes(8, 128))]);
    let checkpoint = Checkpoint::open(&path).unwrap();
    let needed = checkpoint.loaded_bytes(Some(Dtype::F32));
    let read = AtomicU64::new(0);
    let short = Allowance::new(needed - 1);
    let mlx = checkpoint
        .load_mlx(Some(Dtype::F32), Some(&short), &|n| {
            read.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap_err();
    let options = LoadOptions::default()
        .with_dtype(Dtype::F32)
        .within(Allowance::new(needed - 1));
    let candle = checkpoint.load(&options).unwrap_err();
    assert_eq!(mlx.to_string(), candle.to_string());
    assert!(matches!(mlx, WeightsError::Changed { .. }), "{mlx}");
    assert_eq!(read.load(Ordering::Relaxed), 0);
    assert_eq!(short.left(), needed - 1, "a refused load draws nothing");
    // Exactly enough loads, and draws it all.
    let exact = Allowance::new(needed);
    let mlx = checkpoint
        .load_mlx(Some(Dtype::F32), Some(&exact), &|_| {})
        .unwrap();
    assert_eq!(mlx.resident_bytes(), needed);
    assert_eq!(exact.left(), 0);
}
