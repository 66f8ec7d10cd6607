//! A model as named parts of candle tensors, which the suite compares value by value: through
//! a demotion and a promotion (`run::moves_between_tiers`), and with an MLX load (`mlx`).

use std::collections::BTreeMap;

use modelcache_backend::Backend;
use modelcache_weights::candle_core::{DType, Tensor};

/// One model as named parts (a component, a voice pack), each a list of `(tensor, value)`.
pub type Parts<T> = Vec<(String, T)>;

/// A model's candle tensors as named parts of `(name, tensor)`.
pub type TensorParts = Parts<Vec<(String, Tensor)>>;

/// How a backend's model splits into [`TensorParts`].
pub type CandleParts<B> = fn(&<B as Backend>::Model) -> TensorParts;

/// Asserts that `got` holds the parts of `want`, tensor by tensor: the same parts in the same
/// order, the same tensor names in each (in any order: a model may keep them in a map), and
/// for each the same dtype, shape and values (compared as `f64` bit patterns, so a NaN equals
/// itself).
///
/// # Panics
/// At the first difference, naming `what`, the part and the tensor.
pub fn assert_same_parts(what: &str, want: &TensorParts, got: &TensorParts) {
    let names = |p: &TensorParts| -> Vec<String> { p.iter().map(|(n, _)| n.clone()).collect() };
    assert_eq!(names(got), names(want), "{what}: parts");
    for ((part, want), (_, got)) in want.iter().zip(got) {
        let by_name = |t: &[(String, Tensor)]| -> BTreeMap<String, Tensor> {
            t.iter().map(|(n, t)| (n.clone(), t.clone())).collect()
        };
        let (want, got) = (by_name(want), by_name(got));
        let keys = |m: &BTreeMap<String, Tensor>| -> Vec<String> { m.keys().cloned().collect() };
        assert_eq!(keys(&got), keys(&want), "{what}, {part}: tensors");
        for (name, w) in &want {
            let g = &got[name];
            let at = format!("{what}, {part}, {name}");
            assert_eq!((g.dtype(), g.dims()), (w.dtype(), w.dims()), "{at}");
            assert_eq!(bits(g), bits(w), "{at}: values");
        }
    }
}

/// A tensor's values as `f64` bit patterns, wherever it is.
fn bits(t: &Tensor) -> Vec<u64> {
    let values = t
        .to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .unwrap_or_else(|e| panic!("reading a tensor's values: {e}"));
    values.into_iter().map(f64::to_bits).collect()
}
