//! What a plugin tells the suite: its backend and its fixture cases.

use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelcache_backend::{Backend, DynBackend};

use crate::parts::CandleParts;

type WriteFn = dyn Fn(&Path) -> io::Result<PathBuf> + Send + Sync;
type OptionsFn<O> = dyn Fn() -> O + Send + Sync;
type FilesFn = dyn Fn(&Path) -> Vec<PathBuf> + Send + Sync;

/// One fixture layout a backend must load, with the options (`O`) to load it with: the
/// backend's options type in a [`Suite`], a TOML table in a [`DynSuite`].
pub struct Case<O> {
    /// A short name for reports (`"bfl-single-file"`).
    pub name: &'static str,
    pub(crate) write: Box<WriteFn>,
    pub(crate) options: Box<OptionsFn<O>>,
    pub(crate) used_files: Option<Box<FilesFn>>,
    pub(crate) optional_files: Option<Box<FilesFn>>,
}

impl<O: Default + 'static> Case<O> {
    /// A case whose fixture `write` creates under the given folder, returning the path to give
    /// the backend (the folder itself or a file in it). Options are the defaults.
    pub fn new(
        name: &'static str,
        write: impl Fn(&Path) -> io::Result<PathBuf> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            write: Box::new(write),
            options: Box::new(O::default),
            used_files: None,
            optional_files: None,
        }
    }
}

impl<O> Case<O> {
    /// Options to load this case with.
    #[must_use]
    pub fn options(mut self, options: impl Fn() -> O + Send + Sync + 'static) -> Self {
        self.options = Box::new(options);
        self
    }

    /// The `.safetensors` files the backend reads for this case, given the model path (default:
    /// every `.safetensors` file under the fixture folder). Corruptions are applied to these.
    #[must_use]
    pub fn used_files(
        mut self,
        files: impl Fn(&Path) -> Vec<PathBuf> + Send + Sync + 'static,
    ) -> Self {
        self.used_files = Some(Box::new(files));
        self
    }

    /// Files the backend reads if present but may do without (a voice under "all voices"):
    /// they get every corruption except deletion.
    #[must_use]
    pub fn optional_files(
        mut self,
        files: impl Fn(&Path) -> Vec<PathBuf> + Send + Sync + 'static,
    ) -> Self {
        self.optional_files = Some(Box::new(files));
        self
    }

    /// Writes the fixture under `dir` (an existing folder) and returns the model path: for
    /// harnesses that reuse a suite's fixtures (the fuzz targets and property tests).
    ///
    /// # Errors
    /// Any I/O error of the writer.
    pub fn write_into(&self, dir: &Path) -> io::Result<PathBuf> {
        (self.write)(dir)
    }
}

/// A backend and its fixture cases.
pub struct Suite<B: Backend> {
    /// The backend under test.
    pub backend: Arc<B>,
    /// The layouts it must load.
    pub cases: Vec<Case<B::Options>>,
    pub(crate) selector: Option<fn(u8) -> B::Options>,
    pub(crate) parts: Option<CandleParts<B>>,
}

impl<B: Backend> Suite<B> {
    /// A suite for `backend` with no cases yet.
    pub fn new(backend: B) -> Self {
        Self {
            backend: Arc::new(backend),
            cases: Vec::new(),
            selector: None,
            parts: None,
        }
    }

    /// Adds a case.
    #[must_use]
    pub fn case(mut self, case: Case<B::Options>) -> Self {
        self.cases.push(case);
        self
    }

    /// How a fuzzer picks options: a map from any byte to options (valid or not) that covers
    /// the choices the backend offers. Fuzz targets and property tests pair the suite's
    /// fixtures with the options it selects; without one they use the defaults.
    #[must_use]
    pub fn options_selector(mut self, select: fn(u8) -> B::Options) -> Self {
        self.selector = Some(select);
        self
    }

    /// How a loaded model splits into named parts of candle tensors. With it, the suite checks
    /// that a demotion and a promotion keep every tensor, value for value (a backend that
    /// moves models); without it, only their types and sizes.
    #[must_use]
    pub fn parts(mut self, parts: CandleParts<B>) -> Self {
        self.parts = Some(parts);
        self
    }

    /// The options `selector` selects (see [`options_selector`](Self::options_selector)).
    pub fn select_options(&self, selector: u8) -> B::Options {
        self.selector
            .map_or_else(B::Options::default, |f| f(selector))
    }
}

/// A backend behind the erased contract (a dynamic plugin, or anything held as a
/// `dyn DynBackend`) and its fixture cases, whose options are what models.toml would hold.
/// `M` is the type of the loaded model, as the program names it in `get::<M>`.
///
/// It runs the same contract checks as a [`Suite`]: `contract_tests!(dyn_suite())`.
pub struct DynSuite<M> {
    /// The backend under test.
    pub backend: Arc<dyn DynBackend>,
    /// The layouts it must load, with their `options` tables.
    pub cases: Vec<Case<toml::Table>>,
    model: PhantomData<fn() -> M>,
}

impl<M> DynSuite<M> {
    /// A suite for `backend`, whose models load as `M`, with no cases yet.
    pub fn new(backend: Arc<dyn DynBackend>) -> Self {
        Self {
            backend,
            cases: Vec::new(),
            model: PhantomData,
        }
    }

    /// Adds a case (its options: an `options` table; empty means the defaults).
    #[must_use]
    pub fn case(mut self, case: Case<toml::Table>) -> Self {
        self.cases.push(case);
        self
    }
}
