//! Peak memory of a ~1 GiB load (issue 3), and its time: a measurement, not a test.
//!
//! `cargo bench --bench load_rss [-- NAME...]` loads each fixture of `support/fixtures.rs`
//! (default: all) in a child process of its own, so that each peak is that load's alone. The
//! child warms the page cache with a small reused buffer, resets and records its RSS, loads
//! once through the plugin and reads `VmHWM` (peak resident set) from `/proc/self/status`, then
//! times five more loads (each dropped before the next) and reports their median and the peak
//! over all six. The parent prints one table and writes `target/bench-extra/load_rss.json`
//! (with the files read, for `scripts/load-1gib`, which times `cat` and Python beside it).
//!
//! Each fixture runs twice: `malloc = fresh` fixes glibc's mmap threshold at its 128 KiB
//! default, so every tensor buffer is fresh memory from the kernel, as in a process's first
//! load; `malloc = default` leaves glibc's dynamic threshold on, so after the first load,
//! buffers up to 32 MiB are recycled from memory earlier loads touched (faster repeats, and
//! a peak that fragmentation can raise).
//!
//! Target (issue 3): the first load's peak RSS at most 5% above the tensor bytes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fixtures.rs"]
mod fixtures;

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 5;
/// glibc's knob: a fixed mmap threshold turns off its dynamic raise (see `main`).
const MMAP_THRESHOLD: &str = "MALLOC_MMAP_THRESHOLD_";

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Reads every file once through one 1 MiB buffer: the page cache is warm, our RSS is not.
fn warm(files: &[PathBuf]) {
    let mut buf = vec![0u8; 1 << 20];
    for p in files {
        let mut f = File::open(p).unwrap();
        while f.read(&mut buf).unwrap() > 0 {}
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Runs in the child: one fixture, one JSON object on stdout.
fn child(name: &str) {
    let dir = fixtures::root().join(name);
    let inspection = fixtures::inspect(name, &dir).unwrap();
    warm(&inspection.files);
    // Reset the peak to the current RSS (Linux >= 4.0), so start-up does not count.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_bytes("VmRSS");

    let start = Instant::now();
    let (model, bytes) = fixtures::load(name, &dir).unwrap();
    let first_ms = start.elapsed().as_secs_f64() * 1e3;
    let hwm_first = status_bytes("VmHWM");
    let rss_loaded = status_bytes("VmRSS");
    drop(black_box(model));

    let times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let (model, _) = fixtures::load(name, &dir).unwrap();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            drop(black_box(model));
            ms
        })
        .collect();
    let hwm_all = status_bytes("VmHWM");
    let files: Vec<String> = inspection
        .files
        .iter()
        .map(|p| json_str(&p.display().to_string()))
        .collect();
    let file_bytes: u64 = inspection
        .files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    println!(
        "{{\"name\": {}, \"tensor_bytes\": {bytes}, \"hint_bytes\": {}, \"file_bytes\": {file_bytes}, \
\"tensors\": {}, \"rss_before\": {rss_before}, \"rss_loaded\": {rss_loaded}, \"hwm_first_load\": {hwm_first}, \
\"hwm_all_loads\": {hwm_all}, \"first_load_ms\": {first_ms:.1}, \"load_ms\": {times:?}, \
\"load_ms_median\": {:.1}, \"files\": [{}]}}",
        json_str(name),
        inspection.bytes,
        inspection.tensors.unwrap_or(0),
        median(times.clone()),
        files.join(", "),
    );
}

fn extra_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-extra")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1]);
        return;
    }
    // cargo bench passes `--bench`; anything else that is not a flag names a fixture.
    let mut names: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        names = fixtures::NAMES.to_vec();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rows = Vec::new();
    println!(
        "{:<16} {:<7} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "fixture",
        "malloc",
        "tensor MiB",
        "VmHWM MiB",
        "HWM/bytes",
        "net/bytes",
        "HWM6/b",
        "first ms",
        "median ms"
    );
    for name in names {
        fixtures::ensure(name).unwrap();
        for malloc in ["fresh", "default"] {
            let row = run_child(&exe, name, malloc);
            let v: serde_json::Value = serde_json::from_str(&row).unwrap();
            let num = |k: &str| v[k].as_f64().unwrap();
            let mib = |x: f64| x / f64::from(1 << 20);
            let bytes = num("tensor_bytes");
            let net = num("hwm_first_load") - num("rss_before");
            println!(
                "{:<16} {:<7} {:>10.1} {:>10.1} {:>9.4} {:>9.4} {:>9.4} {:>9.1} {:>9.1}",
                name,
                malloc,
                mib(bytes),
                mib(num("hwm_first_load")),
                num("hwm_first_load") / bytes,
                net / bytes,
                num("hwm_all_loads") / bytes,
                num("first_load_ms"),
                num("load_ms_median"),
            );
            rows.push(row);
        }
    }
    let dir = extra_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("load_rss.json"),
        format!("[\n{}\n]\n", rows.join(",\n")),
    )
    .unwrap();
}

/// Runs one child; returns its JSON object with `"malloc"` added.
fn run_child(exe: &Path, name: &str, malloc: &str) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(["--child", name]).env_remove(MMAP_THRESHOLD);
    if malloc == "fresh" {
        cmd.env(MMAP_THRESHOLD, "131072");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    format!("{{\"malloc\": \"{malloc}\", {}", &line.trim()[1..])
}
