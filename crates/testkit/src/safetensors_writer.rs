//! A streaming safetensors writer.
//!
//! The layout follows the reference writer (`safetensors/src/tensor.rs`): an 8-byte little-endian header length,
//! a compact JSON header (`__metadata__` first when present, then the tensors sorted by dtype rank descending and
//! then by name), padded with spaces to a multiple of 8, then the tensor bytes back to back in header order. Data is
//! generated and written in 1 MiB chunks, so a multi-GiB file never sits in memory.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::TensorSpec;
use crate::fill::TensorFiller;

/// The string-to-string map stored under `__metadata__`.
pub type Metadata = BTreeMap<String, String>;

/// Bytes generated per write call. A multiple of 8, as [`TensorFiller::fill`] needs.
const CHUNK: usize = 1 << 20;

/// An encoded header: the padded JSON and the order the data follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHeader {
    /// The JSON header, padded with `0x20` to a multiple of 8 (what the u64 length prefix counts).
    pub json: Vec<u8>,
    /// Indices into the tensor slice, in data order.
    pub order: Vec<usize>,
    /// Length of the data section.
    pub data_len: u64,
}

impl EncodedHeader {
    /// Size of the whole file: 8 + header + data.
    pub fn file_len(&self) -> u64 {
        8 + self.json.len() as u64 + self.data_len
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Builds the header for `tensors` without touching the disk.
///
/// # Errors
///
/// `InvalidInput` when two tensors share a key or a key is `__metadata__`.
pub fn encode_header(
    tensors: &[TensorSpec],
    metadata: Option<&Metadata>,
) -> io::Result<EncodedHeader> {
    let mut seen = HashSet::with_capacity(tensors.len());
    for t in tensors {
        if t.name == "__metadata__" || !seen.insert(t.name.as_str()) {
            return Err(invalid(format!(
                "duplicate or reserved tensor key `{}`",
                t.name
            )));
        }
    }
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (l, r) = (&tensors[a], &tensors[b]);
        r.dtype
            .rank()
            .cmp(&l.dtype.rank())
            .then_with(|| l.name.cmp(&r.name))
    });

    let mut json = String::with_capacity(64 + tensors.len() * 96);
    json.push('{');
    if let Some(meta) = metadata {
        json.push_str("\"__metadata__\":{");
        for (i, (k, v)) in meta.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&quote(k));
            json.push(':');
            json.push_str(&quote(v));
        }
        json.push('}');
    }
    let mut offset = 0u64;
    for (i, &idx) in order.iter().enumerate() {
        let t = &tensors[idx];
        if i > 0 || metadata.is_some() {
            json.push(',');
        }
        let end = offset + t.byte_len();
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        json.push_str(&format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(&t.name),
            t.dtype.as_str(),
            shape.join(",")
        ));
        offset = end;
    }
    json.push('}');
    let mut json = json.into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    Ok(EncodedHeader {
        json,
        order,
        data_len: offset,
    })
}

/// JSON string literal for `s`.
fn quote(s: &str) -> String {
    // Serialising a `&str` cannot fail: serde_json only errors on non-string map keys and I/O.
    serde_json::to_string(s).unwrap_or_default()
}

/// Writes `tensors` to `path` with seeded contents and returns the file size.
///
/// # Errors
///
/// Any I/O error, or `InvalidInput` for duplicate keys.
pub fn write_safetensors(
    path: &Path,
    tensors: &[TensorSpec],
    metadata: Option<&Metadata>,
    seed: u64,
) -> io::Result<u64> {
    let header = encode_header(tensors, metadata)?;
    let mut out = BufWriter::with_capacity(CHUNK, File::create(path)?);
    out.write_all(&(header.json.len() as u64).to_le_bytes())?;
    out.write_all(&header.json)?;
    let mut buf = vec![0u8; CHUNK];
    for &idx in &header.order {
        let t = &tensors[idx];
        let mut filler = TensorFiller::new(seed, &t.name, t.dtype);
        let mut left = t.byte_len();
        while left > 0 {
            let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
            filler.fill(&mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
    out.flush()?;
    Ok(header.file_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dtype;

    #[test]
    fn header_is_sorted_padded_and_compact() {
        let t = [
            TensorSpec::new("b", Dtype::BF16, [2]),
            TensorSpec::new("a", Dtype::BF16, [3]),
            TensorSpec::new("z", Dtype::F32, [1]),
        ];
        let mut m = Metadata::new();
        m.insert("format".into(), "pt".into());
        let h = encode_header(&t, Some(&m)).unwrap();
        let s = String::from_utf8(h.json.clone()).unwrap();
        assert_eq!(
            s.trim_end(),
            r#"{"__metadata__":{"format":"pt"},"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"BF16","shape":[3],"data_offsets":[4,10]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[10,14]}}"#
        );
        assert_eq!(h.json.len() % 8, 0);
        assert_eq!(h.order, vec![2, 1, 0]);
        assert_eq!(h.data_len, 14);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let t = [
            TensorSpec::new("a", Dtype::F32, [1]),
            TensorSpec::new("a", Dtype::F32, [1]),
        ];
        assert!(encode_header(&t, None).is_err());
    }
}
