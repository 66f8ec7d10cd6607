//! Loading a checkpoint into candle tensors.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::op::BackpropOp;
use candle_core::{CpuStorage, DType, Device, Storage, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

use crate::checkpoint::Checkpoint;
use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::inventory::{FileInventory, TensorInfo};
use crate::read::{POSITIONED_READS, Source, reopen};

/// How to load a checkpoint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Convert `BF16`/`F16`/`F32`/`F64` tensors to this dtype while reading (which must be one
    /// of those four). Integer tensors, including MLX's packed `U32` weights, and 8-bit-or-less
    /// floats load as stored. [`Checkpoint::loaded_bytes`] with the same value predicts the
    /// result's [`resident_bytes`](LoadedTensors::resident_bytes) exactly.
    pub dtype: Option<Dtype>,
    /// Where the tensors end up. Tensors are read on the CPU; for another device each is moved
    /// as soon as it is read (one CPU tensor per reading thread at a time).
    pub device: Device,
    /// Read files and tensors on rayon's thread pool (default `true`).
    pub parallel: bool,
    /// The bytes this load may allocate for tensors, shared by every checkpoint loaded with
    /// it (default: unbounded). See [`Allowance`].
    pub allowance: Option<Allowance>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            dtype: None,
            device: Device::Cpu,
            parallel: true,
            allowance: None,
        }
    }
}

/// What a load may still allocate: the bytes the cache reserved for a model, drawn from by
/// every checkpoint the model loads.
///
/// Buffers are sized from a checkpoint's inventory, and every file is checked against its
/// inventory when the load opens it again ([`WeightsError::Changed`]), so a checkpoint loads
/// exactly [`Checkpoint::loaded_bytes`]. [`Checkpoint::load`] draws that from the allowance
/// before allocating anything and refuses, with [`WeightsError::Changed`], a checkpoint that
/// does not fit what is left: a file swapped for a larger one after the cache sized it (a
/// header read at load time that says 100 GiB where 1 MiB was reserved) costs one failed
/// load, not the process.
#[derive(Debug, Clone)]
pub struct Allowance {
    reserved: u64,
    left: Arc<AtomicU64>,
}

impl Allowance {
    /// An allowance of `reserved` bytes.
    pub fn new(reserved: u64) -> Self {
        Self {
            reserved,
            left: Arc::new(AtomicU64::new(reserved)),
        }
    }

    /// The bytes it started with.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// The bytes not drawn yet.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }

    /// Draws `bytes` if that many are left.
    fn draw(&self, bytes: u64) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }
}

impl LoadOptions {
    /// Converts floating-point tensors to `dtype` while reading.
    #[must_use]
    pub fn with_dtype(mut self, dtype: Dtype) -> Self {
        self.dtype = Some(dtype);
        self
    }

    /// Puts the tensors on `device`.
    #[must_use]
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Reads on the calling thread only.
    #[must_use]
    pub fn sequential(mut self) -> Self {
        self.parallel = false;
        self
    }

    /// Allocates at most what `allowance` has left (see [`Allowance`]).
    #[must_use]
    pub fn within(mut self, allowance: Allowance) -> Self {
        self.allowance = Some(allowance);
        self
    }
}

/// Loaded tensors by name.
#[derive(Debug, Clone, Default)]
pub struct LoadedTensors {
    tensors: HashMap<String, Tensor>,
}

impl LoadedTensors {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Removes and returns the tensor called `name`.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Every `(name, tensor)`, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Tensor)> + '_ {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The map (for example for `candle_nn::VarBuilder::from_tensors`).
    pub fn into_inner(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    /// Bytes held by the tensors' storage, measured from the tensors themselves (the length of
    /// each CPU storage buffer; element count times element size on other devices).
    pub fn resident_bytes(&self) -> u64 {
        resident_bytes(self.tensors.values())
    }

    /// Tensors by name, as loaded tensors (for example moved copies).
    pub fn from_map(tensors: HashMap<String, Tensor>) -> Self {
        Self { tensors }
    }

    /// The map, borrowed.
    pub(crate) fn as_map(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }
}

/// Bytes held by the storage of `tensors`, measured as
/// [`LoadedTensors::resident_bytes`] measures them: for tensors held in another container
/// (a plain map, renamed tensors).
pub fn resident_bytes<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> u64 {
    tensors.into_iter().map(storage_bytes).sum()
}

impl IntoIterator for LoadedTensors {
    type Item = (String, Tensor);
    type IntoIter = std::collections::hash_map::IntoIter<String, Tensor>;
    fn into_iter(self) -> Self::IntoIter {
        self.tensors.into_iter()
    }
}

