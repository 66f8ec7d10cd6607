//! Deterministic tensor contents.
//!
//! Each tensor's bytes come from its own xorshift64* stream seeded by `(seed, key)`, so a value depends neither on
//! the order of tensors in a file nor on how a checkpoint is sharded. The generator is written out here rather than
//! taken from `rand`: `rand` documents `SmallRng` as not reproducible across versions, and fixtures must stay
//! byte-identical for a given seed.
//!
//! Floats are built bit by bit: a random sign, one of four exponents giving magnitudes in `[2^-6, 2^-2)`, and a
//! random mantissa. Every value is therefore finite, normal and small. Packed `U32` codes are raw random bits, and
//! `I64` tensors (position ids) count up from 0.

use crate::Dtype;

/// SplitMix64 finaliser: spreads a seed over all 64 bits.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream seed for one tensor: FNV-1a of the key, mixed with the fixture seed.
pub(crate) fn tensor_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    mix(seed ^ mix(h))
}

/// Whether a key names a tensor that real code divides by or takes a square root of, so it is filled positive.
fn positive(name: &str) -> bool {
    const SUFFIXES: [&str; 5] = [
        "std-of-means",
        "latents_std",
        "weight_g",
        ".scales",
        "mean-of-stds",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Fills one tensor's bytes, chunk after chunk.
pub(crate) struct TensorFiller {
    state: u64,
    dtype: Dtype,
    sign_mask: u64,
    /// Next element index, for `I64` tensors.
    index: i64,
}

impl TensorFiller {
    /// A filler for the tensor `name` of type `dtype` in a fixture seeded with `seed`.
    pub(crate) fn new(seed: u64, name: &str, dtype: Dtype) -> Self {
        // xorshift64* must not start at 0; `| 1` keeps it away.
        let state = tensor_seed(seed, name) | 1;
        let sign_mask = if positive(name) { 0 } else { u64::MAX };
        Self {
            state,
            dtype,
            sign_mask,
            index: 0,
        }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// One 8-byte word of output.
    fn word(&mut self) -> [u8; 8] {
        let r = self.next();
        let s = self.sign_mask;
        let w: u64 = match self.dtype {
            Dtype::BF16 => lanes16(
                r,
                |h| {
                    let sign = (h & 1) << 15;
                    let exp = 0x79 + ((h >> 1) & 3);
                    sign | (exp << 7) | ((h >> 3) & 0x7F)
                },
                s,
            ),
            Dtype::F16 => lanes16(
                r,
                |h| {
                    let sign = (h & 1) << 15;
                    let exp = 9 + ((h >> 1) & 3);
                    sign | (exp << 10) | ((h >> 3) & 0x3FF)
                },
                s,
            ),
            Dtype::F32 => {
                let lane = |v: u64| {
                    let sign = ((v & 1) << 31) & s;
                    let exp = 121 + ((v >> 1) & 3);
                    sign | (exp << 23) | ((v >> 3) & 0x7F_FFFF)
                };
                lane(r & 0xFFFF_FFFF) | (lane(r >> 32) << 32)
            }
            Dtype::U32 => r,
            Dtype::I64 => {
                let v = self.index;
                self.index += 1;
                return v.to_le_bytes();
            }
        };
        w.to_le_bytes()
    }

    /// Writes the next `buf.len()` bytes of the tensor. Every call but the last must pass a multiple of 8 bytes.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.word());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let w = self.word();
            rest.copy_from_slice(&w[..rest.len()]);
        }
    }
}

/// Applies `f` to the four 16-bit lanes of `r` and packs the results; `sign` masks the sign bits.
fn lanes16(r: u64, f: impl Fn(u64) -> u64, sign: u64) -> u64 {
    let sign16 = if sign == 0 { 0x7FFF } else { 0xFFFF };
    (0..4).fold(0, |acc, i| {
        acc | ((f((r >> (16 * i)) & 0xFFFF) & sign16) << (16 * i))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_change_the_stream() {
        let mut whole = vec![0u8; 1000];
        TensorFiller::new(7, "a.weight", Dtype::BF16).fill(&mut whole);
        let mut parts = vec![0u8; 1000];
        let mut f = TensorFiller::new(7, "a.weight", Dtype::BF16);
        let (a, b) = parts.split_at_mut(512);
        f.fill(a);
        f.fill(b);
        assert_eq!(whole, parts);
    }

    #[test]
    fn positive_tensors_have_no_sign_bit() {
        let mut buf = vec![0u8; 64];
        TensorFiller::new(1, "x.std-of-means", Dtype::F32).fill(&mut buf);
        for c in buf.chunks_exact(4) {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            assert!(v > 0.0 && v < 0.25, "{v}");
        }
    }

    #[test]
    fn i64_counts_up() {
        let mut buf = vec![0u8; 24];
        TensorFiller::new(1, "p", Dtype::I64).fill(&mut buf);
        assert_eq!(buf[8], 1);
        assert_eq!(buf[16], 2);
    }
}
