//! Timing loop shared by the load benches: each result is dropped after its timer stopped, so
//! freeing what a load allocated is not timed.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `iters` runs of `f`, each result dropped after its timer stopped.
pub fn timed<T>(iters: u64, mut f: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let out = f();
        total += start.elapsed();
        drop(black_box(out));
    }
    total
}
