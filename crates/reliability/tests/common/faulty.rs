//! A [`ModelLoader`] that wraps a real backend's and runs one-shot hooks at the points where
//! faults happen in production: after the open (the size is known and about to be reserved),
//! before the load, and at the load's first progress report (that is, after the first bytes of
//! tensor data were read).

use std::path::Path;
use std::sync::{Arc, Mutex};

use modelcache_backend::{
    BackendError, Inspection, LoadProgress, Loaded, ModelLoader, OpenedModel,
};

/// A hook: runs once; an error becomes the loader's error, a panic the loader's panic, a block
/// a slow load.
pub type Hook = Box<dyn FnOnce() -> Result<(), BackendError> + Send>;

type Slot = Arc<Mutex<Option<Hook>>>;

/// A real loader with fault hooks. Each hook runs at most once (the first time its point is
/// reached), so a retry after the fault runs the real loader untouched.
pub struct Faulty {
    inner: Arc<dyn ModelLoader>,
    after_hint: Slot,
    before_load: Slot,
    first_progress: Slot,
}

impl Faulty {
    pub fn new(inner: Arc<dyn ModelLoader>) -> Self {
        Self {
            inner,
            after_hint: Slot::default(),
            before_load: Slot::default(),
            first_progress: Slot::default(),
        }
    }

    /// Runs `hook` after the next successful open (what was opened is still returned).
    pub fn after_hint(
        self,
        hook: impl FnOnce() -> Result<(), BackendError> + Send + 'static,
    ) -> Self {
        *self.after_hint.lock().unwrap() = Some(Box::new(hook));
        self
    }

    /// Runs `hook` when the next load starts, before the backend's load.
    pub fn before_load(
        self,
        hook: impl FnOnce() -> Result<(), BackendError> + Send + 'static,
    ) -> Self {
        *self.before_load.lock().unwrap() = Some(Box::new(hook));
        self
    }

    /// Runs `hook` at the next load's first progress report, that is after the first chunk of
    /// tensor data was read. The hook runs under a lock every progress report takes, so every
    /// read that follows a report, on any loading thread, happens after the hook.
    pub fn on_first_progress(
        self,
        hook: impl FnOnce() -> Result<(), BackendError> + Send + 'static,
    ) -> Self {
        *self.first_progress.lock().unwrap() = Some(Box::new(hook));
        self
    }

    pub fn into_arc(self) -> Arc<dyn ModelLoader> {
        Arc::new(self)
    }
}

fn fire(slot: &Slot) -> Result<(), BackendError> {
    let hook = slot.lock().unwrap().take();
    hook.map_or(Ok(()), |h| h())
}

impl ModelLoader for Faulty {
    fn backend(&self) -> &str {
        self.inner.backend()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn open(&self) -> Result<Box<dyn OpenedModel>, BackendError> {
        let inner = self.inner.open()?;
        fire(&self.after_hint)?;
        Ok(Box::new(FaultyOpened {
            inner,
            before_load: Arc::clone(&self.before_load),
            first_progress: Arc::clone(&self.first_progress),
        }))
    }
}

/// An opened model whose load runs the hooks.
struct FaultyOpened {
    inner: Box<dyn OpenedModel>,
    before_load: Slot,
    first_progress: Slot,
}

impl OpenedModel for FaultyOpened {
    fn inspection(&self) -> &Inspection {
        self.inner.inspection()
    }

    fn read_bytes(&self) -> u64 {
        self.inner.read_bytes()
    }

    fn load(
        self: Box<Self>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<Loaded, BackendError> {
        fire(&self.before_load)?;
        let progress = FirstProgress {
            inner: progress,
            hook: &self.first_progress,
        };
        self.inner.load(limit, &progress)
    }
}

/// Runs the hook at the first `advance`, holding the lock that every `advance` takes.
struct FirstProgress<'a> {
    inner: &'a dyn LoadProgress,
    hook: &'a Slot,
}

impl LoadProgress for FirstProgress<'_> {
    fn start(&self, total_bytes: u64) {
        self.inner.start(total_bytes);
    }

    fn advance(&self, bytes: u64) {
        let mut slot = self.hook.lock().unwrap();
        if let Some(hook) = slot.take() {
            // A failing hook cannot fail the load from here; the damage it does will.
            hook().unwrap();
        }
        drop(slot);
        self.inner.advance(bytes);
    }

    fn finish(&self) {
        self.inner.finish();
    }
}
