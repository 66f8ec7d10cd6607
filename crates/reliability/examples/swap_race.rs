//! Issue 10's measurement: loads of a tiny Kokoro model through a cache while its voice pack is
//! swapped between the real file and a sparse one whose header claims 100 GiB.
//!
//! `cargo run -p modelcache-reliability --release --example swap_race -- [LOADS] [PERIOD_US]`
//! (defaults: 1000 loads, a swap every 500 µs; a period of 0 swaps as fast as it can). Prints
//! how many loads ended each way; exits non-zero if any ended other than in a success or the
//! typed errors this race causes. A measurement, not a test (`tests/hostile.rs` is the test).

use std::time::{Duration, Instant};

use modelcache_reliability::race::{Outcome, SwapFixture, swap_race};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let loads: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let period_us: u64 = args.next().map_or(Ok(500), |a| a.parse())?;
    let period = (period_us > 0).then(|| Duration::from_micros(period_us));
    let fixture = SwapFixture::new()?;
    let started = Instant::now();
    let report = swap_race(&fixture, loads, period, 1 << 30)?;
    println!(
        "{} loads in {:.2?}, {} swaps (every {period_us} µs; 0 = as fast as possible)",
        report.loads,
        started.elapsed(),
        report.swaps
    );
    for (outcome, count) in &report.outcomes {
        println!("  {outcome:?}: {count}");
    }
    for message in &report.unexpected {
        println!("  unexpected: {message}");
    }
    let typed = [Outcome::Loaded, Outcome::TooLarge, Outcome::Changed];
    if !report.unexpected.is_empty() || report.outcomes.keys().any(|o| !typed.contains(o)) {
        return Err("a load ended other than in a success or a typed error".into());
    }
    Ok(())
}
