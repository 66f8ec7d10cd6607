//! Fixtures and shorthands shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use modelcache_backend::{BackendError, BackendExt, ModelSource, NoProgress};
use modelcache_kokoro::{BACKEND, KokoroModel, KokoroOptions};
use modelcache_testkit::kokoro::{KokoroConfig, kokoro_keys};
use modelcache_testkit::{
    FixtureReport, KokoroSpec, TensorSpec, write_kokoro_mlx, write_safetensors,
};
use serde_json::Value;

/// A tiny Kokoro folder with voices `af_heart`, `am_adam`, `bf_emma`.
pub fn fixture() -> (tempfile::TempDir, FixtureReport) {
    let dir = tempfile::tempdir().unwrap();
    let report = write_kokoro_mlx(dir.path(), &KokoroSpec::tiny().with_seed(3)).unwrap();
    (dir, report)
}

pub fn hint(dir: &Path, options: &KokoroOptions) -> Result<u64, BackendError> {
    BACKEND.memory_hint(&ModelSource::new("tts", dir, options))
}

pub fn load(dir: &Path, options: &KokoroOptions) -> Result<KokoroModel, BackendError> {
    BACKEND.open_and_load(&ModelSource::new("tts", dir, options), &NoProgress)
}

/// Both `memory_hint` and `load` fail; returns the hint's error after checking both say the
/// same thing.
pub fn both_fail(dir: &Path, options: &KokoroOptions) -> BackendError {
    let from_hint = hint(dir, options).expect_err("memory_hint succeeded");
    let from_load = load(dir, options).map(|_| ()).expect_err("load succeeded");
    assert_eq!(from_hint.to_string(), from_load.to_string());
    from_hint
}

/// Rewrites `config.json` after `edit`.
pub fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

/// Rewrites `kokoro-v1_0.safetensors` from the tiny key table after `edit`.
pub fn edit_weights(dir: &Path, edit: impl FnOnce(&mut Vec<TensorSpec>)) {
    let mut tensors = kokoro_keys(&KokoroConfig::tiny(), false).into_tensors();
    edit(&mut tensors);
    write_safetensors(&dir.join("kokoro-v1_0.safetensors"), &tensors, None, 1).unwrap();
}

/// The tensor called `name` in `tensors`.
pub fn spec<'a>(tensors: &'a mut [TensorSpec], name: &str) -> &'a mut TensorSpec {
    tensors.iter_mut().find(|t| t.name == name).unwrap()
}

/// The `(path, tensor, reason)` of an `Invalid` error.
pub fn invalid(err: BackendError) -> (PathBuf, Option<String>, String) {
    match err {
        BackendError::Invalid {
            path,
            tensor,
            reason,
        } => (path, tensor, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}
