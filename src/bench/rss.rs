//! The process's resident memory, beside the cache's budget: what the budget does not count.
//!
//! Linux only (`/proc/self/status`); elsewhere every figure is `None`. The peak is reset
//! between phases by writing `5` to `/proc/self/clear_refs` (Linux 4.0 and later), so that the
//! checkpoints generated on a first run do not count toward the peak of the measurements.

use serde::Serialize;

/// Resident memory of the bench's phases, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Resident memory before the first model was loaded: the program, its libraries, the
    /// registry.
    pub before_loads: Option<u64>,
    /// The highest resident memory from then to the end of the trace.
    pub peak: Option<u64>,
    /// Whether `peak` counts from the first load only (else from the process's start).
    pub peak_since_loads: bool,
}

impl Memory {
    /// Notes the resident memory now and resets the peak, before the first load.
    pub fn start() -> Self {
        let peak_since_loads = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        Self {
            before_loads: status("VmRSS:"),
            peak: None,
            peak_since_loads,
        }
    }

    /// Notes the peak, after the last request.
    pub fn finish(&mut self) {
        self.peak = status("VmHWM:");
    }
}

/// A `kB` figure of `/proc/self/status`, in bytes.
fn status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())?
        .checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_at_least_what_was_resident_before() {
        let mut m = Memory::start();
        let buffer = vec![1u8; 8 << 20];
        m.finish();
        drop(buffer);
        if cfg!(target_os = "linux") {
            let (before, peak) = (m.before_loads.unwrap(), m.peak.unwrap());
            assert!(peak >= before && peak >= 8 << 20, "{m:?}");
        } else {
            assert_eq!((m.before_loads, m.peak), (None, None));
        }
    }
}
