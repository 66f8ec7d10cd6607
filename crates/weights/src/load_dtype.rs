//! [`LoadDtype`]: the one `dtype = "..."` option every plugin accepts, spelled the same way.

use serde::Deserialize;

use crate::dtype::Dtype;

/// A load-time conversion of floating-point tensors, as a plugin's `dtype` option: `"bf16"`
/// (or `"bfloat16"`), `"f16"` (or `"float16"`), `"f32"` (or `"float32"`). Integer and packed
/// quantized tensors keep their stored dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum LoadDtype {
    /// Brain float 16: half the memory of f32, f32's range.
    #[serde(rename = "bf16", alias = "bfloat16")]
    Bf16,
    /// IEEE half precision.
    #[serde(rename = "f16", alias = "float16")]
    F16,
    /// IEEE single precision.
    #[serde(rename = "f32", alias = "float32")]
    F32,
}

impl LoadDtype {
    /// The safetensors dtype converted to.
    pub const fn dtype(self) -> Dtype {
        match self {
            LoadDtype::Bf16 => Dtype::BF16,
            LoadDtype::F16 => Dtype::F16,
            LoadDtype::F32 => Dtype::F32,
        }
    }

    /// The name users write (`"bf16"`, `"f16"`, `"f32"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            LoadDtype::Bf16 => "bf16",
            LoadDtype::F16 => "f16",
            LoadDtype::F32 => "f32",
        }
    }
}

impl std::fmt::Display for LoadDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_spelling_users_type_is_accepted() {
        for (text, dtype) in [
            ("bf16", LoadDtype::Bf16),
            ("bfloat16", LoadDtype::Bf16),
            ("f16", LoadDtype::F16),
            ("float16", LoadDtype::F16),
            ("f32", LoadDtype::F32),
            ("float32", LoadDtype::F32),
        ] {
            let parsed: LoadDtype = serde_json::from_str(&format!("{text:?}")).unwrap();
            assert_eq!(parsed, dtype, "{text}");
        }
        let err = serde_json::from_str::<LoadDtype>("\"f8\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f8") && err.contains("bf16"), "{err}");
    }
}
