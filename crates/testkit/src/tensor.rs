//! Tensor descriptions and the ordered key tables the layout functions build.

use crate::Dtype;

/// One tensor of a checkpoint: its key, element type and shape. No data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// The full key as stored in the file.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, outermost dimension first.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// A tensor description.
    pub fn new(name: impl Into<String>, dtype: Dtype, shape: impl Into<Vec<u64>>) -> Self {
        Self {
            name: name.into(),
            dtype,
            shape: shape.into(),
        }
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes of data this tensor occupies in a safetensors file.
    pub fn byte_len(&self) -> u64 {
        self.numel() * self.dtype.size()
    }
}

/// An ordered list of tensors, built in module order: the order the model's code creates its parameters
/// (docs/checkpoint-layouts.md §1.3).
///
/// Helpers build the common module groups (`linear`, `conv2d`, `norm`; §1.2), so that a key table reads like the
/// model code it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTable {
    dtype: Dtype,
    tensors: Vec<TensorSpec>,
}

impl KeyTable {
    /// An empty table whose tensors default to `dtype`.
    pub fn new(dtype: Dtype) -> Self {
        Self {
            dtype,
            tensors: Vec::new(),
        }
    }

    /// Adds a tensor of the default dtype.
    pub fn tensor(&mut self, name: impl Into<String>, shape: impl Into<Vec<u64>>) {
        let dtype = self.dtype;
        self.tensors.push(TensorSpec::new(name, dtype, shape));
    }

    /// Adds a tensor of an explicit dtype.
    pub fn tensor_as(&mut self, name: impl Into<String>, dtype: Dtype, shape: impl Into<Vec<u64>>) {
        self.tensors.push(TensorSpec::new(name, dtype, shape));
    }

    /// A `Linear(i, o)`: `weight [o, i]` and, with `bias`, `bias [o]`.
    pub fn linear(&mut self, name: &str, i: u64, o: u64, bias: bool) {
        self.tensor(format!("{name}.weight"), [o, i]);
        if bias {
            self.tensor(format!("{name}.bias"), [o]);
        }
    }

    /// A square-kernel `Conv2d(i, o, k)`: `weight [o, i, k, k]`, `bias [o]`.
    pub fn conv2d(&mut self, name: &str, i: u64, o: u64, k: u64) {
        self.tensor(format!("{name}.weight"), [o, i, k, k]);
        self.tensor(format!("{name}.bias"), [o]);
    }

    /// An affine norm over `c` channels: `weight [c]`, `bias [c]`.
    pub fn norm(&mut self, name: &str, c: u64) {
        self.tensor(format!("{name}.weight"), [c]);
        self.tensor(format!("{name}.bias"), [c]);
    }

    /// The tensors, in insertion order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Consumes the table.
    pub fn into_tensors(self) -> Vec<TensorSpec> {
        self.tensors
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the table holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Total number of elements (parameters).
    pub fn numel(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::numel).sum()
    }

    /// Total data bytes.
    pub fn byte_len(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::byte_len).sum()
    }

    /// Every key, in insertion order.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }

    /// The same table with `prefix` in front of every key.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        for t in &mut self.tensors {
            t.name.insert_str(0, prefix);
        }
        self
    }

    /// The same table with every tensor converted to `dtype`.
    pub fn cast(mut self, dtype: Dtype) -> Self {
        self.dtype = dtype;
        for t in &mut self.tensors {
            t.dtype = dtype;
        }
        self
    }

    /// The same table with every key passed through `f`.
    pub fn rename(mut self, f: impl Fn(&str) -> String) -> Self {
        for t in &mut self.tensors {
            t.name = f(&t.name);
        }
        self
    }
}

/// Sum of data bytes of a tensor list.
pub fn total_bytes(tensors: &[TensorSpec]) -> u64 {
    tensors.iter().map(TensorSpec::byte_len).sum()
}
