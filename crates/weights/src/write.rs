//! A small streaming safetensors writer, byte-compatible with the reference writer.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};

/// One tensor to write: raw little-endian bytes in row-major order.
#[derive(Debug, Clone, Copy)]
pub struct TensorData<'a> {
    /// The header key.
    pub name: &'a str,
    /// The element type.
    pub dtype: Dtype,
    /// The shape (`&[]` for a scalar).
    pub shape: &'a [usize],
    /// Exactly the bytes dtype and shape imply.
    pub data: &'a [u8],
}

impl<'a> TensorData<'a> {
    /// Describes one tensor.
    pub fn new(name: &'a str, dtype: Dtype, shape: &'a [usize], data: &'a [u8]) -> Self {
        Self {
            name,
            dtype,
            shape,
            data,
        }
    }
}

/// Writes a safetensors file the way the reference writer does: tensors ordered by dtype
/// alignment (descending), then by name; compact JSON header with `__metadata__` first (when
/// given) padded with spaces to a multiple of 8; data back to back. Tensor bytes are streamed to
/// the file, not gathered in memory. Returns the file's length.
///
/// # Errors
/// [`WriteSizeMismatch`](WeightsError::WriteSizeMismatch) if a tensor's data does not match its
/// dtype and shape, [`BadShape`](WeightsError::BadShape) if the size overflows or is not whole
/// bytes, [`DuplicateTensor`](WeightsError::DuplicateTensor),
/// [`InvalidTensorEntry`](WeightsError::InvalidTensorEntry) for a tensor named `__metadata__`,
/// and [`Io`](WeightsError::Io). Nothing is written before the arguments are checked.
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = TensorData<'a>>,
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<u64> {
    let mut tensors: Vec<TensorData<'a>> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(b.name)));
    let header = header_json(path, &tensors, metadata)?;
    let io = |e| WeightsError::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    out.write_all(&(header.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(header.as_bytes()).map_err(io)?;
    let mut len = 8 + header.len() as u64;
    for t in &tensors {
        out.write_all(t.data).map_err(io)?;
        len += t.data.len() as u64;
    }
    out.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    Ok(len)
}

fn header_json(
    path: &Path,
    tensors: &[TensorData<'_>],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<String> {
    // Serializing a `&str` or a string map cannot fail.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut json = String::from("{");
    if let Some(metadata) = metadata {
        json.push_str("\"__metadata__\":{");
        let pairs: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
            .collect();
        json.push_str(&pairs.join(","));
        json.push('}');
    }
    let mut seen = HashSet::new();
    let mut offset = 0u64;
    for t in tensors {
        let bad_entry = |reason: &str| WeightsError::InvalidTensorEntry {
            path: path.to_path_buf(),
            tensor: t.name.to_owned(),
            reason: reason.to_owned(),
        };
        if t.name == "__metadata__" {
            return Err(bad_entry("`__metadata__` is reserved"));
        }
        if !seen.insert(t.name) {
            return Err(WeightsError::DuplicateTensor {
                tensor: t.name.to_owned(),
                first: path.to_path_buf(),
                second: path.to_path_buf(),
            });
        }
        let dims: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
        let expected = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| t.dtype.bytes_for(n))
            .ok_or_else(|| WeightsError::BadShape {
                path: path.to_path_buf(),
                tensor: t.name.to_owned(),
                shape: dims.clone(),
            })?;
        if expected != t.data.len() as u64 {
            return Err(WeightsError::WriteSizeMismatch {
                path: path.to_path_buf(),
                tensor: t.name.to_owned(),
                expected,
                actual: t.data.len() as u64,
            });
        }
        if json.len() > 1 {
            json.push(',');
        }
        let end = offset + expected;
        let shape: Vec<String> = dims.iter().map(u64::to_string).collect();
        json.push_str(&format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(t.name),
            t.dtype,
            shape.join(",")
        ));
        offset = end;
    }
    json.push('}');
    let padded = json.len().next_multiple_of(8);
    json.extend(std::iter::repeat_n(' ', padded - json.len()));
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileInventory;

    #[test]
    fn reference_order_and_padding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let f32s = [0u8; 8];
        let bf16s = [0u8; 4];
        let len = write_safetensors(
            &path,
            [
                TensorData::new("b", Dtype::BF16, &[2], &bf16s),
                TensorData::new("z", Dtype::F32, &[2], &f32s),
                TensorData::new("a", Dtype::BF16, &[2], &bf16s),
                TensorData::new("s", Dtype::U8, &[], &[7]),
            ],
            Some(&BTreeMap::from([("format".to_owned(), "pt".to_owned())])),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(
            header.starts_with(r#"{"__metadata__":{"format":"pt"},"z":"#),
            "{header}"
        );
        let order: Vec<_> = ["\"z\"", "\"a\"", "\"b\"", "\"s\""]
            .iter()
            .map(|k| header.find(k).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{header}");
        let inv = FileInventory::read(&path).unwrap();
        assert_eq!(inv.tensor("s").unwrap().data_offsets(), [16, 17]);
        assert_eq!(inv.metadata()["format"], "pt");
    }

    #[test]
    fn rejects_bad_input_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let err = write_safetensors(
            &path,
            [TensorData::new("t", Dtype::F32, &[2], &[0; 7])],
            None,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            WeightsError::WriteSizeMismatch {
                expected: 8,
                actual: 7,
                ..
            }
        ));
        let t = TensorData::new("t", Dtype::U8, &[1], &[0]);
        let err = write_safetensors(&path, [t, t], None).unwrap_err();
        assert!(matches!(err, WeightsError::DuplicateTensor { .. }));
        assert!(!path.exists());
    }
}
