//! The safetensors element types.

use std::fmt;
use std::str::FromStr;

/// A safetensors element type, as written in a header's `dtype` field.
///
/// The variants are declared in the reference implementation's order of increasing alignment,
/// so `Ord` is the order the reference writer sorts by (descending, then by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(non_camel_case_types)]
#[non_exhaustive]
pub enum Dtype {
    /// Boolean, one byte.
    BOOL,
    /// 4-bit float (MX4), two per byte.
    F4,
    /// 6-bit float, 2 exponent and 3 mantissa bits.
    F6_E2M3,
    /// 6-bit float, 3 exponent and 2 mantissa bits.
    F6_E3M2,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// 8-bit float, 5 exponent and 2 mantissa bits.
    F8_E5M2,
    /// 8-bit float, 4 exponent and 3 mantissa bits.
    F8_E4M3,
    /// 8-bit float, 8 exponent bits (a scale).
    F8_E8M0,
    /// 8-bit float, E4M3, finite, no negative zero.
    F8_E4M3FNUZ,
    /// 8-bit float, E5M2, finite, no negative zero.
    F8_E5M2FNUZ,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// IEEE half precision.
    F16,
    /// Brain float 16.
    BF16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer (MLX packs quantized weights in these).
    U32,
    /// IEEE single precision.
    F32,
    /// Complex of two `F32`.
    C64,
    /// IEEE double precision.
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
}

impl Dtype {
    /// Every dtype, in declaration order.
    pub const ALL: [Dtype; 22] = [
        Dtype::BOOL,
        Dtype::F4,
        Dtype::F6_E2M3,
        Dtype::F6_E3M2,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8_E5M2,
        Dtype::F8_E4M3,
        Dtype::F8_E8M0,
        Dtype::F8_E4M3FNUZ,
        Dtype::F8_E5M2FNUZ,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// Bits per element.
    pub const fn bits(self) -> u64 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6_E2M3 | Dtype::F6_E3M2 => 6,
            Dtype::BOOL
            | Dtype::U8
            | Dtype::I8
            | Dtype::F8_E5M2
            | Dtype::F8_E4M3
            | Dtype::F8_E8M0
            | Dtype::F8_E4M3FNUZ
            | Dtype::F8_E5M2FNUZ => 8,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }

    /// Bytes taken by `numel` elements, or `None` on overflow or when they do not fill a whole
    /// number of bytes (sub-byte dtypes).
    pub const fn bytes_for(self, numel: u64) -> Option<u64> {
        match numel.checked_mul(self.bits()) {
            Some(bits) if bits % 8 == 0 => Some(bits / 8),
            _ => None,
        }
    }

    /// The name used in headers (`"BF16"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Dtype::BOOL => "BOOL",
            Dtype::F4 => "F4",
            Dtype::F6_E2M3 => "F6_E2M3",
            Dtype::F6_E3M2 => "F6_E3M2",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8_E5M2 => "F8_E5M2",
            Dtype::F8_E4M3 => "F8_E4M3",
            Dtype::F8_E8M0 => "F8_E8M0",
            Dtype::F8_E4M3FNUZ => "F8_E4M3FNUZ",
            Dtype::F8_E5M2FNUZ => "F8_E5M2FNUZ",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    /// Whether a load-time conversion applies to tensors of this dtype: `BF16`, `F16`, `F32`
    /// and `F64`. Integers (including MLX's packed `U32` weights) and 8-bit-or-less floats are
    /// always loaded as stored.
    pub const fn is_convertible_float(self) -> bool {
        matches!(self, Dtype::BF16 | Dtype::F16 | Dtype::F32 | Dtype::F64)
    }

