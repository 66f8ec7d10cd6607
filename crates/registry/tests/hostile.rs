//! Configs and checkpoints that are not what they claim: a models.toml that is a FIFO or
//! 50 MB long, a configured `size` far below what a checkpoint's headers say, and the cost of
//! `check` (each checkpoint read once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
use modelcache_core::ModelCache;
use modelcache_registry::{Backends, Config, ConfigError, MAX_CONFIG_LEN, Registry};

/// A backend whose checkpoint "is" `HINT` bytes; it counts header reads (hints and
/// inspections) and records the limit of every load.
#[derive(Default)]
struct Record {
    reads: AtomicUsize,
    limits: Mutex<Vec<u64>>,
}

#[derive(Default, Clone)]
struct Recorder(Arc<Record>);

const HINT: u64 = 4096;

impl Backend for Recorder {
    type Options = ();
    type Model = u64;
    type Plan = std::path::PathBuf;
    fn name(&self) -> &str {
        "recorder"
    }
    fn open(&self, s: &ModelSource<'_, ()>) -> Result<Opened<Self::Plan>, BackendError> {
        self.0.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Opened::new(s.path.to_owned(), Inspection::of_bytes(HINT)))
    }
    fn load(
        &self,
        path: Self::Plan,
        limit: u64,
        _: &dyn LoadProgress,
    ) -> Result<u64, BackendError> {
        self.0.limits.lock().unwrap().push(limit);
        if HINT > limit {
            return Err(BackendError::invalid(path, "needs more than was reserved"));
        }
        Ok(HINT)
    }
}

fn registry(dir: &Path, text: &str) -> (Registry, Arc<Record>) {
    let file = dir.join("models.toml");
    std::fs::write(&file, text).unwrap();
    std::fs::create_dir_all(dir.join("m")).unwrap();
    let recorder = Recorder::default();
    let mut backends = Backends::new();
    backends.register(recorder.clone());
    let config = Config::from_file(&file).unwrap();
    let registry = Registry::build_with(&backends, &config, ModelCache::builder(), None).unwrap();
    (registry, recorder.0)
}

#[cfg(unix)]
#[test]
fn a_config_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("models.toml");
    modelcache_testkit::mkfifo(&file).unwrap();
    let err = Config::from_file(&file).unwrap_err();
    assert!(matches!(err, ConfigError::File(_)), "{err:?}");
    assert!(err.to_string().contains("FIFO"), "{err}");
    assert!(err.to_string().contains("models.toml"), "{err}");
}

#[test]
fn a_config_over_the_size_limit_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("models.toml");
    // 50 MB, sparse: refused from its length, before a byte is read.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    let err = Config::from_file(&file).unwrap_err();
    assert!(matches!(err, ConfigError::File(_)), "{err:?}");
    assert!(
        err.to_string().contains(&MAX_CONFIG_LEN.to_string()),
        "{err}"
    );
}

/// With `size = "..."` the cache reserves that size, not the opened bytes, so a load may
/// allocate no more than that: a checkpoint whose headers claim more fails to load instead of
/// allocating past its reservation. Every load is also held to what its plan said.
#[test]
fn a_configured_size_limits_what_the_load_may_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, recorder) = registry(
        dir.path(),
        "[cache]\nbudget = \"1GiB\"\n\
         [models.small]\nbackend = \"recorder\"\npath = \"m\"\nsize = \"1KiB\"\n\
         [models.big]\nbackend = \"recorder\"\npath = \"m\"\nsize = \"1MiB\"\n\
         [models.hinted]\nbackend = \"recorder\"\npath = \"m\"\n",
    );
    let err = registry.get::<u64>("small").unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    assert_eq!(*registry.get::<u64>("big").unwrap().lock(), HINT);
    assert_eq!(*registry.get::<u64>("hinted").unwrap().lock(), HINT);
    assert_eq!(*recorder.limits.lock().unwrap(), [1024, HINT, HINT]);
}

/// `check` reads each checkpoint once: one inspection gives both the hint and what the table
/// shows (it used to read every header twice).
#[test]
fn check_reads_each_checkpoint_once() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, recorder) = registry(
        dir.path(),
        "[cache]\nbudget = \"1GiB\"\n\
         [models.a]\nbackend = \"recorder\"\npath = \"m\"\n\
         [models.b]\nbackend = \"recorder\"\npath = \"m\"\n",
    );
    let report = registry.check();
    assert!(report.is_ok());
    assert_eq!(recorder.reads.load(Ordering::SeqCst), 2);
    for row in &report.models {
        assert_eq!(row.inspection.as_ref().map(|i| i.bytes), Some(HINT));
    }
}