fn storage_bytes(t: &Tensor) -> u64 {
    let (storage, _) = t.storage_and_layout();
    let bytes = match &*storage {
        Storage::Cpu(cpu) => match cpu {
            CpuStorage::U8(v)
            | CpuStorage::F6E2M3(v)
            | CpuStorage::F6E3M2(v)
            | CpuStorage::F4(v)
            | CpuStorage::F8E8M0(v) => size_of_val(v.as_slice()),
            CpuStorage::U32(v) => size_of_val(v.as_slice()),
            CpuStorage::I16(v) => size_of_val(v.as_slice()),
            CpuStorage::I32(v) => size_of_val(v.as_slice()),
            CpuStorage::I64(v) => size_of_val(v.as_slice()),
            CpuStorage::BF16(v) => size_of_val(v.as_slice()),
            CpuStorage::F16(v) => size_of_val(v.as_slice()),
            CpuStorage::F32(v) => size_of_val(v.as_slice()),
            CpuStorage::F64(v) => size_of_val(v.as_slice()),
            CpuStorage::F8E4M3(v) => size_of_val(v.as_slice()),
        },
        _ => {
            let n = t.elem_count() as u64;
            return Dtype::from(t.dtype()).bytes_for(n).unwrap_or(0);
        }
    };
    bytes as u64
}

impl Checkpoint {
    /// Loads the selected tensors. See [`load_with_progress`](Self::load_with_progress).
    ///
    /// # Errors
    /// As [`load_with_progress`](Self::load_with_progress).
    pub fn load(&self, options: &LoadOptions) -> Result<LoadedTensors> {
        self.load_with_progress(options, &|_| {})
    }

