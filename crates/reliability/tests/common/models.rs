//! One generated checkpoint per plugin, bound to the real backends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelcache_backend::ModelLoader;
use modelcache_core::{CacheError, CacheStats, ModelCache};
use modelcache_reliability::Plugin;
use modelcache_testkit::{
    BertSpec, FluxSpec, KokoroSpec, LtxSpec, write_bert, write_flux_diffusers, write_kokoro_mlx,
    write_ltx_single_file,
};

/// A Flux diffusers tree, an LTX single file, a Kokoro folder and a sharded BERT folder (the
/// generic safetensors backend's) in one temporary folder.
pub struct Models {
    pub dir: tempfile::TempDir,
}

impl Models {
    /// The tiny fixtures (about 1 MiB each).
    pub fn tiny() -> Self {
        Self::write(None, 0)
    }

    /// Fixtures of about `bytes` each, with contents from `seed`.
    pub fn scaled(bytes: u64, seed: u64) -> Self {
        Self::write(Some(bytes), seed)
    }

    fn write(bytes: Option<u64>, seed: u64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("modelcache-models-")
            .tempdir()
            .unwrap();
        let scale = |spec_scale: &mut Option<u64>| *spec_scale = bytes;
        let mut flux = FluxSpec::tiny().with_seed(seed);
        scale(&mut flux.scale);
        let mut ltx = LtxSpec::tiny().with_seed(seed);
        scale(&mut ltx.scale);
        let mut kokoro = KokoroSpec::tiny().with_seed(seed);
        scale(&mut kokoro.scale);
        write_flux_diffusers(&dir.path().join("flux"), &flux).unwrap();
        write_ltx_single_file(&dir.path().join("ltx"), &ltx).unwrap();
        write_kokoro_mlx(&dir.path().join("kokoro"), &kokoro).unwrap();
        // Scaled through the vocabulary: the word embeddings take about `bytes`.
        let mut bert = BertSpec::tiny().with_seed(seed).sharded(64 * 1024);
        if let Some(bytes) = bytes {
            bert.vocab_size = bert.vocab_size.max(bytes / (4 * bert.hidden_size));
            bert.max_shard_bytes = Some(bytes / 2);
        }
        write_bert(&dir.path().join("safetensors"), &bert).unwrap();
        Self { dir }
    }

    pub fn path(&self, plugin: Plugin) -> PathBuf {
        self.dir.path().join(plugin.name())
    }

    /// The real loader of `plugin`'s model, registered as model ID `plugin.name()` with the
    /// backend's default options.
    pub fn loader(&self, plugin: Plugin) -> Arc<dyn ModelLoader> {
        plugin.loader(plugin.name(), &self.path(plugin))
    }

    /// The largest file a load of `plugin`'s model reads, and the model's hint.
    pub fn victim(&self, plugin: Plugin) -> (PathBuf, u64) {
        let inspection = self.loader(plugin).inspect().unwrap();
        let file = inspection
            .files
            .iter()
            .max_by_key(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .cloned()
            .unwrap();
        (file, inspection.bytes)
    }
}

/// Charged bytes are exactly resident + loading + held: nothing leaked, nothing lost.
pub fn balanced(cache: &ModelCache) -> CacheStats {
    let s = cache.stats();
    assert_eq!(
        s.charged,
        s.resident_bytes + s.loading_bytes + s.held_bytes,
        "ledger out of balance: {s:?}"
    );
    s
}

/// `error` is about model `id` and names `file` in its message: its path, or its folder and
/// its name (a backend that looks for a missing file says where it looked and for what).
pub fn names(error: &CacheError, id: &str, file: &Path) {
    let message = error.to_string();
    let has = |p: &Path| message.contains(&*p.to_string_lossy());
    let in_folder = file.parent().is_some_and(has)
        && file
            .file_name()
            .is_some_and(|n| message.contains(&*n.to_string_lossy()));
    assert!(
        message.contains(&format!("{id:?}")) && (has(file) || in_folder),
        "error should name model {id:?} and {}: {message}",
        file.display()
    );
}
