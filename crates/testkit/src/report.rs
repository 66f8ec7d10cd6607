//! What a generator wrote, so tests can compare against it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::TensorSpec;

/// One component of a fixture (a transformer, a VAE, a text encoder, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentReport {
    /// Component name: `transformer`, `ae`, `vae`, `text_encoder`, `text_encoder_2`, `kokoro`, `voice:af_heart`...
    pub name: String,
    /// The weight files holding this component (shards included, index files not).
    pub files: Vec<PathBuf>,
    /// Every tensor, with the exact key written.
    pub tensors: Vec<TensorSpec>,
}

impl ComponentReport {
    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Sum of tensor data bytes (headers excluded).
    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(TensorSpec::byte_len).sum()
    }

    /// The expected key set.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }
}

/// Everything a generator wrote under its directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureReport {
    /// The directory the fixture was written into.
    pub dir: PathBuf,
    /// Every file written (weights, configs, indexes, tokenizer placeholders), as full paths.
    pub files: Vec<PathBuf>,
    /// Total bytes of all files written.
    pub file_bytes: u64,
    /// The weight components.
    pub components: Vec<ComponentReport>,
}

impl FixtureReport {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            ..Self::default()
        }
    }

    /// Tensors across all components.
    pub fn tensor_count(&self) -> usize {
        self.components
            .iter()
            .map(ComponentReport::tensor_count)
            .sum()
    }

    /// Tensor data bytes across all components.
    pub fn tensor_bytes(&self) -> u64 {
        self.components
            .iter()
            .map(ComponentReport::tensor_bytes)
            .sum()
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&ComponentReport> {
        self.components.iter().find(|c| c.name == name)
    }
}
