//! A FIFO is refused at once, never opened: opening one for reading would wait for a writer
//! that never comes. Without the check these tests hang (the test harness would time out).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use modelcache_files::{FileError, FileKind};

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.json");
    modelcache_testkit::mkfifo(&fifo).unwrap();
    assert_eq!(modelcache_files::kind(&fifo).unwrap(), Some(FileKind::Fifo));
    for err in [
        modelcache_files::open(&fifo).unwrap_err(),
        modelcache_files::read(&fifo, 1 << 20).unwrap_err(),
        modelcache_files::open_within(dir.path(), &fifo).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: FileKind::Fifo,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
