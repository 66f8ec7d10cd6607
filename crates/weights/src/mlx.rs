//! Loading into `mlx-rs` arrays (feature `mlx`, macOS only).

use std::collections::HashMap;

use half::{bf16, f16};
use mlx_rs::Array;

use crate::checkpoint::Checkpoint;
use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::read::{Source, reopen};

impl Checkpoint {
    /// Loads the selected tensors into MLX arrays, converting floating-point tensors to `dtype`
    /// if given (as [`LoadOptions::dtype`](crate::LoadOptions::dtype) does), with the same
    /// re-checks as [`load_with_progress`](Checkpoint::load_with_progress).
    ///
    /// MLX copies the data into its own buffer, so each tensor is briefly held twice; tensors are
    /// read one at a time to keep that to one extra tensor.
    ///
    /// # Errors
    /// [`UnsupportedDtype`](WeightsError::UnsupportedDtype) for 8-bit-or-less floats and `C64`,
    /// [`Mlx`](WeightsError::Mlx) if MLX rejects a tensor, and the load errors of
    /// [`load_with_progress`](Checkpoint::load_with_progress).
    pub fn load_mlx(
        &self,
        dtype: Option<Dtype>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<HashMap<String, Array>> {
        let target = match dtype {
            Some(t) => {
                let mlx_t =
                    mlx_float(t).ok_or(WeightsError::UnsupportedConversion { target: t })?;
                Some((t, mlx_t))
            }
            None => None,
        };
        let mut out = HashMap::with_capacity(self.len());
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
                let unsupported = || WeightsError::UnsupportedDtype {
                    path: inv.path().to_path_buf(),
                    tensor: info.name().to_owned(),
                    dtype: info.dtype(),
                    target: "mlx",
                };
                let shape: Vec<i32> = info
                    .shape()
                    .iter()
                    .map(|&d| i32::try_from(d).map_err(|_| unsupported()))
                    .collect::<Result<_>>()?;
                // mlx-rs checks the element count as an `i32` product.
                let n = i32::try_from(info.numel()).map_err(|_| unsupported())? as usize;
                let at = inv.data_start() + info.data_offsets()[0];
                let array = match info.dtype() {
                    Dtype::BOOL => Array::from_slice(&src.read_vec::<u8>(at, n)?, &shape)
                        .as_dtype(mlx_rs::Dtype::Bool)
                        .map_err(mlx_err)?,
                    Dtype::U8 => Array::from_slice(&src.read_vec::<u8>(at, n)?, &shape),
                    Dtype::I8 => Array::from_slice(&src.read_vec::<i8>(at, n)?, &shape),
                    Dtype::U16 => Array::from_slice(&src.read_vec::<u16>(at, n)?, &shape),
                    Dtype::I16 => Array::from_slice(&src.read_vec::<i16>(at, n)?, &shape),
                    Dtype::U32 => Array::from_slice(&src.read_vec::<u32>(at, n)?, &shape),
                    Dtype::I32 => Array::from_slice(&src.read_vec::<i32>(at, n)?, &shape),
                    Dtype::U64 => Array::from_slice(&src.read_vec::<u64>(at, n)?, &shape),
                    Dtype::I64 => Array::from_slice(&src.read_vec::<i64>(at, n)?, &shape),
                    Dtype::BF16 => Array::from_slice(&src.read_vec::<bf16>(at, n)?, &shape),
                    Dtype::F16 => Array::from_slice(&src.read_vec::<f16>(at, n)?, &shape),
                    Dtype::F32 => Array::from_slice(&src.read_vec::<f32>(at, n)?, &shape),
                    Dtype::F64 => Array::from_slice_f64(&src.read_vec::<f64>(at, n)?, &shape),
                    _ => return Err(unsupported()),
                };
                let array = match target {
                    Some((t, mlx_t)) if info.dtype().loaded_as(Some(t)) != info.dtype() => {
                        array.as_dtype(mlx_t).map_err(mlx_err)?
                    }
                    _ => array,
                };
                out.insert(info.name().to_owned(), array);
            }
        }
        Ok(out)
    }
}

fn mlx_float(d: Dtype) -> Option<mlx_rs::Dtype> {
    Some(match d {
        Dtype::BF16 => mlx_rs::Dtype::Bfloat16,
        Dtype::F16 => mlx_rs::Dtype::Float16,
        Dtype::F32 => mlx_rs::Dtype::Float32,
        Dtype::F64 => mlx_rs::Dtype::Float64,
        _ => return None,
    })
}
