//! Reading and validating one safetensors header: the 8-byte length, then the JSON.
//!
//! Only `8 + N` bytes are ever read, with `N` checked against the limit and the file length
//! before anything is allocated. Validation follows the reference reader (`Metadata::validate`,
//! `read_metadata` in huggingface/safetensors) but reports which tensor is at fault.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{ErrorKind, Read};
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::dtype::Dtype;
use crate::error::{Result, WeightsError};
use crate::inventory::TensorInfo;

/// The largest header the reference reader accepts (`MAX_HEADER_SIZE`), in bytes; also the
/// most header bytes one checkpoint's files may have together.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// The most tensors one checkpoint may have, all its files together (the largest real ones
/// have under 100,000; FLUX.1's transformer has about 1,000). A header is parsed no further
/// than this many entries, so parsed header memory is bounded by this count and
/// [`MAX_HEADER_LEN`], whatever a file claims.
pub const MAX_TENSORS: usize = 1 << 17;

/// A parsed, validated header.
#[derive(Debug)]
pub(crate) struct Header {
    /// `N`: the JSON length, padding included.
    pub len: u64,
    /// `__metadata__`, if present.
    pub metadata: BTreeMap<String, String>,
    /// Tensors sorted by data offset (they tile `[0, buffer_len)`).
    pub tensors: Vec<TensorInfo>,
    /// Indexes into `tensors`, sorted by name (names are unique).
    pub by_name: Vec<u32>,
}

impl Header {
    /// Bytes of tensor data the header describes (`buffer_end`).
    pub fn buffer_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.data_offsets()[1])
    }
}

/// Reads and validates the header of a file of `file_len` bytes from `reader`, positioned at the
/// start of the file. Reads exactly `8 + N` bytes on success.
pub(crate) fn read(path: &Path, reader: &mut impl Read, file_len: u64) -> Result<Header> {
    let truncated = |expected| WeightsError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual: file_len,
    };
    let io = |e: std::io::Error, expected| {
        if e.kind() == ErrorKind::UnexpectedEof {
            truncated(expected)
        } else {
            WeightsError::io(path, e)
        }
    };
    if file_len < 8 {
        return Err(truncated(8));
    }
    let mut len_bytes = [0u8; 8];
    reader.read_exact(&mut len_bytes).map_err(|e| io(e, 8))?;
    let len = u64::from_le_bytes(len_bytes);
    if len > MAX_HEADER_LEN {
        return Err(WeightsError::HeaderTooLarge {
            path: path.to_path_buf(),
            len,
            limit: MAX_HEADER_LEN,
        });
    }
    let header_end = 8 + len; // cannot overflow: len <= MAX_HEADER_LEN
    if header_end > file_len {
        return Err(truncated(header_end));
    }
    // `len` is now bounded by both the limit and the file's real length.
    let capacity = usize::try_from(len).map_err(|_| truncated(header_end))?;
    let mut json = Vec::new();
    json.try_reserve_exact(capacity)
        .map_err(|_| WeightsError::OutOfMemory {
            path: path.to_path_buf(),
            tensor: None,
            bytes: len,
        })?;
    reader
        .take(len)
        .read_to_end(&mut json)
        .map_err(|e| io(e, header_end))?;
    if json.len() as u64 != len {
        return Err(truncated(header_end));
    }
    let mut header = parse_json(path, &json)?;
    header.len = len;
    let expected = header_end.saturating_add(header.buffer_len());
    if expected > file_len {
        return Err(truncated(expected));
    }
    if expected < file_len {
        return Err(WeightsError::TrailingBytes {
            path: path.to_path_buf(),
            expected,
            actual: file_len,
        });
    }
    Ok(header)
}

