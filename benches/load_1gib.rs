//! Loading a ~1 GiB checkpoint through each plugin vs reading the same files into fresh
//! buffers, page cache warm, in one run so results are ratios.
//!
//! Per fixture (see `support/fixtures.rs`; written once under `target/bench-fixtures/`):
//! - `plugin`: the plugin's `load` with default options (what the cache runs on a miss);
//! - `fs_read`: `std::fs::read` of each file the plugin reads;
//! - `read_exact_fresh`: `read_exact` of each file into a fresh `vec![0u8; len]`;
//! - `read_reused`: `read_exact` into buffers allocated and touched once, before timing (the
//!   floor: copying out of the page cache without first-touch page faults).
//!
//! Buffers are fresh memory for every contender but `read_reused`: see `main`.
//!
//! The files of each fixture are listed in `target/bench-extra/load_1gib.json`.
//!
//! Every buffer of an iteration is kept until its timer stops and dropped after, so freeing
//! 1 GiB is not timed for any contender.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/timed.rs"]
mod timed;

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use timed::timed;

fn read_fresh(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|p| {
            let mut f = File::open(p).unwrap();
            let len = usize::try_from(f.metadata().unwrap().len()).unwrap();
            let mut buf = vec![0u8; len];
            f.read_exact(&mut buf).unwrap();
            buf
        })
        .collect()
}

fn load_1gib(c: &mut Criterion) {
    let mut manifest = Vec::new();
    for name in fixtures::NAMES {
        let dir = fixtures::ensure(name).unwrap();
        let inspection = fixtures::inspect(name, &dir).unwrap();
        let files = inspection.files.clone();
        let file_bytes: u64 = files
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        eprintln!(
            "{name}: {} files, {} tensors, {:.1} MiB loaded, {:.1} MiB read",
            files.len(),
            inspection.tensors.unwrap_or(0),
            inspection.bytes as f64 / f64::from(1 << 20),
            file_bytes as f64 / f64::from(1 << 20),
        );
        let paths: Vec<String> = files
            .iter()
            .map(|p| serde_json::to_string(&p.display().to_string()).unwrap())
            .collect();
        manifest.push(format!(
            "{{\"name\": \"{name}\", \"tensor_bytes\": {}, \"file_bytes\": {file_bytes}, \"files\": [{}]}}",
            inspection.bytes,
            paths.join(", ")
        ));
        // Warm the page cache (criterion's warm-up repeats it).
        drop(black_box(read_fresh(&files)));

        let mut group = c.benchmark_group(format!("load-1gib/{name}"));
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8))
            .throughput(Throughput::Bytes(file_bytes));

        group.bench_function("plugin", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    let (model, bytes) = fixtures::load(name, &dir).unwrap();
                    assert_eq!(
                        bytes, inspection.bytes,
                        "{name}: hint and measured size differ"
                    );
                    model
                })
            });
        });
        group.bench_function("fs_read", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    files
                        .iter()
                        .map(|p| std::fs::read(p).unwrap())
                        .collect::<Vec<_>>()
                })
            });
        });
        group.bench_function("read_exact_fresh", |b| {
            b.iter_custom(|iters| timed(iters, || read_fresh(&files)));
        });
        let mut reused = read_fresh(&files);
        group.bench_function("read_reused", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    for (p, buf) in files.iter().zip(reused.iter_mut()) {
                        File::open(p).unwrap().read_exact(buf).unwrap();
                    }
                })
            });
        });
        drop(reused);
        group.finish();
    }
    // What was read, for `scripts/bench-report` (Python's loader is timed on the same files).
    let dir = fixtures::root().with_file_name("bench-extra");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("load_1gib.json"),
        format!("[\n{}\n]\n", manifest.join(",\n")),
    )
    .unwrap();
}

criterion_group!(benches, load_1gib);

/// Runs the benches with glibc's mmap threshold fixed at its default (128 KiB), which turns off
/// its dynamic raise: otherwise, once a tensor buffer is freed, later tensors up to 32 MiB are
/// carved from heap memory that earlier iterations already touched, and repeated loads would be
/// timed into warm memory while `fs::read` of a whole file always gets fresh pages.
fn main() {
    timed::with_fresh_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
