//! The suite's checks, called by [`contract_tests!`](crate::contract_tests) and
//! [`safetensors_tests!`](crate::safetensors_tests).
//!
//! Each check is written once, against a [`Subject`]: the erased loader (`dyn ModelLoader`)
//! the cache itself holds. A typed [`Suite`] binds its backend with `BackendModel`, a
//! [`DynSuite`] through `DynBackend::prepare`, so a plugin linked in and the same plugin loaded
//! as a dynamic library are checked by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use modelcache_backend::{
    Backend, BackendError, BackendModel, LoadProgress, ModelLoader, Move, NoProgress, open_and_load,
};
use modelcache_core::{ModelCache, ModelPolicy};

use crate::corrupt::Corruption;
use crate::io_counter::thread_rchar;
use crate::parts::{TensorParts, assert_same_parts};
use crate::promise::names_a_file_under;
use crate::suite::{Case, DynSuite, Suite};

/// What the checks run against: cases, and a way to bind a backend to one model.
pub trait Subject {
    /// The options a case carries.
    type Options: Default;
    /// The loaded model's type.
    type Model: Send + Sync + 'static;
    /// The fixture cases.
    fn cases(&self) -> &[Case<Self::Options>];
    /// The backend bound to model `id` at `path` with `options`, as the cache holds it.
    fn bind(&self, id: &str, path: &Path, options: Self::Options) -> Arc<dyn ModelLoader> {
        self.bind_on(id, path, options, None)
    }
    /// [`bind`](Subject::bind), loading onto `device` (`None`: host memory).
    fn bind_on(
        &self,
        id: &str,
        path: &Path,
        options: Self::Options,
        device: Option<&str>,
    ) -> Arc<dyn ModelLoader>;
    /// The model's tensors as named parts, if the suite was told how to read them
    /// ([`Suite::parts`]).
    fn parts(&self, _model: &Self::Model) -> Option<TensorParts> {
        None
    }
}

impl<B: Backend> Subject for Suite<B> {
    type Options = B::Options;
    type Model = B::Model;

    fn cases(&self) -> &[Case<B::Options>] {
        &self.cases
    }

    fn parts(&self, model: &B::Model) -> Option<TensorParts> {
        self.parts.map(|parts| parts(model))
    }

    fn bind_on(
        &self,
        id: &str,
        path: &Path,
        options: B::Options,
        device: Option<&str>,
    ) -> Arc<dyn ModelLoader> {
        Arc::new(
            BackendModel::new(Arc::clone(&self.backend), id, path, options)
                .on_device(device.map(str::to_owned)),
        )
    }
}

impl<M: Send + Sync + 'static> Subject for DynSuite<M> {
    type Options = toml::Table;
    type Model = M;

    fn cases(&self) -> &[Case<toml::Table>] {
        &self.cases
    }

    fn bind_on(
        &self,
        id: &str,
        path: &Path,
        options: toml::Table,
        device: Option<&str>,
    ) -> Arc<dyn ModelLoader> {
        let backend = Arc::clone(&self.backend);
        let prepared = if options.is_empty() {
            backend.prepare_on(id, path, device, Vec::new(), None)
        } else {
            let mut de = <dyn erased_serde::Deserializer>::erase(toml::Value::Table(options));
            backend.prepare_on(id, path, device, Vec::new(), Some(&mut de))
        };
        prepared.unwrap_or_else(|e| panic!("case {id}: the backend refused its options: {e}"))
    }
}

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    pub(crate) model: PathBuf,
}

