//! Loading into `mlx-rs` arrays (feature `mlx`: macOS, or the Linux build of `scripts/mlx-linux`).
//!
//! The same code runs on both: on macOS MLX puts the arrays in unified memory for Metal, on
//! Linux it runs on MLX's CPU backend. Every array is evaluated before the load returns, so
//! what [`MlxTensors::resident_bytes`] counts is what MLX holds (a lazy `astype` would keep the
//! stored array alive until first use), and an MLX failure is a load error, not a later one.

use std::collections::HashMap;

use half::{bf16, f16};
use mlx_rs::Array;

use crate::checkpoint::Checkpoint;
use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::load::Allowance;
use crate::read::{Source, reopen};

/// Tensors loaded into MLX arrays, by name: what [`Checkpoint::load_mlx`] returns.
#[derive(Debug, Clone, Default)]
pub struct MlxTensors {
    arrays: HashMap<String, Array>,
}

impl MlxTensors {
    /// The array called `name`.
    pub fn get(&self, name: &str) -> Option<&Array> {
        self.arrays.get(name)
    }

    /// The number of arrays.
    pub fn len(&self) -> usize {
        self.arrays.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.arrays.is_empty()
    }

    /// Every `(name, array)`, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Array)> + '_ {
        self.arrays.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The map.
    pub fn into_inner(self) -> HashMap<String, Array> {
        self.arrays
    }

    /// Bytes of the arrays' data, measured from the arrays (`nbytes`: elements times MLX's
    /// element size).
    pub fn resident_bytes(&self) -> u64 {
        self.arrays.values().map(|a| a.nbytes() as u64).sum()
    }
}

impl Dtype {
    /// The MLX dtype a tensor stored as `self` loads into, if MLX has one: every integer and
    /// `BOOL`, `BF16`, `F16`, `F32`, `F64`. 8-bit-or-less floats and `C64` have none.
    pub const fn to_mlx(self) -> Option<mlx_rs::Dtype> {
        use mlx_rs::Dtype as M;
        Some(match self {
            Dtype::BOOL => M::Bool,
            Dtype::U8 => M::Uint8,
            Dtype::I8 => M::Int8,
            Dtype::U16 => M::Uint16,
            Dtype::I16 => M::Int16,
            Dtype::U32 => M::Uint32,
            Dtype::I32 => M::Int32,
            Dtype::U64 => M::Uint64,
            Dtype::I64 => M::Int64,
            Dtype::BF16 => M::Bfloat16,
            Dtype::F16 => M::Float16,
            Dtype::F32 => M::Float32,
            Dtype::F64 => M::Float64,
            _ => return None,
        })
    }
}

