//! The writing context every generator shares: resolves paths, records files and components.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::{ComponentReport, FixtureReport};
use crate::safetensors_writer::{Metadata, write_safetensors};
use crate::shard::{self, WrittenShards};
use crate::{TensorSpec, json};

pub(crate) struct Out {
    seed: u64,
    report: FixtureReport,
}

impl Out {
    pub(crate) fn new(dir: &Path, seed: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            seed,
            report: FixtureReport::new(dir),
        })
    }

    /// `dir/rel`, with its parent folder created.
    fn path(&self, rel: &str) -> io::Result<PathBuf> {
        let p = self.report.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        Ok(p)
    }

    fn record(&mut self, path: PathBuf, bytes: u64) {
        self.report.files.push(path);
        self.report.file_bytes += bytes;
    }

    /// One safetensors file holding one whole component.
    pub(crate) fn safetensors(
        &mut self,
        component: &str,
        rel: &str,
        tensors: Vec<TensorSpec>,
        metadata: Option<&Metadata>,
    ) -> io::Result<()> {
        self.safetensors_seeded(component, rel, tensors, metadata, self.seed)
    }

    /// As [`Out::safetensors`] with another content seed (files whose keys repeat, like voice packs).
    pub(crate) fn safetensors_seeded(
        &mut self,
        component: &str,
        rel: &str,
        tensors: Vec<TensorSpec>,
        metadata: Option<&Metadata>,
        seed: u64,
    ) -> io::Result<()> {
        let path = self.path(rel)?;
        let bytes = write_safetensors(&path, &tensors, metadata, seed)?;
        self.record(path.clone(), bytes);
        self.component(component, vec![path], tensors);
        Ok(())
    }

    /// One safetensors file holding several components (an LTX single file: transformer and VAE).
    pub(crate) fn safetensors_multi(
        &mut self,
        rel: &str,
        parts: Vec<(&str, Vec<TensorSpec>)>,
        metadata: Option<&Metadata>,
    ) -> io::Result<()> {
        let path = self.path(rel)?;
        let all: Vec<TensorSpec> = parts.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
        let bytes = write_safetensors(&path, &all, metadata, self.seed)?;
        self.record(path.clone(), bytes);
        for (name, tensors) in parts {
            self.component(name, vec![path.clone()], tensors);
        }
        Ok(())
    }

    /// A Hugging Face sharded component: `<stem>-0000k-of-0000n.safetensors` + index, or one `<stem>.safetensors`.
    pub(crate) fn hf_sharded(
        &mut self,
        component: &str,
        subdir: &str,
        stem: &str,
        tensors: Vec<TensorSpec>,
        max_shard_bytes: u64,
        metadata: Option<&Metadata>,
    ) -> io::Result<()> {
        let dir = self.report.dir.join(subdir);
        let w = shard::write_sharded(&dir, stem, &tensors, max_shard_bytes, metadata, self.seed)?;
        self.shards(component, w, tensors);
        Ok(())
    }

    /// An mflux component: `0.safetensors`, `1.safetensors`, ... + `model.safetensors.index.json`.
    pub(crate) fn mflux_sharded(
        &mut self,
        component: &str,
        subdir: &str,
        tensors: Vec<TensorSpec>,
        max_shard_bytes: u64,
        metadata: &Metadata,
    ) -> io::Result<()> {
        let dir = self.report.dir.join(subdir);
        let w = shard::write_mflux_sharded(&dir, &tensors, max_shard_bytes, metadata, self.seed)?;
        self.shards(component, w, tensors);
        Ok(())
    }

    fn shards(&mut self, component: &str, w: WrittenShards, tensors: Vec<TensorSpec>) {
        self.report.file_bytes += w.bytes;
        self.report.files.extend(w.shards.iter().cloned());
        self.report.files.extend(w.index);
        self.component(component, w.shards, tensors);
    }

    /// A JSON file written as `json.dumps(v, indent=2, sort_keys=True) + "\n"`.
    pub(crate) fn json(&mut self, rel: &str, value: &Value) -> io::Result<()> {
        self.bytes(rel, json::pretty_sorted(value).as_bytes())
    }

    /// Any other file.
    pub(crate) fn bytes(&mut self, rel: &str, data: &[u8]) -> io::Result<()> {
        let path = self.path(rel)?;
        fs::write(&path, data)?;
        self.record(path, data.len() as u64);
        Ok(())
    }

    fn component(&mut self, name: &str, files: Vec<PathBuf>, tensors: Vec<TensorSpec>) {
        self.report.components.push(ComponentReport {
            name: name.to_owned(),
            files,
            tensors,
        });
    }

    pub(crate) fn finish(self) -> FixtureReport {
        self.report
    }
}
