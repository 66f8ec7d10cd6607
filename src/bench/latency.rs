//! Latency summaries.

use std::time::Duration;

use serde::Serialize;

/// Order statistics of a set of latencies, in nanoseconds; `None` (JSON `null`) when there
/// were no samples, never a made-up zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub median_ns: Option<u64>,
    /// The 99th percentile (nearest rank).
    pub p99_ns: Option<u64>,
    /// The largest.
    pub max_ns: Option<u64>,
}

impl Percentiles {
    /// Summarizes `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            nanos(samples[rank - 1])
        };
        Self {
            count: samples.len(),
            median_ns: Some(at(0.5)),
            p99_ns: Some(at(0.99)),
            max_ns: Some(nanos(samples[samples.len() - 1])),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats nanoseconds for people: `85 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`; `-` for no value
/// (no samples).
pub fn format_ns(ns: Option<u64>) -> String {
    let Some(ns) = ns else {
        return "-".to_owned();
    };
    #[allow(clippy::cast_precision_loss)]
    let v = ns as f64;
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", v / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", v / 1e6),
        _ => format!("{:.2} s", v / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_nanos).collect();
        let p = Percentiles::of(&mut s);
        assert_eq!(
            (p.count, p.median_ns, p.p99_ns, p.max_ns),
            (100, Some(50), Some(99), Some(100))
        );
        let none = Percentiles::of(&mut []);
        assert_eq!((none.count, none.median_ns, none.max_ns), (0, None, None));
        assert_eq!(format_ns(Some(1_500)), "1.5 µs");
        assert_eq!(format_ns(None), "-");
    }
}
