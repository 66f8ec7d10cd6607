//! What a plugin tells the suite: its backend and its fixture cases.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelcache_backend::Backend;

type WriteFn = dyn Fn(&Path) -> io::Result<PathBuf> + Send + Sync;
type OptionsFn<O> = dyn Fn() -> O + Send + Sync;
type FilesFn = dyn Fn(&Path) -> Vec<PathBuf> + Send + Sync;

/// One fixture layout a backend must load.
pub struct Case<B: Backend> {
    /// A short name for reports (`"bfl-single-file"`).
    pub name: &'static str,
    pub(crate) write: Box<WriteFn>,
    pub(crate) options: Box<OptionsFn<B::Options>>,
    pub(crate) used_files: Option<Box<FilesFn>>,
    pub(crate) optional_files: Option<Box<FilesFn>>,
}

impl<B: Backend> Case<B> {
    /// A case whose fixture `write` creates under the given folder, returning the path to give
    /// the backend (the folder itself or a file in it). Options are the defaults.
    pub fn new(
        name: &'static str,
        write: impl Fn(&Path) -> io::Result<PathBuf> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            write: Box::new(write),
            options: Box::new(B::Options::default),
            used_files: None,
            optional_files: None,
        }
    }

    /// Options to load this case with.
    #[must_use]
    pub fn options(mut self, options: impl Fn() -> B::Options + Send + Sync + 'static) -> Self {
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
}

/// A backend and its fixture cases.
pub struct Suite<B: Backend> {
    /// The backend under test.
    pub backend: Arc<B>,
    /// The layouts it must load.
    pub cases: Vec<Case<B>>,
}

impl<B: Backend> Suite<B> {
    /// A suite for `backend` with no cases yet.
    pub fn new(backend: B) -> Self {
        Self {
            backend: Arc::new(backend),
            cases: Vec::new(),
        }
    }

    /// Adds a case.
    #[must_use]
    pub fn case(mut self, case: Case<B>) -> Self {
        self.cases.push(case);
        self
    }
}
