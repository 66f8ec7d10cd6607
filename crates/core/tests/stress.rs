//! A randomized stress test with real threads: about a million mixed operations (gets of three
//! model types, handle clones and drops held across operations, invalidations, pin changes,
//! preflights, keep-alive expiry) on every core, bounded by an operation count and a time cap.
//! It checks the ledger during the run and, at the end, that nothing was lost: every successful
//! get returned the right typed model for its ID, and with all handles gone nothing is held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::check_invariants;
use modelcache_core::{CacheError, FnLoader, Loaded, ModelCache, ModelPolicy};

const MODELS: u64 = 24;
const TOTAL_OPS: u64 = 1_000_000;
/// A cap so a slow machine still finishes; the count of operations done is printed.
const TIME_CAP: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Image(u64);
#[derive(Debug)]
struct Video(u64);
#[derive(Debug)]
struct Speech(u64);

fn bytes_of(m: u64) -> u64 {
    10 + (m % 5) * 7
}

#[test]
fn a_million_mixed_operations_lose_nothing() {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
        * 2;
    let cache = ModelCache::builder()
        .budget(120)
        .pool("gpu", 60)
        .load_timeout(Duration::from_secs(600))
        .build();
    for m in 0..MODELS {
        let bytes = bytes_of(m);
        let loader = FnLoader::new("stress", bytes, move |_| {
            Ok(match m % 3 {
                0 => Loaded::new(Image(m), bytes),
                1 => Loaded::new(Video(m), bytes),
                _ => Loaded::new(Speech(m), bytes),
            })
        });
        let mut policy = ModelPolicy::default();
        if m % 4 == 1 {
            policy = policy.pool("gpu");
        }
        if m % 7 == 3 {
            policy = policy.keep_alive(Duration::ZERO);
        }
        cache
            .register(format!("m{m}"), Arc::new(loader), policy)
            .unwrap();
    }
    let done = Arc::new(AtomicU64::new(0));
    let gets = Arc::new(AtomicU64::new(0));
    let no_room = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, done, gets, no_room, stop, barrier) = (
                cache.clone(),
                Arc::clone(&done),
                Arc::clone(&gets),
                Arc::clone(&no_room),
                Arc::clone(&stop),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                let mut rng = 0x2545_F491_4F6C_DD1Du64.wrapping_mul(t as u64 + 1);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                // At most one handle, kept across the other operations.
                let mut kept: Option<(u64, Box<dyn std::any::Any>)> = None;
                barrier.wait();
                while done.fetch_add(1, Ordering::Relaxed) < TOTAL_OPS
                    && !stop.load(Ordering::Relaxed)
                {
                    let m = next() % MODELS;
                    let id = format!("m{m}");
                    match next() % 100 {
                        0 => drop(cache.invalidate(&id)),
                        1 => drop(cache.set_pinned(&id, m % 2 == 0 && next() % 4 == 0)),
                        2 => drop(cache.plan(&[&id]).unwrap()),
                        3 => cache.expire(),
                        4 => kept = None,
                        r => {
                            // Never hold a model while asking for another: threads that each
                            // hold one and wait for room for a second can starve each other
                            // (that is the caller's deadlock, not the cache's).
                            kept = None;
                            // Ask for the right type, and sometimes the wrong one.
                            let wrong = r % 17 == 0;
                            let got: Result<Box<dyn std::any::Any>, CacheError> =
                                match (m % 3, wrong) {
                                    (0, false) | (1, true) => cache.get::<Image>(&id).map(|h| {
                                        assert_eq!(h.lock().0, m);
                                        Box::new(h) as Box<dyn std::any::Any>
                                    }),
                                    (1, false) | (2, true) => cache.get::<Video>(&id).map(|h| {
                                        assert_eq!(h.lock().0, m);
                                        Box::new(h) as Box<dyn std::any::Any>
                                    }),
                                    _ => cache.get::<Speech>(&id).map(|h| {
                                        assert_eq!(h.lock().0, m);
                                        Box::new(h) as Box<dyn std::any::Any>
                                    }),
                                };
                            match got {
                                Ok(handle) => {
                                    assert!(!wrong, "a wrong-type request succeeded for {id}");
                                    gets.fetch_add(1, Ordering::Relaxed);
                                    if kept.is_none() && r % 5 == 0 {
                                        kept = Some((m, handle));
                                    }
                                }
                                Err(CacheError::WrongType { .. }) => assert!(wrong),
                                // Pins may leave no room at all: the request fails (possibly
                                // after waiting, if pins arrived meanwhile). A time-out would
                                // show in `wait_timeouts`, checked at the end.
                                Err(CacheError::NoRoom { .. }) => {
                                    no_room.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(other) => panic!("{other}"),
                            }
                        }
                    }
                    if next() % 64 == 0 {
                        check_invariants(&cache);
                        if started.elapsed() > TIME_CAP {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                drop(kept);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let ops = done.load(Ordering::Relaxed).min(TOTAL_OPS);
    println!(
        "{ops} operations, {} successful gets, {} refused for pins, {threads} threads, {:?}",
        gets.load(Ordering::Relaxed),
        no_room.load(Ordering::Relaxed),
        started.elapsed()
    );
    let s = check_invariants(&cache);
    assert_eq!(
        (s.held_bytes, s.loading, s.loading_bytes),
        (0, 0, 0),
        "{s:?}"
    );
    assert!(cache.entries().iter().all(|e| e.handles == 0));
    assert_eq!(s.resident_bytes, s.charged);
    assert_eq!(s.wait_timeouts, 0, "no request waited out its load timeout");
    assert!(s.hits + s.misses > 0);
}
