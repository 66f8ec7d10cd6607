//! The suite's checks. Called by [`conformance_tests!`](crate::conformance_tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use modelcache_backend::{
    Backend, BackendExt, BackendModel, LoadProgress, ModelSource, NoProgress,
};
use modelcache_core::{ModelCache, ModelPolicy};

use crate::corrupt::Corruption;
use crate::io_counter::thread_rchar;
use crate::suite::{Case, Suite};

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pub(crate) model: PathBuf,
}

pub(crate) fn write<B: Backend>(case: &Case<B>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let model = (case.write)(&root)
        .unwrap_or_else(|e| panic!("case {}: writing the fixture failed: {e}", case.name));
    Fixture {
        _dir: dir,
        root,
        model,
    }
}

fn safetensors_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            safetensors_under(&p, out);
        } else if p.extension().is_some_and(|e| e == "safetensors") {
            out.push(p);
        }
    }
}

fn used_files<B: Backend>(case: &Case<B>, fx: &Fixture) -> Vec<PathBuf> {
    match &case.used_files {
        Some(f) => f(&fx.model),
        None => {
            let mut out = Vec::new();
            safetensors_under(&fx.root, &mut out);
            out
        }
    }
}

#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) total: AtomicU64,
    pub(crate) advanced: AtomicU64,
}

