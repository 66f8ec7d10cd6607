//! This process's resident memory, from `/proc/self/status` (Linux).

use std::io;

/// Resident set size now and at its peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak since the process started or [`reset_peak`] last ran.
    pub peak: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status`.
///
/// # Errors
/// Where `/proc` is not there (not Linux) or lacks the fields.
pub fn memory() -> io::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| io::Error::other(format!("/proc/self/status has no {name}")))
    };
    Ok(Memory {
        rss: field("VmRSS")?,
        peak: field("VmHWM")?,
    })
}

/// Resets `VmHWM` to the current RSS (writes `5` to `/proc/self/clear_refs`), so that
/// [`Memory::peak`] covers only what follows.
///
/// # Errors
/// Where the kernel does not allow it (before Linux 4.0, some sandboxes).
pub fn reset_peak() -> io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// `bytes` in MiB, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let m = memory().unwrap();
        assert!(m.rss > 0 && m.peak >= m.rss, "{m:?}");
    }
}
