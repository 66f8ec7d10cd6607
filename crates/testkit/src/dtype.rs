//! The element types the covered checkpoints use.

/// A safetensors element type (the subset the covered checkpoints use).
///
/// Only `BF16`, `F16`, `F32`, `I64` and `U32` (MLX packed weights) occur in Flux, LTX-Video and Kokoro files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// bfloat16.
    BF16,
    /// IEEE half precision.
    F16,
    /// IEEE single precision.
    F32,
    /// 32-bit unsigned integer (MLX packs quantized codes in these).
    U32,
    /// 64-bit signed integer (`position_ids` buffers).
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub const fn size(self) -> u64 {
        match self {
            Self::BF16 | Self::F16 => 2,
            Self::F32 | Self::U32 => 4,
            Self::I64 => 8,
        }
    }

    /// The header spelling (`"BF16"`, `"F32"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BF16 => "BF16",
            Self::F16 => "F16",
            Self::F32 => "F32",
            Self::U32 => "U32",
            Self::I64 => "I64",
        }
    }

    /// Position in the safetensors crate's `Dtype` enum, which orders by alignment (`... I16, U16, F16, BF16, I32,
    /// U32, F32, C64, F64, I64, U64`). The reference writer sorts tensors by this rank, descending, then by name.
    pub(crate) const fn rank(self) -> u8 {
        match self {
            Self::F16 => 13,
            Self::BF16 => 14,
            Self::U32 => 16,
            Self::F32 => 17,
            Self::I64 => 20,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
