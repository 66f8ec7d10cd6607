//! Growing a tiny configuration to a target size.
//!
//! Every layout exposes a two-knob family: a width `w` (coarse: size grows about as `w²`) and a count `n` (fine:
//! layers or a secondary width, size grows about linearly). [`fit`] takes the smallest width whose largest count
//! reaches the target, then the count that lands closest to it; with counts of a few dozen the result is within a
//! few percent of the target. Sizes come from the key tables and encoded headers, so no data is written to search.

use crate::TensorSpec;
use crate::safetensors_writer::{Metadata, encode_header};

/// Picks `(w, n)` with `size(w, n)` closest to `target`, `w` in `1..=w_max`, `n` in `n_min..=n_max`. `size` must
/// grow with both arguments. Targets below `size(1, n_min)` give `(1, n_min)`; above `size(w_max, n_max)`, those.
pub(crate) fn fit(
    target: u64,
    w_max: u64,
    n_min: u64,
    n_max: u64,
    size: impl Fn(u64, u64) -> u64,
) -> (u64, u64) {
    let (mut lo, mut hi) = (1, w_max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if size(mid, n_max) >= target {
            hi = mid
        } else {
            lo = mid + 1
        }
    }
    let w = lo;
    let (mut a, mut b) = (n_min, n_max);
    while a < b {
        let mid = a + (b - a) / 2;
        if size(w, mid) >= target {
            b = mid
        } else {
            a = mid + 1
        }
    }
    let n = a;
    if n > n_min {
        let (below, above) = (size(w, n - 1), size(w, n));
        if above >= target && target.saturating_sub(below) < above - target {
            return (w, n - 1);
        }
    }
    (w, n)
}

/// Size of a safetensors file holding `tensors` (header included), without writing it.
pub(crate) fn file_len(tensors: &[TensorSpec], metadata: Option<&Metadata>) -> u64 {
    // Duplicate keys are the only error and the layout functions never produce them; count data bytes regardless.
    encode_header(tensors, metadata)
        .map_or_else(|_| crate::tensor::total_bytes(tensors), |h| h.file_len())
}

/// Least common multiple (both arguments non-zero).
pub(crate) const fn lcm(a: u64, b: u64) -> u64 {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_lands_near_the_target() {
        let size = |w: u64, n: u64| 1000 + w * w * 10 * n;
        let (w, n) = fit(1_000_000, 1000, 1, 40, size);
        let got = size(w, n);
        assert!(got.abs_diff(1_000_000) * 50 < 1_000_000, "{w} {n} {got}");
        assert_eq!(fit(10, 1000, 1, 40, size), (1, 1));
    }

    #[test]
    fn lcm_works() {
        assert_eq!(lcm(32, 16), 32);
        assert_eq!(lcm(32, 24), 96);
    }
}
