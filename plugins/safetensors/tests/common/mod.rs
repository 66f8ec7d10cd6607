//! Helpers shared by the safetensors backend's integration tests.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a subset

use std::path::Path;

use modelcache_backend::{BackendError, BackendExt, ModelSource, NoProgress};
use modelcache_safetensors::{BACKEND, SafetensorsModel, SafetensorsOptions};

/// Model `"test"` at `path` with `options`.
pub fn source<'a>(
    path: &'a Path,
    options: &'a SafetensorsOptions,
) -> ModelSource<'a, SafetensorsOptions> {
    ModelSource::new("test", path, options)
}

/// The hint, then the loaded model, which must measure exactly the hint.
pub fn load(
    path: &Path,
    options: &SafetensorsOptions,
) -> Result<(u64, SafetensorsModel), BackendError> {
    let hint = BACKEND.memory_hint(&source(path, options))?;
    let model = BACKEND.open_and_load(&source(path, options), &NoProgress)?;
    assert_eq!(model.resident_bytes(), hint, "the hint is the loaded size");
    Ok((hint, model))
}

/// The error of opening `path` (it must fail).
pub fn open_err(path: &Path, options: &SafetensorsOptions) -> BackendError {
    match BACKEND.inspect(&source(path, options)) {
        Ok(i) => panic!("opened: {i:?}"),
        Err(e) => e,
    }
}
