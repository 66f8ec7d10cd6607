//! Helpers shared by the integration tests: an independent header reader and whole-fixture validation.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use modelcache_testkit::{FixtureReport, TensorSpec};
use safetensors::SafeTensors;
use serde_json::Value;

/// One entry of a safetensors header, read without the testkit's code.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub begin: u64,
    pub end: u64,
}

/// A header read by hand: length prefix, raw JSON, entries in data order, metadata.
#[derive(Debug, Clone)]
pub struct Header {
    pub json_len: u64,
    pub entries: Vec<Entry>,
    pub metadata: Option<BTreeMap<String, String>>,
}

pub fn read_header(path: &Path) -> Header {
    let bytes = fs::read(path).unwrap();
    let json_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let raw = &bytes[8..8 + json_len as usize];
    assert_eq!(
        raw[0],
        b'{',
        "{}: header must start with '{{'",
        path.display()
    );
    let v: Value = serde_json::from_slice(raw).unwrap();
    let mut entries = Vec::new();
    let mut metadata = None;
    for (k, e) in v.as_object().unwrap() {
        if k == "__metadata__" {
            let m = e
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            metadata = Some(m);
            continue;
        }
        let off = e["data_offsets"].as_array().unwrap();
        entries.push(Entry {
            name: k.clone(),
            dtype: e["dtype"].as_str().unwrap().to_owned(),
            shape: e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect(),
            begin: off[0].as_u64().unwrap(),
            end: off[1].as_u64().unwrap(),
        });
    }
    entries.sort_by_key(|e| e.begin);
    Header {
        json_len,
        entries,
        metadata,
    }
}

fn dtype_rank(d: &str) -> u8 {
    match d {
        "F16" => 13,
        "BF16" => 14,
        "U32" => 16,
        "F32" => 17,
        "I64" => 20,
        other => panic!("unexpected dtype {other}"),
    }
}

/// Validates one file with the `safetensors` crate and the hand reader; returns its tensors.
pub fn check_file(path: &Path) -> Vec<TensorSpec> {
    let bytes = fs::read(path).unwrap();
    let st =
        SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let h = read_header(path);
    assert_eq!(
        h.json_len % 8,
        0,
        "{}: header not padded to 8",
        path.display()
    );
    assert_eq!(
        8 + h.json_len + h.entries.last().map_or(0, |e| e.end),
        bytes.len() as u64
    );
    // Data order = (dtype rank desc, name), as the reference writer lays it out.
    let mut expected: Vec<&Entry> = h.entries.iter().collect();
    expected.sort_by(|a, b| {
        dtype_rank(&b.dtype)
            .cmp(&dtype_rank(&a.dtype))
            .then(a.name.cmp(&b.name))
    });
    let order: Vec<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let actual: Vec<&str> = h.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(order, actual, "{}: data order", path.display());
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let dtype = format!("{:?}", view.dtype());
        check_finite(&name, &dtype, view.data());
        let dt = match dtype.as_str() {
            "BF16" => modelcache_testkit::Dtype::BF16,
            "F16" => modelcache_testkit::Dtype::F16,
            "F32" => modelcache_testkit::Dtype::F32,
            "U32" => modelcache_testkit::Dtype::U32,
            "I64" => modelcache_testkit::Dtype::I64,
            other => panic!("{other}"),
        };
        out.push(TensorSpec::new(
            name,
            dt,
            view.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(),
        ));
    }
    out
}

fn check_finite(name: &str, dtype: &str, data: &[u8]) {
    let values: Vec<f32> = match dtype {
        "BF16" => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        "F16" => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        "F32" => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => return,
    };
    for v in values {
        assert!(v.is_finite() && v.abs() < 1.0, "{name}: {v}");
    }
}

/// Validates every weight file and index of a fixture against its report.
pub fn check_fixture(report: &FixtureReport) {
    let mut actual: BTreeMap<PathBuf, BTreeMap<String, TensorSpec>> = BTreeMap::new();
    let mut claimed: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for c in &report.components {
        let want: BTreeMap<String, TensorSpec> = c
            .tensors
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        let mut got = BTreeMap::new();
        for f in &c.files {
            let in_file = actual.entry(f.clone()).or_insert_with(|| {
                check_file(f)
                    .into_iter()
                    .map(|t| (t.name.clone(), t))
                    .collect()
            });
            for (name, t) in in_file.iter() {
                if want.contains_key(name) {
                    got.insert(name.clone(), t.clone());
                    claimed.entry(f.clone()).or_default().insert(name.clone());
                }
            }
        }
        assert_eq!(
            got, want,
            "component {}: keys, shapes or dtypes differ",
            c.name
        );
    }
    for (f, tensors) in &actual {
        let names: BTreeSet<String> = tensors.keys().cloned().collect();
        assert_eq!(
            Some(&names),
            claimed.get(f),
            "{}: tensors no component claims",
            f.display()
        );
    }
    let mut sum = 0;
    for f in &report.files {
        assert!(f.is_file(), "{} missing", f.display());
        sum += fs::metadata(f).unwrap().len();
        if f.to_string_lossy().ends_with(".index.json") {
            check_index(f);
        } else if f.extension().is_some_and(|e| e == "json") {
            let _: Value = serde_json::from_slice(&fs::read(f).unwrap()).unwrap();
        }
    }
    assert_eq!(sum, report.file_bytes);
}

/// An index maps every key of every shard beside it, to the shard holding it; `total_size` is the data sum.
pub fn check_index(path: &Path) {
    let v: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let dir = path.parent().unwrap();
    let map = v["weight_map"].as_object().unwrap();
    let files: BTreeSet<&str> = map.values().map(|f| f.as_str().unwrap()).collect();
    let mut data = 0;
    let mut keys = BTreeSet::new();
    for f in &files {
        for e in read_header(&dir.join(f)).entries {
            assert_eq!(
                map[&e.name].as_str(),
                Some(*f),
                "{}: {}",
                path.display(),
                e.name
            );
            data += e.end - e.begin;
            keys.insert(e.name);
        }
    }
    assert_eq!(
        keys.len(),
        map.len(),
        "{}: weight_map has keys in no shard",
        path.display()
    );
    if let Some(total) = v["metadata"]["total_size"].as_u64() {
        assert_eq!(total, data, "{}: total_size", path.display());
    }
    // Python's `json.dumps(indent=2, sort_keys=True) + "\n"` shape.
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("{\n  \"metadata\": {") && text.ends_with("}\n"),
        "{}",
        path.display()
    );
}

/// Reads a golden key table written by `tests/golden/generate.py`.
pub fn golden(name: &str) -> BTreeMap<String, Vec<u64>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, s) = l.split_once('\t').unwrap();
            (
                k.to_owned(),
                s.split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| d.parse().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// A key table as `name -> shape`.
pub fn shapes(t: &[TensorSpec]) -> BTreeMap<String, Vec<u64>> {
    t.iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect()
}
