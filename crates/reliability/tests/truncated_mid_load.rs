//! A checkpoint file that shrinks while it is being loaded gives a typed error, not a crash.
//!
//! Why this can be tested at all: the weights crate deliberately does not memory-map
//! checkpoints. A mapped file that shrinks raises `SIGBUS` at the next access to a lost page,
//! which kills the process and cannot be turned into an error; modelcache instead reads each
//! tensor with positioned reads (`pread`) into the buffer the tensor owns, and a read past the
//! new end of the file is an ordinary short read, reported as `WeightsError::Truncated`.
//!
//! How the truncation lands mid-load, deterministically: the fault hook runs at the load's
//! first progress report, that is after the first tensor's bytes were read, and truncates the
//! file to its header (all tensor data gone). Every progress report takes the lock the hook
//! runs under, and each loading thread reports after each read and before its next one, so at
//! most one read per loading thread can start before the truncation; the LTX single file holds
//! hundreds of tensors, so reads certainly follow it, and they fail. No sleep, no timing.
//!
//! After the failure, the reservation is released, another model loads, and the model itself
//! loads again once its file is restored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::{self, OpenOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::faulty::Faulty;
use common::models::{Models, balanced, names};
use modelcache_core::{BackendError, CacheError, ModelCache, ModelPolicy, NoProgress};
use modelcache_reliability::Plugin;
use modelcache_weights::{FileInventory, WeightsError};

#[test]
fn file_truncated_during_the_load_is_a_typed_error() {
    let models = Models::tiny();
    let (victim, _) = models.victim(Plugin::Ltx);
    let original = fs::read(&victim).unwrap();
    let inventory = FileInventory::read(&victim).unwrap();
    assert!(
        inventory.tensors().len() > 64,
        "too few tensors to be sure a read follows"
    );
    let header_only = inventory.data_start();

    let truncated = Arc::new(AtomicBool::new(false));
    let (file, done) = (victim.clone(), Arc::clone(&truncated));
    let loader = Faulty::new(models.loader(Plugin::Ltx)).on_first_progress(move || {
        let f = OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(header_only).unwrap();
        done.store(true, Ordering::SeqCst);
        Ok(())
    });
    let cache = ModelCache::new(1 << 30);
    cache
        .register("ltx", loader.into_arc(), ModelPolicy::default())
        .unwrap();
    cache
        .register(
            "kokoro",
            models.loader(Plugin::Kokoro),
            ModelPolicy::default(),
        )
        .unwrap();

    let error = cache.request("ltx", &NoProgress).unwrap_err();
    assert!(
        truncated.load(Ordering::SeqCst),
        "the load never reported progress"
    );
    names(&error, "ltx", &victim);
    let CacheError::Load { source, .. } = &error else {
        panic!("{error:?}");
    };
    let BackendError::Checkpoint { source, .. } = &**source else {
        panic!("{source:?}");
    };
    match source.downcast_ref::<WeightsError>() {
        Some(WeightsError::Truncated { path, actual, .. }) => {
            assert_eq!(path, &victim);
            assert_eq!(*actual, header_only);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let stats = balanced(&cache);
    assert_eq!((stats.charged, stats.load_failures), (0, 1), "{stats:?}");

    cache.request("kokoro", &NoProgress).unwrap();
    fs::write(&victim, original).unwrap();
    cache.request("ltx", &NoProgress).unwrap();
    balanced(&cache);
}
