//! Test helpers: a hand-written safetensors writer independent of the crate's own, able to
//! produce both valid and deliberately corrupt files.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use modelcache_weights::WeightsError;

/// One tensor for the helper writer.
#[derive(Clone, Debug)]
pub struct T {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

fn size(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "BF16" | "F16" | "I16" | "U16" => 2,
        _ => 1,
    }
}

pub fn t(name: &str, dtype: &'static str, shape: &[u64], data: Vec<u8>) -> T {
    T {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

pub fn f32s(name: &str, shape: &[u64], v: &[f32]) -> T {
    t(
        name,
        "F32",
        shape,
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

pub fn f64s(name: &str, shape: &[u64], v: &[f64]) -> T {
    t(
        name,
        "F64",
        shape,
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

pub fn bf16s(name: &str, shape: &[u64], v: &[f32]) -> T {
    let data = v
        .iter()
        .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
        .collect();
    t(name, "BF16", shape, data)
}

pub fn f16s(name: &str, shape: &[u64], v: &[f32]) -> T {
    let data = v
        .iter()
        .flat_map(|x| f16::from_f32(*x).to_le_bytes())
        .collect();
    t(name, "F16", shape, data)
}

pub fn u32s(name: &str, shape: &[u64], v: &[u32]) -> T {
    t(
        name,
        "U32",
        shape,
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

pub fn i64s(name: &str, shape: &[u64], v: &[i64]) -> T {
    t(
        name,
        "I64",
        shape,
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

/// The header JSON for `tensors` as laid out in this order (no sorting), with `__metadata__`.
pub fn header_for(tensors: &[T], metadata: &[(&str, &str)]) -> String {
    let mut json = String::from("{");
    if !metadata.is_empty() {
        json.push_str("\"__metadata__\":{");
        let pairs: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("{k:?}:{v:?}"))
            .collect();
        json.push_str(&pairs.join(","));
        json.push_str("},");
    }
    let mut offset = 0;
    for t in tensors {
        let end = offset + t.data.len();
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        write!(
            json,
            "{:?}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}},",
            t.name,
            t.dtype,
            shape.join(",")
        )
        .unwrap();
        offset = end;
    }
    if json.ends_with(',') {
        json.pop();
    }
    json.push('}');
    json
}

/// Writes `8-byte length + header (space-padded to a multiple of 8) + data` verbatim.
pub fn write_raw(path: &Path, header: &str, data: &[u8]) -> PathBuf {
    let mut header = header.to_owned();
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Writes a valid file: tensors sorted by dtype size (descending) then name.
pub fn write(path: &Path, tensors: &[T], metadata: &[(&str, &str)]) -> PathBuf {
    let mut sorted = tensors.to_vec();
    sorted.sort_by(|a, b| size(b.dtype).cmp(&size(a.dtype)).then(a.name.cmp(&b.name)));
    let data: Vec<u8> = sorted.iter().flat_map(|t| t.data.clone()).collect();
    write_raw(path, &header_for(&sorted, metadata), &data)
}

/// Writes `{"metadata": {...}, "weight_map": {...}}`.
pub fn write_index(path: &Path, metadata: &str, map: &[(&str, &str)]) -> PathBuf {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    let json = format!(
        "{{\"metadata\":{metadata},\"weight_map\":{{{}}}}}\n",
        entries.join(",")
    );
    std::fs::write(path, json).unwrap();
    path.to_path_buf()
}

/// Asserts that the error's Display names `path` (and `tensor`, when given).
pub fn assert_names(err: &WeightsError, path: &Path, tensor: Option<&str>) {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "`{text}` does not name {}",
        path.display()
    );
    if let Some(tensor) = tensor {
        assert!(
            text.contains(&format!("`{tensor}`")),
            "`{text}` does not name {tensor}"
        );
        assert_eq!(err.tensor(), Some(tensor));
    }
}

/// Writes a file whose one tensor `name` (`dtype`, `shape`) spans `bytes` bytes of data, and
/// makes it sparse: only the header takes disk space, so 100 GiB tensors cost nothing.
pub fn write_sparse(path: &Path, name: &str, dtype: &str, shape: &[u64], bytes: u64) -> PathBuf {
    let shape: Vec<String> = shape.iter().map(u64::to_string).collect();
    let header = format!(
        "{{{name:?}:{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[0,{bytes}]}}}}",
        shape.join(",")
    );
    let path = write_raw(path, &header, &[]);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len + bytes)
        .unwrap();
    path
}

/// A header of `count` empty `U8` tensors (`t0`, `t1`, ...), about 50 bytes each.
pub fn many_tensors_header(count: usize) -> String {
    let mut json = String::with_capacity(count * 52 + 2);
    json.push('{');
    for i in 0..count {
        if i > 0 {
            json.push(',');
        }
        write!(
            json,
            "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"
        )
        .unwrap();
    }
    json.push('}');
    json
}

/// Makes a FIFO at `path`.
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    modelcache_testkit::mkfifo(path).unwrap();
}
