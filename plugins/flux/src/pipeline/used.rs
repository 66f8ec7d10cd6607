//! A `VarBuilder` backend over loaded tensors that records what the model code takes: the
//! tensors a built pipeline holds, so its size is measured, not assumed.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use modelcache_weights::candle_core::{DType, Device, Result, Shape, Tensor};

/// The tensors of one component, and the bytes of each one the model code took.
pub(super) struct Taken {
    tensors: HashMap<String, Tensor>,
    taken: Mutex<HashMap<String, u64>>,
}

impl Taken {
    pub(super) fn new(tensors: HashMap<String, Tensor>) -> Self {
        Self {
            tensors,
            taken: Mutex::new(HashMap::new()),
        }
    }

    fn record(&self, name: &str, t: &Tensor) {
        let bytes = (t.elem_count() * t.dtype().size_in_bytes()) as u64;
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        taken.insert(name.to_owned(), bytes);
    }

    /// The bytes of every tensor taken once (a tensor taken twice is one tensor).
    pub(super) fn bytes(&self) -> u64 {
        let taken = self
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        taken.values().sum()
    }
}

/// A shared [`Taken`]: the builder reads through it, the caller reads its count afterwards.
pub(super) struct Shared<'a>(pub(super) &'a Taken);

impl SimpleBackend for Shared<'_> {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = SimpleBackend::get(&self.0.tensors, s, name, h, dtype, dev)?;
        self.0.record(name, &t);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let t = SimpleBackend::get_unchecked(&self.0.tensors, name, dtype, dev)?;
        self.0.record(name, &t);
        Ok(t)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.tensors.contains_key(name)
    }
}

/// A `VarBuilder` reading `taken` in `dtype` on the CPU.
pub(super) fn builder(taken: &Taken, dtype: DType) -> VarBuilder<'_> {
    VarBuilder::from_backend(Box::new(Shared(taken)), dtype, Device::Cpu)
}
