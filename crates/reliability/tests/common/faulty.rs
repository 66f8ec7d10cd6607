//! A [`ModelLoader`] that wraps a real backend's and runs one-shot hooks at the points where
//! faults happen in production: after the size hint, before the load, and at the load's first
//! progress report (that is, after the first bytes of tensor data were read).

use std::path::Path;
use std::sync::{Arc, Mutex};

use modelcache_core::{BackendError, Inspection, LoadProgress, Loaded, ModelLoader};

/// A hook: runs once; an error becomes the loader's error, a panic the loader's panic, a block
/// a slow load.
pub type Hook = Box<dyn FnOnce() -> Result<(), BackendError> + Send>;

type Slot = Mutex<Option<Hook>>;

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
            after_hint: Mutex::new(None),
            before_load: Mutex::new(None),
            first_progress: Mutex::new(None),
        }
    }

    /// Runs `hook` after the next successful `memory_hint` (the hint is still returned).
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

    fn memory_hint(&self) -> Result<u64, BackendError> {
        let hint = self.inner.memory_hint()?;
        fire(&self.after_hint)?;
        Ok(hint)
    }

    fn inspect(&self) -> Result<Inspection, BackendError> {
        self.inner.inspect()
    }

    fn load(&self, progress: &dyn LoadProgress) -> Result<Loaded, BackendError> {
        fire(&self.before_load)?;
        let progress = FirstProgress {
            inner: progress,
            hook: &self.first_progress,
        };
        self.inner.load(&progress)
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
