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
    let held = handle.lock_async().await;
    let h2 = handle.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let contender = tokio::spawn(async move {
        let guard = h2.lock_async().await;
        tx.send(guard.id.clone()).unwrap();
    });
    tokio::task::yield_now().await;
    drop(held); // the contender, waiting asynchronously, gets the lock
    assert_eq!(rx.await.unwrap(), "m");
    contender.await.unwrap();
}

/// Yields until `ready` holds: observes that other tasks reached a state, never decides by time.
async fn until_async(mut ready: impl FnMut() -> bool) {
    while !ready() {
        tokio::task::yield_now().await;
    }
}

#[test]
fn edge_06_a_dropped_get_async_future_withdraws_at_once_and_loads_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = ModelCache::builder()
        .budget(100)
        .load_timeout(std::time::Duration::from_secs(3600))
        .build();
    common::counting(&cache, "a", 100, ModelPolicy::default());
    let b_runs = common::counting(&cache, "b", 100, ModelPolicy::default());
    runtime.block_on(async {
        let a = cache.get_async::<Model>("a").await.unwrap();
        {
            let request = cache.get_async::<Model>("b");
            tokio::pin!(request);
            tokio::select! {
                biased;
                _ = &mut request => panic!("there is no room for b"),
                () = until_async(|| cache.stats().waits == 1) => {}
            }
        } // the client went away while "b" waited for room
        assert_eq!(cache.stats().queued, 0, "withdrawn at once");
        drop(a); // room for "b" now, but nobody wants it
    });
    drop(runtime); // waits for every task of the blocking pool
    assert_eq!(b_runs.load(Ordering::SeqCst), 0, "loaded for nobody");
    let s = check_invariants(&cache);
    assert_eq!((s.charged, s.loading, s.queued), (100, 0, 0));
    assert_eq!(s.withdrawn, 1);
    assert!(cache.contains("a") && !cache.contains("b"));
}

/// A thousand requests wait on a runtime whose blocking pool has four threads: none holds a
/// thread while it waits, another model is served meanwhile, and the requests that are
/// cancelled leave nothing behind. (The `timeout` only turns a hang into a failure.)
#[test]
fn a_thousand_waiters_need_no_blocking_threads_and_cancelled_ones_leave_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let cache = ModelCache::builder()
        .budget(1000)
        .pool("gpu", 100)
        .load_timeout(std::time::Duration::from_secs(3600))
        .build();
    let in_gpu = || ModelPolicy::default().pool("gpu");
    let gate = gated(&cache, "slow", 50, 50, in_gpu());
    let big_runs = common::counting(&cache, "big", 100, in_gpu());
    let huge_runs = common::counting(&cache, "huge", 100, in_gpu());
    common::counting(&cache, "fast", 10, ModelPolicy::default());
    runtime.block_on(async {
        let spawn = |id: &'static str| {
            let c = cache.clone();
            tokio::spawn(async move { c.get_async::<Model>(id).await.map(|h| h.id().to_owned()) })
        };
        // 500 join the load of "slow"; then 500 wait for room in the pool for "big".
        let slow: Vec<_> = (0..500).map(|_| spawn("slow")).collect();
        let started = gate.started;
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        until_async(|| cache.stats().misses == 500).await;
        let big: Vec<_> = (0..500).map(|_| spawn("big")).collect();
        until_async(|| {
            let s = cache.stats();
            s.misses == 1000 && s.queued == 1
        })
        .await;
        // Another model is served meanwhile (it is not in the pool that is short).
        let fast = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            cache.get_async::<Model>("fast"),
        )
        .await
        .expect("served while a thousand requests wait");
        assert_eq!(fast.unwrap().id(), "fast");
        // Cancel every second request of each group.
        let (mut kept, mut cancelled) = (Vec::new(), 0);
        for (i, task) in slow.into_iter().chain(big).enumerate() {
            if i % 2 == 0 {
                task.abort();
                cancelled += 1;
            } else {
                kept.push(task);
            }
        }
        until_async(|| cache.stats().withdrawn == cancelled).await;
        gate.release.send(Ok(())).unwrap();
        for task in kept {
            let id = task.await.unwrap().unwrap();
            assert!(id == "slow" || id == "big");
        }
        // All requests for a model that waits for room are cancelled: its flight goes away.
        let held = cache.get_async::<Model>("big").await.unwrap();
        let misses = cache.stats().misses;
        let huge: Vec<_> = (0..100).map(|_| spawn("huge")).collect();
        until_async(|| {
            let s = cache.stats();
            s.misses == misses + 100 && s.queued == 1
        })
        .await;
        let charged = cache.stats().charged;
        for task in huge {
            task.abort();
        }
        until_async(|| cache.stats().queued == 0).await;
        let s = cache.stats();
        assert_eq!((s.charged, s.loading), (charged, 0));
        drop(held);
    });
    drop(runtime);
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
    assert_eq!(big_runs.load(Ordering::SeqCst), 1);
    assert_eq!(huge_runs.load(Ordering::SeqCst), 0, "loaded for nobody");
    let s = check_invariants(&cache);
    assert_eq!(s.withdrawn, 600);
    assert!(
        cache.entries().iter().all(|e| e.handles == 0),
        "no lease leaked"
    );
}