    /// The dtype a tensor stored as `self` has after a load with `target` conversion.
    pub const fn loaded_as(self, target: Option<Dtype>) -> Dtype {
        match target {
            Some(t) if self.is_convertible_float() => t,
            _ => self,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dtype string that the safetensors format does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown safetensors dtype `{0}`")]
pub struct UnknownDtypeName(pub String);

impl FromStr for Dtype {
    type Err = UnknownDtypeName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDtypeName(s.to_owned()))
    }
}

impl From<candle_core::DType> for Dtype {
    fn from(d: candle_core::DType) -> Self {
        use candle_core::DType as C;
        match d {
            C::U8 => Dtype::U8,
            C::U32 => Dtype::U32,
            C::I16 => Dtype::I16,
            C::I32 => Dtype::I32,
            C::I64 => Dtype::I64,
            C::BF16 => Dtype::BF16,
            C::F16 => Dtype::F16,
            C::F32 => Dtype::F32,
            C::F64 => Dtype::F64,
            C::F8E4M3 => Dtype::F8_E4M3,
            C::F6E2M3 => Dtype::F6_E2M3,
            C::F6E3M2 => Dtype::F6_E3M2,
            C::F4 => Dtype::F4,
            C::F8E8M0 => Dtype::F8_E8M0,
        }
    }
}

impl Dtype {
    /// The candle dtype a tensor stored as `self` loads into, if candle has one. `BOOL` loads as
    /// `U8` (same bytes); `I8`, `U16`, `U64`, `C64` and the `E5M2`/`FNUZ` 8-bit floats have none.
    pub const fn to_candle(self) -> Option<candle_core::DType> {
        use candle_core::DType as C;
        Some(match self {
            Dtype::BOOL | Dtype::U8 => C::U8,
            Dtype::U32 => C::U32,
            Dtype::I16 => C::I16,
            Dtype::I32 => C::I32,
            Dtype::I64 => C::I64,
            Dtype::BF16 => C::BF16,
            Dtype::F16 => C::F16,
            Dtype::F32 => C::F32,
            Dtype::F64 => C::F64,
            Dtype::F8_E4M3 => C::F8E4M3,
            Dtype::F6_E2M3 => C::F6E2M3,
            Dtype::F6_E3M2 => C::F6E3M2,
            Dtype::F4 => C::F4,
            Dtype::F8_E8M0 => C::F8E8M0,
            Dtype::I8
            | Dtype::U16
            | Dtype::U64
            | Dtype::C64
            | Dtype::F8_E5M2
            | Dtype::F8_E4M3FNUZ
            | Dtype::F8_E5M2FNUZ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_alignment() {
        for d in Dtype::ALL {
            assert_eq!(d.as_str().parse::<Dtype>(), Ok(d));
        }
        assert!("bf16".parse::<Dtype>().is_err());
        let mut sorted = Dtype::ALL;
        sorted.sort();
        assert_eq!(sorted, Dtype::ALL);
        // Increasing width, except that the reference lists BOOL first.
        assert!(
            Dtype::ALL[1..]
                .windows(2)
                .all(|w| w[0].bits() <= w[1].bits())
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(Dtype::BF16.bytes_for(3), Some(6));
        assert_eq!(Dtype::F4.bytes_for(4), Some(2));
        assert_eq!(Dtype::F4.bytes_for(3), None);
        assert_eq!(Dtype::F6_E2M3.bytes_for(4), Some(3));
        assert_eq!(Dtype::F64.bytes_for(u64::MAX), None);
        assert_eq!(Dtype::U8.bytes_for(0), Some(0));
    }

    #[test]
    fn conversion_applies_to_floats_only() {
        assert_eq!(Dtype::BF16.loaded_as(Some(Dtype::F32)), Dtype::F32);
        assert_eq!(Dtype::U32.loaded_as(Some(Dtype::F32)), Dtype::U32);
        assert_eq!(Dtype::F8_E4M3.loaded_as(Some(Dtype::F32)), Dtype::F8_E4M3);
        assert_eq!(Dtype::F16.loaded_as(None), Dtype::F16);
    }

    #[test]
    fn candle_mapping() {
        for d in Dtype::ALL {
            if let Some(c) = d.to_candle() {
                // BOOL is the one lossy mapping (to U8).
                if d != Dtype::BOOL {
                    assert_eq!(Dtype::from(c), d);
                }
            }
        }
    }
}
