//! Memory soak: three generated models (Flux, LTX, Kokoro) loaded and evicted round-robin
//! through a `ModelCache` whose budget holds two of them, so every request loads one and
//! evicts another. The process's resident memory (`VmRSS`, and `VmHWM` for the peak, from
//! `/proc/self/status`) is read before and after, and after every load.
//!
//! Checks:
//! * while loading: RSS never exceeds the start + the budget + the largest model + a fixed
//!   overhead (`SLACK`): the cache evicts before it loads, so at most the budget is resident
//!   and one model's worth is in flight;
//! * after evicting everything: RSS is back within 5% + `SLACK` of the start. Freed tensor
//!   buffers go back to the allocator, which may keep some of it (glibc keeps freed chunks in
//!   its arenas below its trim threshold instead of returning them to the kernel); the slack
//!   allows for that. No `malloc_trim`: what is measured is what a user of the cache gets.
//! * the ledger balances after every step and ends at zero.
//!
//! The start is taken after one warm-up cycle (and `clear`), so that one-time costs (rayon's
//! threads and their stacks, the allocator's arenas, lazily built tables) are not counted as
//! growth; both the pre-warm-up and the post-warm-up figures are printed.
//!
//! CI runs a short version (a few MiB per model, tens of cycles). `scripts/soak` runs the long
//! one through the variables below (release build):
//! `MODELCACHE_SOAK_MODEL_BYTES` (size of each generated model), `MODELCACHE_SOAK_CYCLES`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::heap::{self, Counting};
use common::models::{Models, balanced};
use modelcache_core::{ModelCache, ModelPolicy, NoProgress, Served};
use modelcache_reliability::Plugin;
use modelcache_reliability::rss::{self, mib};

const MIB: u64 = 1 << 20;
/// Fixed allowance for the allocator's retained memory, thread stacks and bookkeeping.
const SLACK: u64 = 16 * MIB;
/// Heap bytes that may stay allocated after the loop (lazily grown tables): none expected.
const LIVE_SLACK: u64 = 64 << 10;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[global_allocator]
static HEAP: Counting = Counting;

#[test]
fn load_and_evict_returns_memory() {
    let Ok(initial) = rss::memory() else {
        eprintln!("soak: NOT CHECKED: /proc/self/status is not readable here (not Linux?)");
        return;
    };
    let model_bytes = env("MODELCACHE_SOAK_MODEL_BYTES", 4 * MIB);
    let cycles = env("MODELCACHE_SOAK_CYCLES", 30);
    let models = Models::scaled(model_bytes, 7);

    let hints: Vec<(Plugin, u64)> = Plugin::ALL
        .iter()
        .map(|&p| (p, models.loader(p).memory_hint().unwrap()))
        .collect();
    let mut sizes: Vec<u64> = hints.iter().map(|&(_, h)| h).collect();
    sizes.sort_unstable();
    let largest = sizes[2];
    // Room for any two models, never for all three.
    let budget = sizes[1] + sizes[2];
    assert!(budget < sizes.iter().sum::<u64>());
    let cache = ModelCache::new(budget);
    for &(plugin, _) in &hints {
        cache
            .register(plugin.name(), models.loader(plugin), ModelPolicy::default())
            .unwrap();
    }

    // Warm-up: one cycle, then evict everything.
    for &(plugin, _) in &hints {
        cache.request(plugin.name(), &NoProgress).unwrap();
    }
    cache.clear();
    assert_eq!(balanced(&cache).charged, 0);
    let trims = heap::trim();
    let start = rss::memory().unwrap();
    let start_live = heap::live();
    heap::reset_peak();
    let peak_resettable = rss::reset_peak().is_ok();

    let ceiling = start.rss + budget + largest + SLACK;
    let (mut raw_peak, mut trimmed_peak, mut loaded_bytes) = (start.rss, start.rss, 0);
    for cycle in 0..cycles {
        for &(plugin, hint) in &hints {
            let (handle, served) = cache.request(plugin.name(), &NoProgress).unwrap();
            // Round-robin over three models with room for two: every request loads.
            assert_eq!(served, Served::Loaded, "cycle {cycle}, {}", plugin.name());
            assert_eq!(handle.bytes(), hint);
            loaded_bytes += hint;
            let stats = balanced(&cache);
            assert!(stats.charged <= budget, "{stats:?}");
            // Bytes the cache does not charge: the models' bookkeeping (names, tensor
            // headers, maps), which `resident_bytes` leaves out.
            let uncharged = (heap::live() - start_live).saturating_sub(stats.charged);
            assert!(
                uncharged <= SLACK,
                "{uncharged} heap bytes beyond the charged ones"
            );

            raw_peak = raw_peak.max(rss::memory().unwrap().rss);
            heap::trim();
            let now = rss::memory().unwrap().rss;
            trimmed_peak = trimmed_peak.max(now);
            assert!(
                now <= ceiling,
                "cycle {cycle}, {}: RSS {:.1} MiB over start {:.1} + budget {:.1} + largest {:.1} + {:.0} MiB",
                plugin.name(),
                mib(now),
                mib(start.rss),
                mib(budget),
                mib(largest),
                mib(SLACK)
            );
        }
    }
    cache.clear();
    assert_eq!(balanced(&cache).charged, 0);
    let end_live = heap::live();
    let untrimmed = rss::memory().unwrap();
    heap::trim();
    let end = rss::memory().unwrap();

    eprintln!(
        "soak: {cycles} cycles x 3 models, {:.0} MiB loaded in all; budget {:.1} MiB, largest \
         model {:.1} MiB\n\
         soak: RSS: before warm-up {:.1} MiB, start {:.1} MiB, end {:.1} MiB ({:.1} MiB before \
         malloc_trim); peak sampled after each load {:.1} MiB ({:.1} MiB before malloc_trim), \
         VmHWM {}\n\
         soak: heap in use: start {:.2} MiB, peak {:.2} MiB (over the budget by {:.2} MiB), end \
         {:.2} MiB ({} bytes more than at the start){}",
        mib(loaded_bytes),
        mib(budget),
        mib(largest),
        mib(initial.rss),
        mib(start.rss),
        mib(end.rss),
        mib(untrimmed.rss),
        mib(trimmed_peak),
        mib(raw_peak),
        if peak_resettable {
            format!("{:.1} MiB since start", mib(untrimmed.peak))
        } else {
            "not resettable here".to_owned()
        },
        mib(start_live),
        mib(heap::peak()),
        (heap::peak() - start_live).saturating_sub(budget) as f64 / MIB as f64,
        mib(end_live),
        end_live as i64 - start_live as i64,
        if trims {
            ""
        } else {
            "; malloc_trim unavailable or returned nothing"
        },
    );
    // Exact: the cache never held more than its budget (plus bookkeeping), not even while a
    // load was in flight (it evicts before it loads), and every byte allocated was freed.
    assert!(
        heap::peak() <= start_live + budget + SLACK,
        "heap peaked {} bytes over the budget",
        heap::peak() - start_live - budget
    );
    assert!(
        end_live <= start_live + LIVE_SLACK,
        "heap grew by {} bytes over {cycles} cycles",
        end_live - start_live
    );
    let allowed = start.rss + start.rss / 20 + SLACK;
    assert!(
        end.rss <= allowed,
        "RSS did not come back: start {:.1} MiB, end {:.1} MiB (allowed {:.1} MiB)",
        mib(start.rss),
        mib(end.rss),
        mib(allowed)
    );
}