/// Parses and validates the JSON part of a header (without the length prefix).
pub(crate) fn parse_json(path: &Path, json: &[u8]) -> Result<Header> {
    let not_json = |reason: String| WeightsError::HeaderNotJson {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(json).map_err(|e| not_json(format!("not UTF-8: {e}")))?;
    if !text.starts_with('{') {
        return Err(not_json("does not start with `{`".into()));
    }
    let overflow = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Entries {
        limit: MAX_TENSORS,
        overflow: &overflow,
    }
    .deserialize(&mut de)
    .and_then(|entries| de.end().map(|()| entries));
    let entries = match parsed {
        Ok(entries) => entries,
        Err(_) if overflow.get() => {
            return Err(WeightsError::TooManyTensors {
                path: path.to_path_buf(),
                limit: MAX_TENSORS,
            });
        }
        Err(e) => return Err(not_json(e.to_string())),
    };

    let duplicate = |tensor: String| WeightsError::DuplicateTensor {
        tensor,
        first: path.to_path_buf(),
        second: path.to_path_buf(),
    };
    let mut metadata = None;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if name == METADATA_KEY {
            if metadata.is_some() {
                return Err(duplicate(name));
            }
            metadata = Some(parse_metadata(path, value)?);
        } else {
            tensors.push(parse_entry(path, name, value)?);
        }
    }
    sort_by_offset(&mut tensors);
    let by_name = name_index(&tensors).map_err(|t| duplicate(t.to_owned()))?;
    check_tiling(path, &tensors)?;
    Ok(Header {
        len: json.len() as u64,
        metadata: metadata.unwrap_or_default(),
        tensors,
        by_name,
    })
}

/// The key of the header's metadata entry.
const METADATA_KEY: &str = "__metadata__";

/// Indexes of `tensors` sorted by name (one allocation of 4 bytes per tensor, no name copied),
/// or the first name that occurs twice.
fn name_index(tensors: &[TensorInfo]) -> std::result::Result<Vec<u32>, &str> {
    // `tensors.len() <= MAX_TENSORS`, which fits a u32.
    let mut index: Vec<u32> = (0..tensors.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect();
    let name = |i: u32| tensors[i as usize].name();
    index.sort_unstable_by(|&a, &b| name(a).cmp(name(b)));
    match index.windows(2).find(|w| name(w[0]) == name(w[1])) {
        Some(w) => Err(name(w[0])),
        None => Ok(index),
    }
}

fn parse_metadata(path: &Path, raw: &RawValue) -> Result<BTreeMap<String, String>> {
    use serde_json::Value;
    let value: Value =
        serde_json::from_str(raw.get()).map_err(|e| WeightsError::HeaderNotJson {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(key, v)| match v {
                Value::String(s) => Ok((key, s)),
                _ => Err(WeightsError::MetadataNotString {
                    path: path.to_path_buf(),
                    key,
                }),
            })
            .collect(),
        _ => Err(WeightsError::HeaderNotJson {
            path: path.to_path_buf(),
            reason: "`__metadata__` is not an object".into(),
        }),
    }
}

#[derive(serde::Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

fn parse_entry(path: &Path, name: String, value: &RawValue) -> Result<TensorInfo> {
    let raw: RawEntry = match serde_json::from_str(value.get()) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(WeightsError::InvalidTensorEntry {
                path: path.to_path_buf(),
                tensor: name,
                reason: e.to_string(),
            });
        }
    };
    let Ok(dtype) = raw.dtype.parse::<Dtype>() else {
        return Err(WeightsError::UnknownDtype {
            path: path.to_path_buf(),
            tensor: name,
            dtype: raw.dtype,
        });
    };
    // The product of the non-zero dimensions must fit too, so that a zero-size tensor such as
    // `[0, 2^32, 2^32]` is refused here rather than overflowing candle's stride computation.
    let numel = raw
        .shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .map(|n| if raw.shape.contains(&0) { 0 } else { n });
    let shape: Option<Vec<usize>> = raw.shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let (Some(numel), Some(shape), Some(expected)) =
        (numel, shape, numel.and_then(|n| dtype.bytes_for(n)))
    else {
        return Err(WeightsError::BadShape {
            path: path.to_path_buf(),
            tensor: name,
            shape: raw.shape,
        });
    };
    let [begin, end] = raw.data_offsets;
    let Some(actual) = end.checked_sub(begin) else {
        return Err(WeightsError::InvalidOffsets {
            path: path.to_path_buf(),
            tensor: name,
            begin,
            end,
        });
    };
    if actual != expected {
        return Err(WeightsError::SizeMismatch {
            path: path.to_path_buf(),
            tensor: name,
            expected,
            actual,
        });
    }
    Ok(TensorInfo::new(name, dtype, shape, numel, [begin, end]))
}

