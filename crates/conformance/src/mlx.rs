//! The MLX half of the suite (feature `mlx`, where `modelcache-weights` loads into MLX: macOS,
//! or the Linux build of `scripts/mlx-linux`): on the same cases, a backend's MLX load must
//! equal its candle load array by array and value by value (bit patterns, so `-0.0` and NaN
//! payloads count), measure exactly its memory hint, and fail on every corruption, and on a
//! limit one byte under the opened bytes, with the same error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use modelcache_backend::{
    Backend, BackendError, BackendExt, LoadProgress, ModelSource, NoProgress,
};
use modelcache_weights::candle_core::{DType, Tensor};
use modelcache_weights::mlx_rs::{Array, Dtype as MlxDtype};
use modelcache_weights::{Dtype, MlxTensors};

pub use crate::parts::{CandleParts, Parts};
use crate::run::{Fixture, Recorder, for_each_corruption, missing_path, write};
use crate::suite::{Case, Suite};

/// A plugin's MLX load of an opened plan allocating at most the given bytes (as
/// `Backend::load`), as named parts.
pub type MlxLoad<B> =
    fn(&B, <B as Backend>::Plan, u64, &dyn LoadProgress) -> Result<Parts<MlxTensors>, BackendError>;

/// How a plugin loads into MLX, and how its candle model splits into the same named parts.
pub struct MlxHooks<B: Backend> {
    /// The plugin's MLX load, as named parts.
    pub load: MlxLoad<B>,
    /// The candle model's tensors, as the same parts under the same tensor names.
    pub candle: CandleParts<B>,
}

/// Expands to the MLX tests over a [`Suite`] (`$suite`) and [`MlxHooks`] (`$hooks`).
#[macro_export]
macro_rules! mlx_conformance_tests {
    ($suite:expr, $hooks:expr) => {
        #[test]
        fn mlx_loads_equal_candle_loads_value_by_value_and_measure_the_hint() {
            $crate::mlx::loads_equal_candle_loads(&$suite, &$hooks);
        }

        #[test]
        fn mlx_corrupt_or_missing_files_and_short_limits_give_the_same_errors_as_candle() {
            $crate::mlx::corrupt_files_give_the_same_errors(&$suite, &$hooks);
        }
    };
}

/// A plugin's MLX load result with the part names as strings: for [`MlxHooks::load`].
///
/// # Errors
/// The load's error.
pub fn named<N: ToString>(
    parts: Result<Vec<(N, MlxTensors)>, BackendError>,
) -> Result<Parts<MlxTensors>, BackendError> {
    Ok(parts?
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect())
}

pub fn loads_equal_candle_loads<B: Backend>(suite: &Suite<B>, hooks: &MlxHooks<B>) {
    for_each_case(suite, |case, _, source| {
        let model = suite.backend.open_and_load(source, &NoProgress).unwrap();
        let opened = suite.backend.open(source).unwrap();
        let hint = opened.inspection.bytes;
        let progress = Recorder::default();
        progress.start(opened.read_bytes);
        let mlx = (hooks.load)(&suite.backend, opened.plan, hint, &progress)
            .unwrap_or_else(|e| panic!("case {}: MLX load: {e}", case.name));
        let candle = (hooks.candle)(&model);
        assert_eq!(names(&mlx), names(&candle), "case {}: parts", case.name);
        for ((part, arrays), (_, tensors)) in mlx.iter().zip(&candle) {
            assert_same_tensors(&format!("case {}, {part}", case.name), tensors, arrays);
        }
        let measured: u64 = mlx.iter().map(|(_, a)| a.resident_bytes()).sum();
        assert_eq!(measured, hint, "case {}: MLX measured vs hint", case.name);
        assert_eq!(
            measured,
            suite.backend.resident_bytes(&model).unwrap_or(hint),
            "case {}: MLX vs candle measured",
            case.name
        );
        let (total, advanced) = (
            progress.total.load(Ordering::Relaxed),
            progress.advanced.load(Ordering::Relaxed),
        );
        assert!(
            total > 0 && advanced == total,
            "case {}: MLX load progress {advanced} of {total}",
            case.name
        );
    });
}

pub fn corrupt_files_give_the_same_errors<B: Backend>(suite: &Suite<B>, hooks: &MlxHooks<B>) {
    // Opens `source` and loads the plan with `load`, within the opened bytes less `short`.
    let open_load = |source: &ModelSource<'_, B::Options>,
                     short: u64,
                     load: &dyn Fn(B::Plan, u64) -> Result<(), BackendError>| {
        let opened = suite.backend.open(source)?;
        load(opened.plan, opened.inspection.bytes.saturating_sub(short))
    };
    let same = |what: &str, source: &ModelSource<'_, B::Options>, short: u64| {
        let candle = open_load(source, short, &|plan, limit| {
            suite.backend.load(plan, limit, &NoProgress).map(|_| ())
        });
        let mlx = catch_unwind(AssertUnwindSafe(|| {
            open_load(source, short, &|plan, limit| {
                (hooks.load)(&suite.backend, plan, limit, &NoProgress).map(|_| ())
            })
        }))
        .unwrap_or_else(|_| panic!("{what}: the MLX load panicked"));
        let (candle, mlx) = (
            candle.expect_err(&format!("{what}: the candle load succeeded")),
            mlx.expect_err(&format!("{what}: the MLX load succeeded")),
        );
        assert_eq!(mlx.to_string(), candle.to_string(), "{what}");
        assert_eq!(
            std::mem::discriminant(&mlx),
            std::mem::discriminant(&candle),
            "{what}: {mlx:?} / {candle:?}"
        );
    };
    for_each_corruption(suite, |case, fx, file, corruption| {
        corruption.apply(file).unwrap();
        let options = (case.options)();
        let source = ModelSource::new(case.name, &fx.model, &options);
        same(
            &format!("case {}, {corruption:?} {}", case.name, file.display()),
            &source,
            0,
        );
    });
    with_missing_path::<B>(|source| same("a missing path", source, 0));
    // A model that needs one byte more than it may allocate (a file grown since it was opened).
    for_each_case(suite, |case, _, source| {
        same(
            &format!("case {}, limit one byte short", case.name),
            source,
            1,
        );
    });
}

