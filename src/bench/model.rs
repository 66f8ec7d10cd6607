//! One model: cold load (page cache warm), hint against measured size, and hit latency.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use modelcache_core::{CacheError, ModelCache, NoProgress, Served};
use serde::Serialize;

use super::latency::Percentiles;

/// What `bench` measures for one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// The model ID.
    pub id: String,
    /// Its backend.
    pub backend: String,
    /// Bytes the backend predicted (or the configured size).
    pub hint_bytes: u64,
    /// Bytes measured after loading.
    pub measured_bytes: u64,
    /// `(hint - measured) / measured`, in percent.
    pub hint_error_pct: f64,
    /// Cold loads measured.
    pub load_runs: usize,
    /// Load time with the files in the page cache, in nanoseconds (median of the runs).
    pub load_ns: u64,
    /// Measured bytes per second of load time.
    pub throughput_bytes_per_s: f64,
    /// Latency of a request for the resident model (request and drop the handle), one thread,
    /// nothing else running: the lookup itself.
    pub hit: Percentiles,
}

/// Reads every regular file under `path` once, so that loads are timed from the page cache.
/// Special files (a FIFO would block) and linked folders (which may loop) are skipped; a load
/// reports what is wrong with them.
///
/// # Errors
/// When a file cannot be read.
pub fn warm_page_cache(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p)?;
        let linked_dir = p != path && std::fs::symlink_metadata(&p)?.file_type().is_symlink();
        if meta.is_dir() && !linked_dir {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        } else if meta.is_file() {
            let mut f = modelcache_files::open(&p)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .into_file();
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
    }
    Ok(total)
}

/// Measures `id`: `load_runs` cold loads (each after invalidating it), then `hit_samples` hits.
/// The cache must have room for the model (others are evicted as usual).
///
/// # Errors
/// When the model cannot be planned or loaded.
pub fn measure_model(
    cache: &ModelCache,
    id: &str,
    load_runs: usize,
    hit_samples: usize,
) -> Result<ModelReport, CacheError> {
    let hint = cache.plan(&[id])?.requested().next().map_or(0, |s| s.bytes);
    let mut loads = Vec::with_capacity(load_runs);
    let mut last = None;
    for _ in 0..load_runs.max(1) {
        drop(last.take());
        cache.invalidate(id);
        let start = Instant::now();
        let (handle, served) = cache.request(id, &NoProgress)?;
        loads.push(start.elapsed());
        debug_assert_eq!(served, Served::Loaded);
        last = Some(handle);
    }
    let handle = last.ok_or_else(|| CacheError::UnknownModel { id: id.into() })?;
    let (measured, backend) = (handle.bytes(), handle.backend().to_owned());
    let mut hits = Vec::with_capacity(hit_samples);
    for _ in 0..hit_samples {
        let start = Instant::now();
        let (h, served) = cache.request(id, &NoProgress)?;
        let took = start.elapsed();
        drop(h);
        if served != Served::Hit {
            // Not kept (a budget of 0): there are no hits to time, only loads.
            hits.clear();
            break;
        }
        hits.push(took);
    }
    drop(handle);
    let load = Percentiles::of(&mut loads);
    // At least one load ran (`load_runs.max(1)`), so there is a median.
    let load_ns = load.median_ns.unwrap_or_default();
    #[allow(clippy::cast_precision_loss)]
    let (hint_error_pct, throughput) = (
        (hint as f64 - measured as f64) / measured.max(1) as f64 * 100.0,
        measured as f64 / Duration::from_nanos(load_ns.max(1)).as_secs_f64(),
    );
    Ok(ModelReport {
        id: id.into(),
        backend,
        hint_bytes: hint,
        measured_bytes: measured,
        hint_error_pct,
        load_runs: load.count,
        load_ns,
        throughput_bytes_per_s: throughput,
        hit: Percentiles::of(&mut hits),
    })
}
