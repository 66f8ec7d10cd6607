//! The ~1 GiB generated checkpoints the load benches read, one per plugin layout, and the
//! plugin calls that load them.
//!
//! Fixtures are written once under `target/bench-fixtures/<name>/` and reused across runs; a
//! folder whose marker does not match the current spec (or is missing) is written again. The
//! contents are seeded, so every run reads the same bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::any::Any;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use modelcache_backend::{Backend, BackendError, BackendExt, Inspection, ModelSource, NoProgress};
use modelcache_flux::FluxOptions;
use modelcache_kokoro::KokoroOptions;
use modelcache_ltx::LtxOptions;
use modelcache_testkit::{
    FluxSpec, KokoroSpec, LtxSpec, write_flux_bfl, write_flux_diffusers, write_kokoro_mlx,
    write_ltx_single_file,
};

/// Target size of every fixture: what the generator writes, headers and small files included.
pub const TARGET_BYTES: u64 = 1 << 30;
/// Seed of every fixture's tensor contents.
pub const SEED: u64 = 5;
/// Bump when a generator or spec changes, so cached fixtures are rewritten.
const FORMAT: &str = "bench-fixtures v1";
const MARKER: &str = ".bench-fixture";

/// The fixtures, by name: one per plugin layout a model is commonly shipped in.
pub const NAMES: [&str; 4] = ["flux-bfl", "flux-diffusers", "ltx-single-file", "kokoro"];

/// `$CARGO_TARGET_DIR` (or this package's `target/`) `/bench-fixtures`.
pub fn root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench-fixtures")
}

fn marker(name: &str) -> String {
    format!("{FORMAT} {name} seed={SEED} scale={TARGET_BYTES}\n")
}

/// The folder of fixture `name`, written first if missing or stale.
///
/// # Panics
/// On an unknown name.
pub fn ensure(name: &str) -> io::Result<PathBuf> {
    let dir = root().join(name);
    let want = marker(name);
    if fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m == want) {
        return Ok(dir);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    eprintln!(
        "writing fixture {} (~{} MiB)",
        dir.display(),
        TARGET_BYTES >> 20
    );
    let report = match name {
        "flux-bfl" => write_flux_bfl(&dir, &flux_spec())?,
        "flux-diffusers" => write_flux_diffusers(&dir, &flux_spec())?,
        "ltx-single-file" => write_ltx_single_file(
            &dir,
            &LtxSpec::tiny().with_seed(SEED).with_scale(TARGET_BYTES),
        )?,
        "kokoro" => write_kokoro_mlx(
            &dir,
            &KokoroSpec::tiny().with_seed(SEED).with_scale(TARGET_BYTES),
        )?,
        other => panic!("unknown fixture {other:?}"),
    };
    eprintln!(
        "  {} files, {} tensors, {} MiB",
        report.files.len(),
        report.tensor_count(),
        report.file_bytes >> 20
    );
    fs::write(dir.join(MARKER), want)?;
    Ok(dir)
}

fn flux_spec() -> FluxSpec {
    FluxSpec::tiny().with_seed(SEED).with_scale(TARGET_BYTES)
}

fn source<'a, O>(dir: &'a Path, options: &'a O) -> ModelSource<'a, O> {
    ModelSource::new("bench", dir, options)
}

/// What the plugin reads for fixture `name` with default options (headers only): the files,
/// the tensor count and the loaded bytes.
///
/// # Panics
/// On an unknown name.
pub fn inspect(name: &str, dir: &Path) -> Result<Inspection, BackendError> {
    match name {
        "flux-bfl" | "flux-diffusers" => {
            modelcache_flux::BACKEND.inspect(&source(dir, &FluxOptions::default()))
        }
        "ltx-single-file" => modelcache_ltx::BACKEND.inspect(&source(dir, &LtxOptions::default())),
        "kokoro" => modelcache_kokoro::BACKEND.inspect(&source(dir, &KokoroOptions::default())),
        other => panic!("unknown fixture {other:?}"),
    }
}

/// Loads fixture `name` through its plugin with default options, as the cache would; returns
/// the model (type-erased) and its measured resident bytes.
///
/// # Panics
/// On an unknown name.
pub fn load(name: &str, dir: &Path) -> Result<(Box<dyn Any + Send>, u64), BackendError> {
    fn boxed<B: Backend>(
        b: &B,
        dir: &Path,
        options: &B::Options,
    ) -> Result<(Box<dyn Any + Send>, u64), BackendError> {
        let opened = b.open(&source(dir, options))?;
        let planned = opened.inspection.bytes;
        let model = b.load(opened.plan, planned, &NoProgress)?;
        let bytes = b.resident_bytes(&model).unwrap_or(planned);
        Ok((Box::new(model), bytes))
    }
    match name {
        "flux-bfl" | "flux-diffusers" => {
            boxed(&modelcache_flux::BACKEND, dir, &FluxOptions::default())
        }
        "ltx-single-file" => boxed(&modelcache_ltx::BACKEND, dir, &LtxOptions::default()),
        "kokoro" => boxed(&modelcache_kokoro::BACKEND, dir, &KokoroOptions::default()),
        other => panic!("unknown fixture {other:?}"),
    }
}
