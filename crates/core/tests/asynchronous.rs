//! The async API: loads and waits run off the runtime's worker threads.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;

use common::{Model, check_invariants, gated, until};
use modelcache_core::{ModelCache, ModelPolicy};

/// One worker thread: if a load or a wait blocked it, the other tasks could not run and the
/// test would hang instead of finishing.
#[tokio::test(flavor = "current_thread")]
async fn a_load_in_progress_does_not_block_the_runtime() {
    let cache = ModelCache::new(1000);
    let gate = gated(&cache, "slow", 100, 100, ModelPolicy::default());
    common::counting(&cache, "fast", 10, ModelPolicy::default());
    let waiters: Vec<_> = (0..16)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move {
                c.get_async::<Model>("slow")
                    .await
                    .map(|h| h.lock().generation)
            })
        })
        .collect();
    // While "slow" is loading on the blocking pool, this task still runs and serves another model.
    tokio::task::spawn_blocking(move || gate.started.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(
        cache.get_async::<Model>("fast").await.unwrap().lock().id,
        "fast"
    );
    let c = cache.clone();
    tokio::task::spawn_blocking(move || until(|| c.stats().misses == 17))
        .await
        .unwrap();
    gate.release.send(Ok(())).unwrap();
    for w in waiters {
        assert_eq!(w.await.unwrap().unwrap(), 1);
    }
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
    check_invariants(&cache);
}

#[tokio::test(flavor = "current_thread")]
async fn waiting_for_a_models_lock_does_not_block_the_runtime() {
    let cache = ModelCache::new(1000);
    common::counting(&cache, "m", 10, ModelPolicy::default());
    let handle = cache.get_async::<Model>("m").await.unwrap();
    let held = handle.lock_async().await.unwrap();
    let h2 = handle.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let contender = tokio::spawn(async move {
        let guard = h2.lock_async().await.unwrap();
        tx.send(guard.id.clone()).unwrap();
    });
    tokio::task::yield_now().await;
    drop(held); // the contender, parked on the blocking pool, gets the lock
    assert_eq!(rx.await.unwrap(), "m");
    contender.await.unwrap();
}
