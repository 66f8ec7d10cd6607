//! Progress reporting for long loads.

/// Receives progress of one load, in bytes. Called from the loading thread(s).
pub trait LoadProgress: Sync {
    /// The load will read about `total_bytes`.
    fn start(&self, _total_bytes: u64) {}
    /// `bytes` more were read.
    fn advance(&self, _bytes: u64) {}
    /// The load finished (successfully or not).
    fn finish(&self) {}
}

/// Discards progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl LoadProgress for NoProgress {}
