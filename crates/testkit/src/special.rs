//! Special files for hostile-input tests.

use std::io;
use std::path::Path;

/// Makes a FIFO (named pipe) at `path`, replacing a file there. Opening it for reading waits
/// for a writer: what every test of "never blocks on a FIFO" needs. Uses the `mkfifo` tool, so
/// that no test needs `unsafe`.
///
/// # Errors
/// When the old file cannot be removed or `mkfifo` fails.
pub fn mkfifo(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let status = std::process::Command::new("mkfifo").arg(path).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mkfifo {} failed",
            path.display()
        )))
    }
}