    /// Loads the selected tensors, calling `progress` with the number of bytes read after each
    /// read (from several threads when loading in parallel). The calls add up to
    /// [`tensor_bytes`](Self::tensor_bytes) on success.
    ///
    /// Each file is reopened and its length and header checked against the inventory first;
    /// each tensor's bytes are then read with positioned reads straight into the buffer the
    /// tensor owns. No memory map is used, so a file truncated mid-load is an error, not a
    /// `SIGBUS`.
    ///
    /// Every buffer is sized from the inventory, never from what the file says at load time,
    /// and allocated fallibly: memory that cannot be had is
    /// [`OutOfMemory`](WeightsError::OutOfMemory), not an abort. With an
    /// [`Allowance`](LoadOptions::within), the load's bytes are drawn from it first.
    ///
    /// # Errors
    /// [`UnsupportedConversion`](WeightsError::UnsupportedConversion),
    /// [`UnsupportedDtype`](WeightsError::UnsupportedDtype), and
    /// [`Changed`](WeightsError::Changed) when the allowance has too little left, before
    /// anything is read; [`Truncated`](WeightsError::Truncated) or
    /// [`Changed`](WeightsError::Changed) if a file differs from its inventory;
    /// [`OutOfMemory`](WeightsError::OutOfMemory); [`Io`](WeightsError::Io) and
    /// [`NotRegularFile`](WeightsError::NotRegularFile) if a file cannot be opened again;
    /// [`Candle`](WeightsError::Candle).
    pub fn load_with_progress(
        &self,
        options: &LoadOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<LoadedTensors> {
        if let Some(target) = options.dtype.filter(|t| !t.is_convertible_float()) {
            return Err(WeightsError::UnsupportedConversion { target });
        }
        if let Some((file, t)) = self
            .tensors()
            .find(|(_, t)| t.dtype().to_candle().is_none())
        {
            return Err(WeightsError::UnsupportedDtype {
                path: file.path().to_path_buf(),
                tensor: t.name().to_owned(),
                dtype: t.dtype(),
                target: "candle",
            });
        }
        self.draw(options.allowance.as_ref(), options.dtype)?;
        let parallel = options.parallel && POSITIONED_READS;
        let groups = self.selection_by_file();
        let per_file = |(f, tensors): &(usize, Vec<usize>)| -> Result<Vec<(String, Tensor)>> {
            let inv = &self.files()[*f];
            let file = reopen(inv)?;
            let source = Source::new(&file, inv, progress);
            let one = |&t: &usize| {
                let info = &inv.tensors()[t];
                let tensor = load_tensor(&source, info, options)?;
                Ok((info.name().to_owned(), tensor))
            };
            if parallel {
                tensors.par_iter().map(one).collect()
            } else {
                tensors.iter().map(one).collect()
            }
        };
        let loaded: Vec<Vec<(String, Tensor)>> = if parallel {
            groups.par_iter().map(per_file).collect::<Result<_>>()?
        } else {
            groups.iter().map(per_file).collect::<Result<_>>()?
        };
        Ok(LoadedTensors {
            tensors: loaded.into_iter().flatten().collect(),
        })
    }
}

impl Checkpoint {
    /// Draws what a load with `dtype` conversion allocates from `allowance`, if any: the
    /// check both [`load_with_progress`](Self::load_with_progress) and `load_mlx` make
    /// before allocating anything.
    pub(crate) fn draw(&self, allowance: Option<&Allowance>, dtype: Option<Dtype>) -> Result<()> {
        let Some(allowance) = allowance else {
            return Ok(());
        };
        let needed = self.loaded_bytes(dtype);
        if allowance.draw(needed) {
            return Ok(());
        }
        let path = self
            .files()
            .first()
            .map_or_else(Default::default, |f| f.path().to_path_buf());
        Err(WeightsError::Changed {
            path,
            reason: format!(
                "a load of it needs {needed} bytes, but only {} of the {} bytes \
                 reserved for the model are left (a file is larger than when the model \
                 was sized)",
                allowance.left(),
                allowance.reserved()
            ),
        })
    }
}

/// Reads one tensor into a CPU tensor that owns the read buffer, then moves it to the device.
fn load_tensor(src: &Source<'_>, info: &TensorInfo, options: &LoadOptions) -> Result<Tensor> {
    let inv: &FileInventory = src.inv();
    let candle_err = |source| WeightsError::Candle {
        path: inv.path().to_path_buf(),
        tensor: info.name().to_owned(),
        source: Box::new(source),
    };
    let too_big = |_| WeightsError::BadShape {
        path: inv.path().to_path_buf(),
        tensor: info.name().to_owned(),
        shape: info.shape().iter().map(|&d| d as u64).collect(),
    };
    let named = |e: WeightsError| e.for_tensor(info.name());
    let numel = usize::try_from(info.numel()).map_err(too_big)?;
    let byte_len = usize::try_from(info.byte_len()).map_err(too_big)?;
    let offset = inv.data_start() + info.data_offsets()[0];
    let shape = info.shape().to_vec();
    let stored = info.dtype();
    let loaded = stored.loaded_as(options.dtype);
    let cpu = |r: candle_core::Result<Tensor>| r.map_err(candle_err);
    let dev = &Device::Cpu;

    macro_rules! plain {
        ($t:ty) => {
            cpu(Tensor::from_vec(
                src.read_vec::<$t>(offset, numel).map_err(named)?,
                shape,
                dev,
            ))?
        };
    }
    macro_rules! converted {
        ($s:ty) => {
            match loaded {
                Dtype::BF16 => cpu(Tensor::from_vec(
                    src.read_converted::<$s, bf16>(offset, numel)
                        .map_err(named)?,
                    shape,
                    dev,
                ))?,
                Dtype::F16 => cpu(Tensor::from_vec(
                    src.read_converted::<$s, f16>(offset, numel)
                        .map_err(named)?,
                    shape,
                    dev,
                ))?,
                Dtype::F32 => cpu(Tensor::from_vec(
                    src.read_converted::<$s, f32>(offset, numel)
                        .map_err(named)?,
                    shape,
                    dev,
                ))?,
                Dtype::F64 => cpu(Tensor::from_vec(
                    src.read_converted::<$s, f64>(offset, numel)
                        .map_err(named)?,
                    shape,
                    dev,
                ))?,
                target => return Err(WeightsError::UnsupportedConversion { target }),
            }
        };
    }

    let tensor = if loaded != stored {
        match stored {
            Dtype::BF16 => converted!(bf16),
            Dtype::F16 => converted!(f16),
            Dtype::F32 => converted!(f32),
            Dtype::F64 => converted!(f64),
            _ => return Err(WeightsError::UnsupportedConversion { target: loaded }),
        }
    } else {
        match stored {
            Dtype::BOOL | Dtype::U8 => plain!(u8),
            Dtype::U32 => plain!(u32),
            Dtype::I16 => plain!(i16),
            Dtype::I32 => plain!(i32),
            Dtype::I64 => plain!(i64),
            Dtype::BF16 => plain!(bf16),
            Dtype::F16 => plain!(f16),
            Dtype::F32 => plain!(f32),
            Dtype::F64 => plain!(f64),
            Dtype::F8_E4M3 => {
                // candle does not export its F8E4M3 element type, so this dtype goes through
                // `from_raw_buffer`, which copies: one extra tensor held briefly.
                let bytes = src.read_vec::<u8>(offset, numel).map_err(named)?;
                cpu(Tensor::from_raw_buffer(&bytes, DType::F8E4M3, &shape, dev))?
            }
            Dtype::F6_E2M3 | Dtype::F6_E3M2 | Dtype::F4 | Dtype::F8_E8M0 => {
                // candle keeps these as raw packed bytes; hand it the read buffer as is.
                let bytes = src.read_vec::<u8>(offset, byte_len).map_err(named)?;
                let storage = match stored {
                    Dtype::F6_E2M3 => CpuStorage::F6E2M3(bytes),
                    Dtype::F6_E3M2 => CpuStorage::F6E3M2(bytes),
                    Dtype::F4 => CpuStorage::F4(bytes),
                    _ => CpuStorage::F8E8M0(bytes),
                };
                Tensor::from_storage(Storage::Cpu(storage), shape, BackpropOp::none(), false)
            }
            other => {
                return Err(WeightsError::UnsupportedDtype {
                    path: inv.path().to_path_buf(),
                    tensor: info.name().to_owned(),
                    dtype: other,
                    target: "candle",
                });
            }
        }
    };
    if options.device.is_cpu() {
        Ok(tensor)
    } else {
        tensor.to_device(&options.device).map_err(candle_err)
    }
}
