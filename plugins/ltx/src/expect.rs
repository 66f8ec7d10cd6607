//! Checking a checkpoint's header against the tensors a config implies, stopping at the first
//! problem.
//!
//! The key tables in [`keys`](crate::keys) call [`Expect::tensor`] once per expected tensor, in
//! module order, and return the first error with `?`. So the work is bounded by the tensors the
//! file really has (plus one), whatever counts an untrusted config claims.

use std::collections::BTreeMap;
use std::path::PathBuf;

use modelcache_backend::BackendError;
use modelcache_weights::{Checkpoint, CheckpointSource};

/// One component's checkpoint, checked against its config.
pub(crate) struct Expect<'a> {
    checkpoint: &'a Checkpoint,
    /// Prepended to every expected name (`model.diffusion_model.` in a single file).
    prefix: &'a str,
    /// The file named when a tensor is missing (the single file, index or folder).
    home: PathBuf,
    /// Where the config came from and the values that shape the tensors, for messages.
    why: String,
}

impl<'a> Expect<'a> {
    pub(crate) fn new(checkpoint: &'a Checkpoint, prefix: &'a str, why: String) -> Self {
        let home = match checkpoint.source() {
            CheckpointSource::File(path) | CheckpointSource::Folder(path) => path.clone(),
            CheckpointSource::Index(index) => index.path().to_path_buf(),
            _ => checkpoint
                .files()
                .first()
                .map(|f| f.path().to_path_buf())
                .unwrap_or_default(),
        };
        Self {
            checkpoint,
            prefix,
            home,
            why,
        }
    }

    /// The stored name of `name`.
    pub(crate) fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Requires tensor `name` with exactly `shape`.
    pub(crate) fn tensor(&self, name: &str, shape: &[u64]) -> Result<(), BackendError> {
        let full = self.full(name);
        match self.checkpoint.get(&full) {
            Some((_, info)) if same_shape(info.shape(), shape) => Ok(()),
            Some((file, info)) => Err(BackendError::Invalid {
                path: file.path().to_path_buf(),
                tensor: Some(full),
                reason: format!(
                    "shape {:?}, but the config implies {shape:?} ({})",
                    info.shape(),
                    self.why
                ),
            }),
            None => Err(self.missing(full, "the config requires it")),
        }
    }

    /// Checks tensor `name`'s shape if it is present.
    pub(crate) fn optional(&self, name: &str, shape: &[u64]) -> Result<(), BackendError> {
        if self.checkpoint.get(&self.full(name)).is_some() {
            self.tensor(name, shape)
        } else {
            Ok(())
        }
    }

    /// Requires tensor `name` whose dimension `axis` is `size` (for tensors whose other
    /// dimensions the config does not pin down).
    pub(crate) fn dim(
        &self,
        name: &str,
        axis: usize,
        size: u64,
        what: &str,
    ) -> Result<(), BackendError> {
        let full = self.full(name);
        let Some((file, info)) = self.checkpoint.get(&full) else {
            return Err(self.missing(full, "the config requires it"));
        };
        let found = info.shape().get(axis).map(|&d| d as u64);
        if found == Some(size) {
            return Ok(());
        }
        Err(BackendError::Invalid {
            path: file.path().to_path_buf(),
            tensor: Some(full),
            reason: format!(
                "shape {:?}: dimension {axis} should be {what} = {size} ({})",
                info.shape(),
                self.why
            ),
        })
    }

    /// A missing-tensor error for stored name `full`.
    pub(crate) fn missing(&self, full: String, because: &str) -> BackendError {
        BackendError::Invalid {
            path: self.home.clone(),
            tensor: Some(full),
            reason: format!("missing: {because} ({})", self.why),
        }
    }

    /// Requires the numbered blocks `{stem}{i}.*` to be exactly `0..configured`, judging by the
    /// highest index present; `first_key(i)` is the first tensor block `i` must have.
    pub(crate) fn block_count(
        &self,
        stem: &str,
        configured: u64,
        field: &str,
        first_key: impl Fn(u64) -> String,
    ) -> Result<(), BackendError> {
        let blocks = self.blocks(stem);
        let in_file = blocks.keys().next_back().map_or(0, |last| last + 1);
        let held = match in_file {
            0 => format!("no `{stem}*` block"),
            n => format!("{n} blocks ({stem}0 to {stem}{})", n - 1),
        };
        if in_file < configured {
            let reason = format!("the config's {field} is {configured}, but the file has {held}");
            return Err(self.missing(self.full(&first_key(in_file)), &reason));
        }
        if let Some((&index, name)) = blocks.range(configured..).next() {
            let path = self
                .checkpoint
                .get(name)
                .map_or_else(|| self.home.clone(), |(f, _)| f.path().to_path_buf());
            return Err(BackendError::Invalid {
                path,
                tensor: Some(name.clone()),
                reason: format!(
                    "block {index} is beyond the config's {field} = {configured}: the file has \
                     {held} ({})",
                    self.why
                ),
            });
        }
        Ok(())
    }

    /// Block index → the first stored name of that block, for names `{prefix}{stem}{i}.…`.
    fn blocks(&self, stem: &str) -> BTreeMap<u64, String> {
        let head = self.full(stem);
        let mut blocks = BTreeMap::new();
        for name in self.checkpoint.names() {
            let index = name
                .strip_prefix(&head)
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(i, _)| i.parse::<u64>().ok());
            if let Some(i) = index {
                blocks.entry(i).or_insert_with(|| name.to_owned());
            }
        }
        blocks
    }
}

fn same_shape(found: &[usize], expected: &[u64]) -> bool {
    found.len() == expected.len() && found.iter().zip(expected).all(|(&f, &e)| f as u64 == e)
}