pub(crate) fn write<O>(case: &Case<O>) -> Fixture {
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

fn used_files<O>(case: &Case<O>, fx: &Fixture) -> Vec<PathBuf> {
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

/// Calls `check` with every case, its freshly written fixture and the model bound to it.
fn for_each_loader<S: Subject>(
    subject: &S,
    mut check: impl FnMut(&Case<S::Options>, &Fixture, &dyn ModelLoader),
) {
    assert!(
        !subject.cases().is_empty(),
        "a suite needs at least one case"
    );
    for case in subject.cases() {
        let fx = write(case);
        let loader = subject.bind(case.name, &fx.model, (case.options)());
        check(case, &fx, &*loader);
    }
}

/// The error `result` must be: naming the file `name` in its message, and carrying a path
/// under `root` (the fixture's folder); `what` says which step of which case.
fn error_naming<T>(what: &str, result: Result<T, BackendError>, name: &str, root: &Path) {
    let err = result.err().unwrap_or_else(|| panic!("{what} succeeded"));
    let text = err.to_string();
    assert!(
        text.contains(name),
        "{what}: the error does not name {name}: {text}"
    );
    if let Err(broken) = names_a_file_under(&err, root) {
        panic!("{what}: {broken}");
    }
}

pub fn loads_every_case<S: Subject>(subject: &S) {
    for_each_loader(subject, |case, _, loader| {
        let opened = loader
            .open()
            .unwrap_or_else(|e| panic!("case {}: open: {e}", case.name));
        let inspection = opened.inspection().clone();
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
        progress.start(opened.read_bytes());
        let model = opened
            .load(hint, &progress)
            .unwrap_or_else(|e| panic!("case {}: load: {e}", case.name));
        // The loaded model's measured size (the backend's `resident_bytes`, else the plan's).
        let measured = model.bytes();
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

pub fn hint_reads_headers_only<S: Subject>(subject: &S) {
    for_each_loader(subject, |case, fx, loader| {
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
        let hint = loader.open().unwrap().inspection().bytes;
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

pub fn corrupt_files_are_typed_errors<S: Subject>(subject: &S) {
    for_each_corruption(subject, |case, fx, file, corruption| {
        corruption.apply(file).unwrap();
        let name = file_name(file);
        let loader = subject.bind(case.name, &fx.model, (case.options)());
        let what = format!("case {}, {corruption:?} {}", case.name, file.display());
        let open = catch_unwind(AssertUnwindSafe(|| loader.open().map(drop)))
            .unwrap_or_else(|_| panic!("{what}: open panicked"));
        let load = catch_unwind(AssertUnwindSafe(|| {
            open_and_load(&*loader, &NoProgress).map(drop)
        }))
        .unwrap_or_else(|_| panic!("{what}: load panicked"));
        error_naming(&format!("{what}: open"), open, &name, &fx.root);
        error_naming(&format!("{what}: load"), load, &name, &fx.root);
    });
}

fn file_name(file: &Path) -> String {
    file.file_name().unwrap().to_string_lossy().into_owned()
}

/// Calls `check` on a fresh fixture for every case, every file it reads and every
/// [`Corruption`] (but deletion of an optional file), with the corruption not yet applied.
pub(crate) fn for_each_corruption<S: Subject>(
    subject: &S,
    mut check: impl FnMut(&Case<S::Options>, &Fixture, &Path, Corruption),
) {
    for case in subject.cases() {
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

/// A file damaged after the plan was opened (swapped, truncated, removed underneath): loading
/// that plan is a typed error naming the file, never a panic or a silent success.
pub fn files_changed_after_open_fail_the_load<S: Subject>(subject: &S) {
    for_each_corruption(subject, |case, fx, file, corruption| {
        let loader = subject.bind(case.name, &fx.model, (case.options)());
        let what = format!(
            "case {}, {corruption:?} {} after open",
            case.name,
            file.display()
        );
        let opened = loader
            .open()
            .unwrap_or_else(|e| panic!("{what}: open: {e}"));
        corruption.apply(file).unwrap();
        let bytes = opened.inspection().bytes;
        let load = catch_unwind(AssertUnwindSafe(|| {
            opened.load(bytes, &NoProgress).map(drop)
        }))
        .unwrap_or_else(|_| panic!("{what}: load panicked"));
        error_naming(&format!("{what}: load"), load, &file_name(file), &fx.root);
    });
}

/// The path of a model that does not exist (`.../no-such-model`), in a folder kept while the
/// returned guard lives.
pub(crate) fn missing_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    (dir, missing)
}

pub fn missing_path_is_an_error<S: Subject>(subject: &S) {
    let (dir, missing) = missing_path();
    let loader = subject.bind("missing", &missing, S::Options::default());
    error_naming(
        "opening a missing path",
        loader.open(),
        "no-such-model",
        dir.path(),
    );
}

pub fn serves_through_the_cache<S: Subject>(subject: &S) {
    let case = &subject.cases()[0];
    let fx = write(case);
    let cache = ModelCache::new(u64::MAX / 2);
    let loader = subject.bind("m", &fx.model, (case.options)());
    cache.register("m", loader, ModelPolicy::default()).unwrap();
    let plan = cache.plan(&["m"]).unwrap();
    let a = cache.get::<S::Model>("m").unwrap();
    assert_eq!(cache.stats().charged, a.bytes());
    assert_eq!(plan.steps[0].bytes, a.bytes());
    let b = cache.get::<S::Model>("m").unwrap();
    assert!(modelcache_core::Handle::ptr_eq(&a, &b));
    assert_eq!(cache.stats().loads, 1);
}

/// A device no build has: a build without CUDA cannot open any CUDA device, and one with it
/// finds no 4,096th GPU. (`cuda:0` would load, and so fail the check, on a CUDA build with a GPU.)
const UNAVAILABLE_DEVICE: &str = "cuda:4095";

/// Every case, loaded then moved ([`ModelLoader::relocate`], the backend's `demote` and
/// `promote`): for a backend that [`moves`](ModelLoader::moves), the demoted copy and the copy
/// promoted back onto `"cpu"` are its model type and measure what the load measured, and,
/// where the suite reads the model's tensors ([`Suite::parts`]), hold them value for value;
/// for one that does not, demoting is an error, never a panic.
pub fn moves_between_tiers<S: Subject>(subject: &S) {
    for_each_loader(subject, |case, _, loader| {
        let loaded = open_and_load(loader, &NoProgress)
            .unwrap_or_else(|e| panic!("case {}: load: {e}", case.name));
        let (bytes, type_name) = (loaded.bytes(), loaded.type_name());
        let model = loaded.into_parts().value;
        let relocate = |model: &modelcache_backend::ModelValue, to: Move<'_>| {
            catch_unwind(AssertUnwindSafe(|| loader.relocate(model, bytes, to)))
                .unwrap_or_else(|_| panic!("case {}: {to:?} panicked", case.name))
        };
        if !loader.moves() {
            let demoted = relocate(&*model, Move::Demote);
            assert!(
                demoted.is_err(),
                "case {}: the backend does not move models, yet demote succeeded",
                case.name
            );
            return;
        }
        // The model's values, where the suite can read them: every move must keep them.
        let parts = |value: &modelcache_backend::ModelValue| {
            let model = value.downcast_ref::<S::Model>();
            model.and_then(|m| subject.parts(m))
        };
        let before = parts(&*model);
        let same_values = |what: &str, value: &modelcache_backend::ModelValue| {
            if let Some(before) = &before {
                let after = parts(value)
                    .unwrap_or_else(|| panic!("case {}: {what}: not the model's type", case.name));
                assert_same_parts(&format!("case {}: {what}", case.name), before, &after);
            }
        };
        let demoted = relocate(&*model, Move::Demote)
            .unwrap_or_else(|e| panic!("case {}: demote: {e}", case.name));
        assert_eq!(demoted.type_name(), type_name, "case {}: demote", case.name);
        assert_eq!(
            demoted.bytes(),
            bytes,
            "case {}: the demoted copy measures {} bytes; the loaded model {bytes}",
            case.name,
            demoted.bytes()
        );
        drop(model);
        let host = demoted.into_parts().value;
        same_values("demoted", &*host);
        let promoted = relocate(&*host, Move::Promote("cpu"))
            .unwrap_or_else(|e| panic!("case {}: promote to cpu: {e}", case.name));
        assert_eq!(
            promoted.type_name(),
            type_name,
            "case {}: promote",
            case.name
        );
        assert_eq!(
            promoted.bytes(),
            bytes,
            "case {}: the copy promoted to cpu measures {} bytes; the loaded model {bytes}",
            case.name,
            promoted.bytes()
        );
        same_values("promoted to cpu", &*promoted.into_parts().value);
    });
}

/// Opening and loading the first case onto a device this build does not have
/// ([`UNAVAILABLE_DEVICE`]) fails, never panics, with an error that names the device; a
/// backend that moves models refuses to promote one onto it the same way.
pub fn an_unavailable_device_is_an_error_naming_it<S: Subject>(subject: &S) {
    let case = &subject.cases()[0];
    let fx = write(case);
    let what = format!("case {} on {UNAVAILABLE_DEVICE}", case.name);
    let loader = subject.bind_on(
        case.name,
        &fx.model,
        (case.options)(),
        Some(UNAVAILABLE_DEVICE),
    );
    let load = catch_unwind(AssertUnwindSafe(|| {
        open_and_load(&*loader, &NoProgress).map(drop)
    }))
    .unwrap_or_else(|_| panic!("{what}: open or load panicked"));
    let err = load
        .err()
        .unwrap_or_else(|| panic!("{what}: the model loaded (onto a device it cannot have)"));
    let text = err.to_string();
    assert!(
        text.contains(UNAVAILABLE_DEVICE),
        "{what}: the error does not name the device: {text}"
    );
    let host = subject.bind(case.name, &fx.model, (case.options)());
    if !host.moves() {
        return;
    }
    let loaded = open_and_load(&*host, &NoProgress)
        .unwrap_or_else(|e| panic!("case {}: load: {e}", case.name));
    let bytes = loaded.bytes();
    let model = loaded.into_parts().value;
    let promote = catch_unwind(AssertUnwindSafe(|| {
        host.relocate(&*model, bytes, Move::Promote(UNAVAILABLE_DEVICE))
            .map(drop)
    }))
    .unwrap_or_else(|_| panic!("{what}: promote panicked"));
    let text = promote
        .err()
        .unwrap_or_else(|| panic!("{what}: promote succeeded"))
        .to_string();
    assert!(
        text.contains(UNAVAILABLE_DEVICE),
        "{what}: the promote error does not name the device: {text}"
    );
}
