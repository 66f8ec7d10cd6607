//! Fixtures and helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use modelcache_backend::{BackendError, BackendExt, ModelSource, NoProgress};
use modelcache_ltx::{BACKEND, Component, LtxModel, LtxOptions};
use modelcache_testkit::{FixtureReport, LtxSpec, write_ltx_diffusers, write_ltx_single_file};
use serde_json::Value;

/// The single file the tiny spec writes.
pub const FILE: &str = "ltx-video-2b-v0.9.safetensors";

pub fn single_file(dir: &Path, spec: &LtxSpec) -> (PathBuf, FixtureReport) {
    let report = write_ltx_single_file(dir, spec).unwrap();
    (dir.join(&spec.file_name), report)
}

pub fn diffusers(dir: &Path, spec: &LtxSpec) -> FixtureReport {
    write_ltx_diffusers(dir, spec).unwrap()
}

pub fn options(components: &[Component]) -> LtxOptions {
    LtxOptions {
        components: components.to_vec(),
        ..LtxOptions::default()
    }
}

pub fn hint(path: &Path, options: &LtxOptions) -> Result<u64, BackendError> {
    BACKEND.memory_hint(&ModelSource::new("ltx-test", path, options))
}

pub fn load(path: &Path, options: &LtxOptions) -> Result<LtxModel, BackendError> {
    BACKEND.open_and_load(&ModelSource::new("ltx-test", path, options), &NoProgress)
}

/// Hint and load fail alike; returns the load's error after checking that the hint's says
/// the same.
pub fn both_fail(path: &Path, options: &LtxOptions) -> BackendError {
    let h = hint(path, options).expect_err("the hint must fail");
    let l = load(path, options)
        .map(|_| ())
        .expect_err("the load must fail");
    assert_eq!(h.to_string(), l.to_string());
    l
}

/// The `Invalid` fields of `err`, or a panic naming it.
pub fn invalid(err: &BackendError) -> (&Path, Option<&str>, &str) {
    match err {
        BackendError::Invalid {
            path,
            tensor,
            reason,
        } => (path, tensor.as_deref(), reason),
        other => panic!("expected Invalid, got {other:?}: {other}"),
    }
}

/// Rewrites the JSON header of a safetensors file in place (the data stays as it is; offsets
/// are relative to the data, so they stay valid).
pub fn edit_header(file: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut json = serde_json::to_vec(&header).unwrap();
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(file, out).unwrap();
}

/// Edits the single file's `__metadata__["config"]` as JSON.
pub fn edit_config(file: &Path, edit: impl FnOnce(&mut Value)) {
    edit_header(file, |header| {
        let meta = header["__metadata__"].as_object_mut().unwrap();
        let mut config: Value = serde_json::from_str(meta["config"].as_str().unwrap()).unwrap();
        edit(&mut config);
        meta.insert("config".into(), Value::String(config.to_string()));
    });
}

/// Edits a diffusers component's `config.json`.
pub fn edit_json_file(file: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(file, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The `.safetensors` files under `dir`, recursively, sorted.
pub fn safetensors_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "safetensors") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