fn sort_by_offset(tensors: &mut [TensorInfo]) {
    tensors.sort_by(|a, b| {
        a.data_offsets()
            .cmp(&b.data_offsets())
            .then_with(|| a.name().cmp(b.name()))
    });
}

/// Checks that tensors sorted by offset tile the buffer: first at 0, no gaps, no overlaps.
fn check_tiling(path: &Path, tensors: &[TensorInfo]) -> Result<()> {
    let mut expected = 0u64;
    for t in tensors.iter() {
        let [begin, end] = t.data_offsets();
        if begin != expected {
            let (path, tensor) = (path.to_path_buf(), t.name().to_owned());
            return Err(if begin > expected {
                WeightsError::OffsetsGap {
                    path,
                    tensor,
                    expected,
                    begin,
                }
            } else {
                WeightsError::OffsetsOverlap {
                    path,
                    tensor,
                    expected,
                    begin,
                }
            });
        }
        expected = end;
    }
    Ok(())
}

/// The top-level JSON object as ordered `(key, value)` pairs, duplicates kept (serde_json's own
/// map would silently keep the last one; the format forbids duplicates), and at most `limit`
/// tensors besides `__metadata__`: past that, parsing stops and `overflow` is set.
/// Values stay raw JSON text (no `Value` tree is built): each is parsed once into its own type.
struct Entries<'a> {
    limit: usize,
    overflow: &'a Cell<bool>,
}

type RawEntries<'de> = Vec<(String, &'de RawValue)>;

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = RawEntries<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = RawEntries<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        let mut tensors = 0usize;
        while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
            if entry.0 != METADATA_KEY {
                tensors += 1;
                if tensors > self.limit {
                    self.overflow.set(true);
                    return Err(A::Error::custom("too many tensors"));
                }
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Header> {
        parse_json(Path::new("t.safetensors"), json.as_bytes())
    }

    #[test]
    fn accepts_padding_metadata_and_any_key_order() {
        let h = parse(
            r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                "__metadata__":{"format":"pt"},
                "a":{"dtype":"U8","shape":[],"data_offsets":[4,5]}}    "#,
        )
        .unwrap();
        assert_eq!(h.metadata["format"], "pt");
        let names: Vec<_> = h.tensors.iter().map(TensorInfo::name).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(h.buffer_len(), 5);
    }

    #[test]
    fn zero_sized_tensors_tile() {
        let h = parse(
            r#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},
                "w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#,
        )
        .unwrap();
        assert_eq!(h.buffer_len(), 4);
        assert_eq!(h.tensors[0].name(), "e");
    }

    #[test]
    fn rejects_duplicates_and_non_objects() {
        let dup = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
                     "a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
        assert!(matches!(
            parse(dup),
            Err(WeightsError::DuplicateTensor { tensor, .. }) if tensor == "a"
        ));
        assert!(matches!(
            parse("[1]"),
            Err(WeightsError::HeaderNotJson { .. })
        ));
        assert!(matches!(
            parse(" {}"),
            Err(WeightsError::HeaderNotJson { .. })
        ));
        assert!(matches!(
            parse(r#"{"__metadata__":[1]}"#),
            Err(WeightsError::HeaderNotJson { .. })
        ));
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F32","shape":[1]}}"#),
            Err(WeightsError::InvalidTensorEntry { tensor, .. }) if tensor == "a"
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#),
            Err(WeightsError::BadShape { tensor, .. }) if tensor == "a"
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#),
            Err(WeightsError::BadShape { tensor, .. }) if tensor == "a"
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#),
            Err(WeightsError::BadShape { .. })
        ));
        assert!(matches!(
            parse(r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[5,4]}}"#),
            Err(WeightsError::InvalidOffsets {
                begin: 5,
                end: 4,
                ..
            })
        ));
    }
}
