//! Helpers shared by the Flux integration tests.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a subset; helpers panic on failure

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use modelcache_backend::{BackendError, BackendExt, LoadProgress, ModelSource, NoProgress};
use modelcache_flux::{BACKEND, FluxModel, FluxOptions, LoadedComponent};
use modelcache_testkit::ComponentReport;
use modelcache_weights::Dtype;

/// `memory_hint` of `path` with `options`.
pub fn hint(path: &Path, options: &FluxOptions) -> Result<u64, BackendError> {
    BACKEND.memory_hint(&source(path, options))
}

/// `load` of `path` with `options`.
pub fn load(path: &Path, options: &FluxOptions) -> Result<FluxModel, BackendError> {
    BACKEND.open_and_load(&source(path, options), &NoProgress)
}

pub fn source<'a>(path: &'a Path, options: &'a FluxOptions) -> ModelSource<'a, FluxOptions> {
    ModelSource::new("flux-test", path, options)
}

/// name -> (dtype, shape) of a loaded component.
pub fn loaded_table(c: &LoadedComponent) -> BTreeMap<String, (String, Vec<u64>)> {
    c.tensors()
        .iter()
        .map(|(name, t)| {
            let dtype = Dtype::from(t.dtype()).as_str().to_owned();
            let shape = t.dims().iter().map(|&d| d as u64).collect();
            (name.to_owned(), (dtype, shape))
        })
        .collect()
}

/// name -> (dtype, shape) the fixture wrote.
pub fn fixture_table(c: &ComponentReport) -> BTreeMap<String, (String, Vec<u64>)> {
    c.tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                (t.dtype.as_str().to_owned(), t.shape.clone()),
            )
        })
        .collect()
}

/// Records what a load reports.
#[derive(Default)]
pub struct Recorder {
    pub total: AtomicU64,
    pub advanced: AtomicU64,
}

impl LoadProgress for Recorder {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64) {
        self.advanced.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Unwraps an `Invalid` error into `(file name, tensor, reason)`, checking that its text names
/// both the file and the tensor.
pub fn invalid(err: BackendError) -> (std::path::PathBuf, String, String) {
    let text = err.to_string();
    match err {
        BackendError::Invalid {
            path,
            tensor: Some(tensor),
            reason,
        } => {
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&tensor), "{text}");
            (path, tensor, reason)
        }
        other => panic!("expected Invalid with a tensor, got {other:?}: {text}"),
    }
}
