//! Timing loop shared by the load benches: each result is dropped after its timer stopped, so
//! freeing what a load allocated is not timed.
#![allow(dead_code, clippy::unwrap_used)]

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

/// glibc's variable that sets the size above which `malloc` maps fresh memory.
pub const MMAP_THRESHOLD: &str = "MALLOC_MMAP_THRESHOLD_";

/// Re-runs this bench with `MALLOC_MMAP_THRESHOLD_=131072` unless it is set: every buffer of
/// 128 KiB or more is then fresh memory from the kernel, so every contender pays the same page
/// faults (by default glibc's threshold adapts upward after the first large free, and later
/// contenders would reuse the memory earlier ones freed). Set the variable yourself to choose
/// another regime (any value skips the re-exec).
pub fn with_fresh_memory() {
    if std::env::var_os(MMAP_THRESHOLD).is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(MMAP_THRESHOLD, "131072")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
}