/// Calls `check` with every case, its freshly written fixture and the typed source to load it
/// from (the MLX load takes the typed plan).
fn for_each_case<B: Backend>(
    suite: &Suite<B>,
    mut check: impl FnMut(&Case<B::Options>, &Fixture, &ModelSource<'_, B::Options>),
) {
    for case in &suite.cases {
        let fx = write(case);
        let options = (case.options)();
        let source = ModelSource::new(case.name, &fx.model, &options);
        check(case, &fx, &source);
    }
}

/// Calls `check` with the source of a model whose path does not exist.
fn with_missing_path<B: Backend>(check: impl FnOnce(&ModelSource<'_, B::Options>)) {
    let (_dir, missing) = missing_path();
    let options = B::Options::default();
    check(&ModelSource::new("missing", &missing, &options));
}

fn names<T>(parts: &[(String, T)]) -> Vec<&str> {
    parts.iter().map(|(n, _)| n.as_str()).collect()
}

/// The tensors of one part equal its arrays: the same names, and for each the same shape, dtype
/// and values.
///
/// # Panics
/// On the first difference, naming `what`, the tensor and the difference.
pub fn assert_same_tensors(what: &str, tensors: &[(String, Tensor)], arrays: &MlxTensors) {
    let mut names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
    let mut mlx_names: Vec<&str> = arrays.iter().map(|(n, _)| n).collect();
    names.sort_unstable();
    mlx_names.sort_unstable();
    assert_eq!(mlx_names, names, "{what}: tensor names");
    for (name, tensor) in tensors {
        assert_same(
            &format!("{what}, tensor {name}"),
            tensor,
            arrays.get(name).unwrap(),
        );
    }
}

/// One candle tensor equals one MLX array: shape, dtype and every value's bits.
///
/// # Panics
/// On the first difference, naming `what`.
pub fn assert_same(what: &str, tensor: &Tensor, array: &Array) {
    let shape: Vec<usize> = array.shape().iter().map(|&d| d as usize).collect();
    assert_eq!(shape, tensor.dims(), "{what}: shape");
    let dtype = Dtype::from(tensor.dtype());
    assert_eq!(
        dtype.to_mlx(),
        Some(array.dtype()),
        "{what}: candle {dtype} vs MLX {:?}",
        array.dtype()
    );
    let (candle, mlx) = (candle_bits(tensor), mlx_bits(array));
    assert_eq!(candle.len(), mlx.len(), "{what}: element count");
    if let Some(i) = (0..candle.len()).find(|&i| candle[i] != mlx[i]) {
        panic!(
            "{what}: element {i} is {:#x} in candle, {:#x} in MLX",
            candle[i], mlx[i]
        );
    }
}

/// Every element's bit pattern, widened to `u64`.
fn candle_bits(t: &Tensor) -> Vec<u64> {
    let t = t.flatten_all().unwrap();
    macro_rules! bits {
        ($t:ty, $f:expr) => {
            t.to_vec1::<$t>().unwrap().into_iter().map($f).collect()
        };
    }
    match t.dtype() {
        DType::U8 => bits!(u8, u64::from),
        DType::U32 => bits!(u32, u64::from),
        DType::I16 => bits!(i16, |x| u64::from(x as u16)),
        DType::I32 => bits!(i32, |x| u64::from(x as u32)),
        DType::I64 => bits!(i64, |x| x as u64),
        DType::BF16 => bits!(half::bf16, |x| u64::from(x.to_bits())),
        DType::F16 => bits!(half::f16, |x| u64::from(x.to_bits())),
        DType::F32 => bits!(f32, |x| u64::from(x.to_bits())),
        DType::F64 => bits!(f64, f64::to_bits),
        other => panic!("no MLX dtype to compare a candle {other:?} tensor with"),
    }
}

/// Every element's bit pattern, widened to `u64`.
pub fn mlx_bits(a: &Array) -> Vec<u64> {
    if a.size() == 0 {
        return Vec::new(); // mlx-rs gives no slice of an empty array
    }
    macro_rules! bits {
        ($t:ty, $f:expr) => {
            a.as_slice::<$t>().iter().copied().map($f).collect()
        };
    }
    match a.dtype() {
        MlxDtype::Bool => bits!(bool, u64::from),
        MlxDtype::Uint8 => bits!(u8, u64::from),
        MlxDtype::Uint16 => bits!(u16, u64::from),
        MlxDtype::Uint32 => bits!(u32, u64::from),
        MlxDtype::Uint64 => bits!(u64, |x| x),
        MlxDtype::Int8 => bits!(i8, |x| u64::from(x as u8)),
        MlxDtype::Int16 => bits!(i16, |x| u64::from(x as u16)),
        MlxDtype::Int32 => bits!(i32, |x| u64::from(x as u32)),
        MlxDtype::Int64 => bits!(i64, |x| x as u64),
        MlxDtype::Bfloat16 => bits!(half::bf16, |x| u64::from(x.to_bits())),
        MlxDtype::Float16 => bits!(half::f16, |x| u64::from(x.to_bits())),
        MlxDtype::Float32 => bits!(f32, |x| u64::from(x.to_bits())),
        MlxDtype::Float64 => bits!(f64, f64::to_bits),
        MlxDtype::Complex64 => panic!("complex arrays are not compared"),
    }
}
