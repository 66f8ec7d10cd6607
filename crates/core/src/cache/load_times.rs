//! The load-duration histogram: counts of successful loads by how long they took, in fixed
//! buckets, so that an exporter can publish it without keeping every duration.

use std::time::Duration;

/// Upper bounds of the buckets (a load of exactly a bound counts in that bound's bucket, as
/// Prometheus' `le` says), from a tiny model read from the page cache to a large transformer
/// read from a network disk. Loads longer than the last bound count in the overflow bucket.
pub const LOAD_BUCKETS: [Duration; 15] = [
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2500),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
    Duration::from_secs(300),
];

/// How long successful loads took (by the cache's clock), counted in the buckets of
/// [`LOAD_BUCKETS`]. Its [`count`](Self::count) equals [`CacheStats::loads`](crate::CacheStats::loads)
/// and its [`sum`](Self::sum) [`CacheStats::load_time`](crate::CacheStats::load_time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadHistogram {
    /// One count per bound of `LOAD_BUCKETS`, then the overflow bucket (not cumulative).
    counts: [u64; LOAD_BUCKETS.len() + 1],
    sum: Duration,
}

impl LoadHistogram {
    /// Counts one load that took `elapsed`.
    pub(crate) fn record(&mut self, elapsed: Duration) {
        let bucket = LOAD_BUCKETS.partition_point(|&bound| bound < elapsed);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count = count.saturating_add(1);
        }
        self.sum = self.sum.saturating_add(elapsed);
    }

    /// Each bucket's upper bound (`None`: the overflow bucket, `+Inf`) and the loads counted in
    /// it alone (not cumulative), in increasing order of the bounds.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        LOAD_BUCKETS
            .iter()
            .map(|&bound| Some(bound))
            .chain(std::iter::once(None))
            .zip(self.counts.iter().copied())
    }

    /// The loads counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &c| sum.saturating_add(c))
    }

    /// Their total duration.
    pub fn sum(&self) -> Duration {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_counts_in_its_own_bucket_and_longer_loads_overflow() {
        let mut h = LoadHistogram::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_millis(5));
        h.record(Duration::from_millis(6));
        h.record(Duration::from_secs(301));
        let counts: Vec<u64> = h.buckets().map(|(_, c)| c).collect();
        assert_eq!(counts[0], 2, "0 and 5 ms are <= 5 ms");
        assert_eq!(counts[1], 1, "6 ms is <= 10 ms");
        assert_eq!(counts[LOAD_BUCKETS.len()], 1, "301 s overflows");
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum(), Duration::from_millis(301_011));
        assert_eq!(h.buckets().last(), Some((None, 1)));
    }

    #[test]
    fn bounds_increase() {
        assert!(LOAD_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