impl Checkpoint {
    /// Loads the selected tensors into MLX arrays, converting floating-point tensors to `dtype`
    /// if given (as [`LoadOptions::dtype`](crate::LoadOptions::dtype) does), with the same
    /// re-checks as [`load_with_progress`](Checkpoint::load_with_progress), the same
    /// progress reports and, with an `allowance`, the same draw from it before anything is
    /// allocated ([`LoadOptions::within`](crate::LoadOptions::within)).
    /// [`loaded_bytes`](Checkpoint::loaded_bytes) with the same `dtype` predicts the result's
    /// [`resident_bytes`](MlxTensors::resident_bytes) exactly.
    ///
    /// MLX copies the data into its own buffer, so each tensor is briefly held twice (three
    /// times while a dtype conversion evaluates); tensors are read one at a time to keep that to
    /// one tensor's worth.
    ///
    /// # Errors
    /// [`UnsupportedConversion`](WeightsError::UnsupportedConversion) and
    /// [`UnsupportedDtype`](WeightsError::UnsupportedDtype) (8-bit-or-less floats, `C64`, more
    /// than `i32::MAX` elements), and [`Changed`](WeightsError::Changed) when the allowance
    /// has too little left, before anything is read; [`Mlx`](WeightsError::Mlx) if MLX
    /// rejects a tensor; and the load errors of
    /// [`load_with_progress`](Checkpoint::load_with_progress).
    pub fn load_mlx(
        &self,
        dtype: Option<Dtype>,
        allowance: Option<&Allowance>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<MlxTensors> {
        let target = match dtype {
            Some(t) if t.is_convertible_float() => t.to_mlx().map(|m| (t, m)),
            Some(t) => return Err(WeightsError::UnsupportedConversion { target: t }),
            None => None,
        };
        for (file, t) in self.tensors() {
            // MLX shapes are `i32`s, and mlx-rs checks the element count as an `i32` product.
            let too_big = i32::try_from(t.numel()).is_err()
                || t.shape().iter().any(|&d| i32::try_from(d).is_err());
            let target = match t.dtype().to_mlx() {
                None => "mlx",
                Some(_) if too_big => "mlx (at most i32::MAX elements per array)",
                Some(_) => continue,
            };
            return Err(WeightsError::UnsupportedDtype {
                path: file.path().to_path_buf(),
                tensor: t.name().to_owned(),
                dtype: t.dtype(),
                target,
            });
        }
        self.draw(allowance, dtype)?;
        let mut arrays = HashMap::with_capacity(self.len());
        for (f, tensors) in self.selection_by_file() {
            let inv = &self.files()[f];
            let file = reopen(inv)?;
            let src = Source::new(&file, inv, progress);
            for t in tensors {
                let info = &inv.tensors()[t];
                let mlx_err = |source| WeightsError::Mlx {
                    path: inv.path().to_path_buf(),
                    tensor: info.name().to_owned(),
                    source,
                };
                // Checked above: every dimension and the element count fit an `i32`.
                let shape: Vec<i32> = info.shape().iter().map(|&d| d as i32).collect();
                let n = info.numel() as usize;
                let at = inv.data_start() + info.data_offsets()[0];
                macro_rules! read {
                    ($t:ty) => {
                        src.read_vec::<$t>(at, n)
                            .map_err(|e| e.for_tensor(info.name()))?
                    };
                }
                let array = match info.dtype() {
                    Dtype::BOOL => Array::from_slice(&read!(u8), &shape)
                        .as_dtype(mlx_rs::Dtype::Bool)
                        .map_err(mlx_err)?,
                    Dtype::U8 => Array::from_slice(&read!(u8), &shape),
                    Dtype::I8 => Array::from_slice(&read!(i8), &shape),
                    Dtype::U16 => Array::from_slice(&read!(u16), &shape),
                    Dtype::I16 => Array::from_slice(&read!(i16), &shape),
                    Dtype::U32 => Array::from_slice(&read!(u32), &shape),
                    Dtype::I32 => Array::from_slice(&read!(i32), &shape),
                    Dtype::U64 => Array::from_slice(&read!(u64), &shape),
                    Dtype::I64 => Array::from_slice(&read!(i64), &shape),
                    Dtype::BF16 => Array::from_slice(&read!(bf16), &shape),
                    Dtype::F16 => Array::from_slice(&read!(f16), &shape),
                    Dtype::F32 => Array::from_slice(&read!(f32), &shape),
                    Dtype::F64 => Array::from_slice_f64(&read!(f64), &shape),
                    // Refused before reading.
                    other => {
                        return Err(WeightsError::UnsupportedDtype {
                            path: inv.path().to_path_buf(),
                            tensor: info.name().to_owned(),
                            dtype: other,
                            target: "mlx",
                        });
                    }
                };
                let array = match target {
                    Some((t, mlx_t)) if info.dtype().loaded_as(Some(t)) != info.dtype() => {
                        array.as_dtype(mlx_t).map_err(mlx_err)?
                    }
                    _ => array,
                };
                array.eval().map_err(mlx_err)?;
                arrays.insert(info.name().to_owned(), array);
            }
        }
        Ok(MlxTensors { arrays })
    }
}
