//! The plugins' registered suites: the one place a plugin registers for tests.
//!
//! Each plugin keeps its fixtures and its fuzz options in `tests/suite/mod.rs` (the
//! conformance [`Suite`] its own `tests/conformance.rs` mounts); this module includes those
//! files, so the probes, the property tests and the fuzz targets run the same backend on the
//! same fixtures, and a plugin's knowledge is written once, next to the plugin. A new plugin is
//! one `#[path]` module and one [`Plugin`] variant here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use modelcache_backend::{Backend, BackendModel, ModelLoader};
use modelcache_conformance::Suite;

use crate::probe::{self, Between, Failure, Outcome};

#[path = "../../../plugins/flux/tests/suite/mod.rs"]
mod flux;
#[path = "../../../plugins/kokoro/tests/suite/mod.rs"]
mod kokoro;
#[path = "../../../plugins/ltx/tests/suite/mod.rs"]
mod ltx;
#[path = "../../../plugins/safetensors/tests/suite/mod.rs"]
mod safetensors;

/// The model families with a backend and a registered suite in this workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plugin {
    /// `modelcache-flux`.
    Flux,
    /// `modelcache-ltx`.
    Ltx,
    /// `modelcache-kokoro`.
    Kokoro,
    /// `modelcache-safetensors`.
    Safetensors,
}

impl Plugin {
    /// Every plugin.
    pub const ALL: [Plugin; 4] = [
        Plugin::Flux,
        Plugin::Ltx,
        Plugin::Kokoro,
        Plugin::Safetensors,
    ];

    /// The plugin's registered suite, its backend type erased.
    fn registered(self) -> &'static dyn Registered {
        static FLUX: OnceLock<Suite<modelcache_flux::FluxBackend>> = OnceLock::new();
        static LTX: OnceLock<Suite<modelcache_ltx::LtxBackend>> = OnceLock::new();
        static KOKORO: OnceLock<Suite<modelcache_kokoro::KokoroBackend>> = OnceLock::new();
        static SAFETENSORS: OnceLock<Suite<modelcache_safetensors::SafetensorsBackend>> =
            OnceLock::new();
        match self {
            Plugin::Flux => FLUX.get_or_init(flux::suite),
            Plugin::Ltx => LTX.get_or_init(ltx::suite),
            Plugin::Kokoro => KOKORO.get_or_init(kokoro::suite),
            Plugin::Safetensors => SAFETENSORS.get_or_init(safetensors::suite),
        }
    }

    /// The backend's name.
    pub fn name(self) -> &'static str {
        self.registered().name()
    }

    /// The backend bound to model `id` at `path` with its default options, as the cache holds it.
    pub fn loader(self, id: &str, path: &Path) -> Arc<dyn ModelLoader> {
        self.registered().loader(id, path)
    }

    /// Writes every case of the suite under `dir`, each in a folder named for the case;
    /// returns `(case folder, model path)` per case.
    pub(crate) fn write_cases(self, dir: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
        self.registered().write_cases(dir)
    }

    /// Runs the backend on `tree` with the options `selector` picks (see [`probe`]).
    pub(crate) fn probe(
        self,
        tree: &Path,
        selector: u8,
        root: &Path,
        between: Between<'_>,
    ) -> Result<Outcome, Failure> {
        self.registered().probe(tree, selector, root, between)
    }
}

/// What the harness needs of a suite, whatever its backend type.
trait Registered: Send + Sync {
    fn name(&'static self) -> &'static str;
    fn loader(&self, id: &str, path: &Path) -> Arc<dyn ModelLoader>;
    fn write_cases(&self, dir: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>>;
    fn probe(
        &self,
        tree: &Path,
        selector: u8,
        root: &Path,
        between: Between<'_>,
    ) -> Result<Outcome, Failure>;
}

impl<B: Backend> Registered for Suite<B> {
    fn name(&'static self) -> &'static str {
        self.backend.name()
    }

    fn loader(&self, id: &str, path: &Path) -> Arc<dyn ModelLoader> {
        let options = B::Options::default();
        Arc::new(BackendModel::new(
            Arc::clone(&self.backend),
            id,
            path,
            options,
        ))
    }

    fn write_cases(&self, dir: &Path) -> io::Result<Vec<(PathBuf, PathBuf)>> {
        let mut written = Vec::with_capacity(self.cases.len());
        for case in &self.cases {
            let folder = dir.join(case.name);
            std::fs::create_dir_all(&folder)?;
            let model = case.write_into(&folder)?;
            written.push((folder, model));
        }
        Ok(written)
    }

    fn probe(
        &self,
        tree: &Path,
        selector: u8,
        root: &Path,
        between: Between<'_>,
    ) -> Result<Outcome, Failure> {
        let options = self.select_options(selector);
        probe::run(&*self.backend, options, tree, root, between)
    }
}
