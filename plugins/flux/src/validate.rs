//! Checking a checkpoint against the key table its config implies, from headers only.
//!
//! Each component's config (inferred from shapes, or read from `config.json`) gives an
//! [`ExpectedTensors`] table (built in [`keys`](crate::keys)): every required tensor with the
//! shape the model needs. [`check`] walks it in model order and reports the first problem as
//! [`BackendError::Invalid`] naming the file and the tensor. Extra tensors are tolerated. MLX-quantized weights (`U32` codes with `scales` and
//! `biases`, docs/checkpoint-layouts.md §5.10) are checked with the packing taken into account.

use modelcache_backend::BackendError;
use modelcache_weights::{Dtype, ExpectedTensors};

use crate::error;
use crate::shapes::Shapes;

/// The MLX group sizes (`mlx.core.quantize`).
const GROUP_SIZES: [u64; 3] = [32, 64, 128];

/// Checks every expected tensor of `shapes`'s checkpoint; `context` says where the expected
/// shapes come from (it ends every error's reason). Returns the MLX group size when the
/// checkpoint holds quantized weights.
///
/// # Errors
/// The first missing tensor or wrong shape, as [`BackendError::Invalid`].
pub(crate) fn check(
    shapes: &Shapes<'_>,
    expected: &ExpectedTensors,
    context: &str,
) -> Result<Option<u64>, BackendError> {
    let mut group = None;
    for e in expected.iter() {
        let Some((file, t)) = e.find(shapes.checkpoint())? else {
            continue;
        };
        let name = e.name();
        let packed = match (shapes.bits(), t.dtype(), e.shape()) {
            (Some(bits), Dtype::U32, Some(&[o, i])) if name.ends_with(".weight") => {
                Some((bits, o, i))
            }
            _ => None,
        };
        let Some((bits, o, i)) = packed else {
            e.check_shape(file, t)?;
            continue;
        };
        let found: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
        let bits_u = u64::from(bits);
        let want = [o, i.saturating_mul(bits_u) / 32];
        if i.saturating_mul(bits_u) % 32 != 0 || found != want {
            return Err(error::tensor(
                file.path(),
                name,
                format!(
                    "packed U32 weight of shape {found:?}, expected {want:?}: \
                     [{o}, {i}] at {bits} bits per value, 32 per U32 ({context})"
                ),
            ));
        }
        let base = &name[..name.len() - ".weight".len()];
        for side in ["scales", "biases"] {
            group = Some(check_side(shapes, base, side, [o, i], group, context)?);
        }
    }
    Ok(group)
}

/// Checks `{base}.scales` or `{base}.biases` of a quantized `[o, i]` weight: `[o, i / group]`,
/// with one group size for the whole checkpoint.
fn check_side(
    shapes: &Shapes<'_>,
    base: &str,
    side: &str,
    [o, i]: [u64; 2],
    group: Option<u64>,
    context: &str,
) -> Result<u64, BackendError> {
    let name = format!("{base}.{side}");
    let Some((file, t)) = shapes.get(&name) else {
        return Err(error::tensor(
            shapes.location(),
            name,
            format!("missing: `{base}.weight` is quantized ({context})"),
        ));
    };
    let found: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let bad = |reason: String| Err(error::tensor(file.path(), &name, reason));
    let &[rows, groups] = &found[..] else {
        return bad(format!("shape {found:?}, expected [{o}, {i} / group size]"));
    };
    if rows != o || groups == 0 || i % groups != 0 {
        return bad(format!(
            "shape {found:?}, expected [{o}, {i} / group size] ({context})"
        ));
    }
    let g = i / groups;
    match group {
        Some(known) if known != g => bad(format!(
            "shape {found:?} means group size {g}, but other weights use {known}: expected [{o}, {}]",
            i / known
        )),
        _ if !GROUP_SIZES.contains(&g) => bad(format!(
            "shape {found:?} means group size {g}; MLX groups are 32, 64 or 128"
        )),
        _ => Ok(g),
    }
}
