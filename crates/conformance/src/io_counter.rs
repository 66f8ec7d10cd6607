//! Bytes read by the current thread, from Linux's per-thread I/O accounting.

/// `rchar` of `/proc/thread-self/io`: bytes this thread asked `read` and friends for.
/// `None` where the kernel does not offer it (the check is then skipped, and says so).
pub(crate) fn thread_rchar() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}