impl LoadProgress for Recorder {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    fn advance(&self, bytes: u64) {
        self.advanced.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Calls `check` with every case, its freshly written fixture and the source to load it from.
pub(crate) fn for_each_case<B: Backend>(
    suite: &Suite<B>,
    mut check: impl FnMut(&Case<B>, &Fixture, &ModelSource<'_, B::Options>),
) {
    assert!(!suite.cases.is_empty(), "a suite needs at least one case");
    for case in &suite.cases {
        let fx = write(case);
        let options = (case.options)();
        let source = ModelSource {
            id: case.name,
            path: &fx.model,
            options: &options,
        };
        check(case, &fx, &source);
    }
}

pub fn loads_every_case<B: Backend>(suite: &Suite<B>) {
    for_each_case(suite, |case, _, source| {
        let opened = suite
            .backend
            .open(source)
            .unwrap_or_else(|e| panic!("case {}: open: {e}", case.name));
        let inspection = &opened.inspection;
        let hint = inspection.bytes;
        for f in &inspection.files {
            assert!(
                f.is_file(),
                "case {}: inspect lists {} that is not a file",
                case.name,
                f.display()
            );
        }
        assert_ne!(
            inspection.tensors,
            Some(0),
            "case {}: inspect counts no tensors",
            case.name
        );
        let progress = Recorder::default();
        progress.start(opened.read_bytes);
        let model = suite
            .backend
            .load(opened.plan, hint, &progress)
            .unwrap_or_else(|e| panic!("case {}: load: {e}", case.name));
        let measured = suite.backend.resident_bytes(&model).unwrap_or(hint);
        assert!(measured > 0, "case {}: measured size is zero", case.name);
        assert_eq!(
            measured, hint,
            "case {}: the loaded model measures {measured} bytes; opening it said {hint}",
            case.name
        );
        let advanced = progress.advanced.load(Ordering::Relaxed);
        assert!(advanced > 0, "case {}: no progress reported", case.name);
        let total = progress.total.load(Ordering::Relaxed);
        assert!(
            total == 0 || advanced <= total,
            "case {}: progress {advanced} past its total {total}",
            case.name
        );
    });
}

pub fn hint_reads_headers_only<B: Backend>(suite: &Suite<B>) {
    for_each_case(suite, |case, fx, source| {
        // What reading headers and small files only may cost: every non-weights file in
        // full, plus the length prefix and header of every weights file.
        let mut allowed = 0u64;
        let mut tensor_bytes = 0u64;
        let mut stack = vec![fx.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let len = entry.metadata().unwrap().len();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "safetensors") {
                    let mut n = [0u8; 8];
                    use std::io::Read;
                    std::fs::File::open(&path)
                        .unwrap()
                        .read_exact(&mut n)
                        .unwrap();
                    let header = 8 + u64::from_le_bytes(n);
                    allowed += header;
                    tensor_bytes += len - header;
                } else {
                    allowed += len;
                }
            }
        }
        let Some(before) = thread_rchar() else {
            eprintln!("/proc/thread-self/io is unavailable: skipping the read-count check");
            return;
        };
        let hint = suite.backend.open(source).unwrap().inspection.bytes;
        let read = thread_rchar().unwrap() - before;
        assert!(hint > 0, "case {}: zero bytes", case.name);
        // Slack for reads of folder listings and /proc itself.
        let slack = 64 * 1024;
        assert!(
            read <= allowed + slack,
            "case {}: open read {read} bytes; headers and small files are {allowed} (tensor data {tensor_bytes})",
            case.name
        );
    });
}

pub fn corrupt_files_are_typed_errors<B: Backend>(suite: &Suite<B>) {
    for_each_corruption(suite, |case, fx, file, corruption| {
        check_corruption(suite, case, fx, file, corruption);
    });
}

/// Calls `check` on a fresh fixture for every case, every file it reads and every
/// [`Corruption`] (but deletion of an optional file), with the corruption not yet applied.
pub(crate) fn for_each_corruption<B: Backend>(
    suite: &Suite<B>,
    mut check: impl FnMut(&Case<B>, &Fixture, &Path, Corruption),
) {
    for case in &suite.cases {
        let fx = write(case);
        let required = used_files(case, &fx).len();
        let optional = case
            .optional_files
            .as_ref()
            .map_or(0, |f| f(&fx.model).len());
        assert!(
            required > 0,
            "case {}: no checkpoint files to corrupt",
            case.name
        );
        for i in 0..required + optional {
            for corruption in Corruption::ALL {
                if i >= required && corruption == Corruption::Deleted {
                    continue;
                }
                let fx = write(case);
                let file = if i < required {
                    used_files(case, &fx).swap_remove(i)
                } else {
                    case.optional_files
                        .as_ref()
                        .map(|f| f(&fx.model))
                        .unwrap_or_default()
                        .swap_remove(i - required)
                };
                check(case, &fx, &file, corruption);
            }
        }
    }
}

fn check_corruption<B: Backend>(
    suite: &Suite<B>,
    case: &Case<B>,
    fx: &Fixture,
    file: &Path,
    corruption: Corruption,
) {
    corruption.apply(file).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let options = (case.options)();
    let source = ModelSource {
        id: case.name,
        path: &fx.model,
        options: &options,
    };
    let what = format!("case {}, {corruption:?} {}", case.name, file.display());
    let open = catch_unwind(AssertUnwindSafe(|| suite.backend.open(&source).map(|_| ())))
        .unwrap_or_else(|_| panic!("{what}: open panicked"));
    let load = catch_unwind(AssertUnwindSafe(|| {
        suite
            .backend
            .open_and_load(&source, &NoProgress)
            .map(|_| ())
    }))
    .unwrap_or_else(|_| panic!("{what}: load panicked"));
    for (step, result) in [("open", open), ("load", load)] {
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{what}: {step} succeeded"));
        let text = err.to_string();
        assert!(
            text.contains(&name),
            "{what}: {step}'s error does not name the file: {text}"
        );
    }
}

/// Calls `check` with the source of a model whose path (`.../no-such-model`) does not exist.
pub(crate) fn with_missing_path<B: Backend>(check: impl FnOnce(&ModelSource<'_, B::Options>)) {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let options = B::Options::default();
    check(&ModelSource {
        id: "missing",
        path: &missing,
        options: &options,
    });
}

/// A file damaged after the plan was opened (swapped, truncated, removed underneath): loading
/// that plan is a typed error naming the file, never a panic or a silent success.
pub fn files_changed_after_open_fail_the_load<B: Backend>(suite: &Suite<B>) {
    for_each_corruption(suite, |case, fx, file, corruption| {
        let options = (case.options)();
        let source = ModelSource {
            id: case.name,
            path: &fx.model,
            options: &options,
        };
        let what = format!(
            "case {}, {corruption:?} {} after open",
            case.name,
            file.display()
        );
        let opened = suite
            .backend
            .open(&source)
            .unwrap_or_else(|e| panic!("{what}: open: {e}"));
        corruption.apply(file).unwrap();
        let bytes = opened.inspection.bytes;
        let load = catch_unwind(AssertUnwindSafe(|| {
            suite
                .backend
                .load(opened.plan, bytes, &NoProgress)
                .map(|_| ())
        }))
        .unwrap_or_else(|_| panic!("{what}: load panicked"));
        let err = load
            .err()
            .unwrap_or_else(|| panic!("{what}: load succeeded"));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.to_string().contains(&name),
            "{what}: the load's error does not name the file: {err}"
        );
    });
}

pub fn missing_path_is_an_error<B: Backend>(suite: &Suite<B>) {
    with_missing_path::<B>(|source| {
        let err = suite
            .backend
            .open(source)
            .map(|_| ())
            .expect_err("a missing path must be an error");
        assert!(
            err.to_string().contains("no-such-model"),
            "the error does not name the path: {err}"
        );
    });
}

pub fn serves_through_the_cache<B: Backend>(suite: &Suite<B>) {
    let case = &suite.cases[0];
    let fx = write(case);
    let cache = ModelCache::new(u64::MAX / 2);
    let loader = BackendModel::new(Arc::clone(&suite.backend), "m", &fx.model, (case.options)());
    cache
        .register("m", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let plan = cache.plan(&["m"]).unwrap();
    let a = cache.get::<B::Model>("m").unwrap();
    assert_eq!(cache.stats().charged, a.bytes());
    assert_eq!(plan.steps[0].bytes, a.bytes());
    let b = cache.get::<B::Model>("m").unwrap();
    assert!(modelcache_core::Handle::ptr_eq(&a, &b));
    assert_eq!(cache.stats().loads, 1);
}
