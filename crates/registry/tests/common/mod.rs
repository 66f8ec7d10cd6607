//! Test backends and helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
use modelcache_registry::Backends;
use serde::Deserialize;

/// A fake model family: the checkpoint must exist; the model's size comes from its options.
#[derive(Debug, Default)]
pub struct Fake {
    pub name: &'static str,
    pub loads: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FakeOptions {
    pub dtype: String,
    pub components: Vec<String>,
    pub bytes: u64,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            dtype: "f32".into(),
            components: Vec::new(),
            bytes: 1000,
        }
    }
}

/// What a [`Fake`] loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeModel {
    pub id: String,
    pub backend: String,
    pub path: PathBuf,
    pub dtype: String,
    pub components: Vec<String>,
    pub bytes: u64,
}

impl Backend for Fake {
    type Options = FakeOptions;
    type Model = FakeModel;
    type Plan = FakeModel;

    fn name(&self) -> &str {
        self.name
    }

    fn open(&self, src: &ModelSource<'_, FakeOptions>) -> Result<Opened<FakeModel>, BackendError> {
        if !src.path.exists() {
            return Err(BackendError::Missing {
                path: src.path.to_owned(),
                what: "checkpoint".into(),
            });
        }
        let model = FakeModel {
            id: src.id.to_owned(),
            backend: self.name.to_owned(),
            path: src.path.to_owned(),
            dtype: src.options.dtype.clone(),
            components: src.options.components.clone(),
            bytes: src.options.bytes,
        };
        Ok(Opened::new(model, Inspection::of_bytes(src.options.bytes)))
    }

    fn load(
        &self,
        model: FakeModel,
        _limit: u64,
        _progress: &dyn LoadProgress,
    ) -> Result<FakeModel, BackendError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(model)
    }

    fn check_options(&self, options: &FakeOptions) -> Result<(), BackendError> {
        if ["f32", "bf16", "f16"].contains(&options.dtype.as_str()) {
            Ok(())
        } else {
            Err(BackendError::Options {
                backend: self.name.to_owned(),
                reason: format!("dtype {:?} is not one of f32, bf16, f16", options.dtype),
            })
        }
    }
}

/// `flux`, `kokoro` and `ltx` fakes, with one load counter shared by all three.
pub fn backends() -> (Backends, Arc<AtomicUsize>) {
    let loads = Arc::new(AtomicUsize::new(0));
    let mut backends = Backends::new();
    for name in ["flux", "kokoro", "ltx"] {
        backends.register(Fake {
            name,
            loads: Arc::clone(&loads),
        });
    }
    (backends, loads)
}

/// Writes `text` as `models.toml` in `dir` and creates the checkpoint folders `existing`.
pub fn write_config(dir: &Path, text: &str, existing: &[&str]) -> PathBuf {
    for e in existing {
        std::fs::create_dir_all(dir.join(e)).unwrap();
    }
    let file = dir.join("models.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The (line, column) where `needle` starts in `text`.
pub fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The (line, column) a located config error points at.
pub fn at(e: &modelcache_registry::ConfigError) -> (usize, usize) {
    let at = e.at().unwrap();
    (at.line, at.column)
}
