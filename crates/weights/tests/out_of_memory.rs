//! A tensor larger than the memory the process can have is a typed error, not an abort.
//!
//! This test binary caps its own address space (`RLIMIT_AS`) at what it uses plus 1 GiB, so
//! the outcome does not depend on the machine's memory or overcommit policy, then loads a
//! sparse 100 GiB tensor (no disk used) with no allowance, the way a size override or
//! `allow_oversized` used to admit one: before the fix the allocation aborted the process
//! ("memory allocation of 107374182400 bytes failed"). It is alone in its binary because the
//! cap applies to the whole process.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::write_sparse;
use modelcache_weights::{Checkpoint, Dtype, LoadOptions, WeightsError};

const GIB: u64 = 1 << 30;

fn cap_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let limit = libc::rlimit {
        rlim_cur: kib * 1024 + extra,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid `rlimit` for the duration of the call; lowering the soft limit
    // of this process's address space affects no memory already mapped.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_tensor_larger_than_memory_is_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write_sparse(
        &dir.path().join("u8.safetensors"),
        "w",
        "U8",
        &[100 * GIB],
        100 * GIB,
    );
    let wide = write_sparse(
        &dir.path().join("bf16.safetensors"),
        "v",
        "BF16",
        &[25 * GIB],
        50 * GIB,
    );
    let plain = Checkpoint::open(&plain).unwrap();
    let wide = Checkpoint::open(&wide).unwrap();
    cap_address_space(GIB);

    let err = plain
        .load(&LoadOptions::default().sequential())
        .unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfMemory { tensor: Some(t), bytes, .. } if t == "w" && *bytes == 100 * GIB),
        "{err:?}"
    );
    assert!(err.to_string().contains("u8.safetensors"), "{err}");

    let options = LoadOptions::default().sequential().with_dtype(Dtype::F32);
    let err = wide.load(&options).unwrap_err();
    assert!(
        matches!(&err, WeightsError::OutOfMemory { tensor: Some(t), bytes, .. } if t == "v" && *bytes == 100 * GIB),
        "{err:?}"
    );
}
