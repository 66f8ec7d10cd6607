//! The swap race: a checkpoint file replaced, over and over, between its real version and a
//! sparse one whose header claims 100 GiB, while loads run through a [`ModelCache`].
//!
//! The file is a voice pack of a tiny Kokoro model (the only tensor whose shape the config does
//! not fix, so the huge version passes every check but its size). Each swap is atomic (a hard
//! link renamed over the file), as a download tool or a sync replaces files, so every open sees
//! one version or the other. Before the fix, a load whose hint read the small version and
//! whose load read the huge one allocated 100 GiB and aborted the process; now every load ends
//! in a success or a typed error, which [`Outcome`] classifies.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use modelcache_core::{BackendError, CacheError, ModelCache, ModelLoader, ModelPolicy, NoProgress};
use modelcache_testkit::{KokoroSpec, write_kokoro_mlx};
use modelcache_weights::WeightsError;

/// The bytes the huge version of the voice pack claims.
pub const HUGE_BYTES: u64 = 100 << 30;

/// A tiny Kokoro model whose voice pack `af_heart` can be swapped for a huge version.
#[derive(Debug)]
pub struct SwapFixture {
    /// The model folder.
    pub model: PathBuf,
    /// The voice pack that is swapped.
    pub target: PathBuf,
    small: PathBuf,
    huge: PathBuf,
    dir: tempfile::TempDir,
}

impl SwapFixture {
    /// Writes the model, and the two versions of the voice pack beside it (the huge one is
    /// sparse: it takes the disk space of its header).
    ///
    /// # Errors
    /// Any I/O error while writing.
    pub fn new() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("modelcache-swap-")
            .tempdir()?;
        let model = dir.path().join("kokoro");
        write_kokoro_mlx(&model, &KokoroSpec::tiny())?;
        let target = model.join("voices/af_heart.safetensors");
        let small = dir.path().join("small.safetensors");
        fs::copy(&target, &small)?;
        let huge = dir.path().join("huge.safetensors");
        write_huge_version(&target, &huge, HUGE_BYTES)?;
        Ok(Self {
            model,
            target,
            small,
            huge,
            dir,
        })
    }

    /// Puts the small (`false`) or the huge (`true`) version in place, atomically.
    ///
    /// # Errors
    /// Any I/O error while linking or renaming.
    pub fn swap(&self, huge: bool) -> io::Result<()> {
        let from = if huge { &self.huge } else { &self.small };
        let tmp = self.dir.path().join("swap.tmp");
        let _ = fs::remove_file(&tmp);
        fs::hard_link(from, &tmp)?;
        fs::rename(&tmp, &self.target)
    }

    /// The model's loader, with the Kokoro backend's default options (every voice pack).
    pub fn loader(&self) -> Arc<dyn ModelLoader> {
        Arc::new(modelcache_backend::BackendModel::new(
            Arc::new(modelcache_kokoro::BACKEND),
            "kokoro",
            &self.model,
            Default::default(),
        ))
    }
}

/// Writes to `out` a copy of the safetensors voice pack `voice` whose one tensor has as many
/// rows as make it about `bytes` long, data left as a hole.
fn write_huge_version(voice: &Path, out: &Path, bytes: u64) -> io::Result<()> {
    let inventory = modelcache_weights::FileInventory::read(voice).map_err(io::Error::other)?;
    let [t] = inventory.tensors() else {
        return Err(io::Error::other("a voice pack holds one tensor"));
    };
    let row: u64 =
        t.shape()[1..].iter().map(|&d| d as u64).product::<u64>() * (t.dtype().bits() / 8);
    let rows = bytes / row;
    let data = rows * row;
    let rest: Vec<String> = t.shape()[1..].iter().map(ToString::to_string).collect();
    let mut json = format!(
        "{{\"{}\":{{\"dtype\":\"{}\",\"shape\":[{rows},{}],\"data_offsets\":[0,{data}]}}}}",
        t.name(),
        t.dtype(),
        rest.join(",")
    );
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let mut head = (json.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(json.as_bytes());
    fs::write(out, &head)?;
    fs::OpenOptions::new()
        .write(true)
        .open(out)?
        .set_len(head.len() as u64 + data)
}

/// How one load of the race ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Loaded (from the small version).
    Loaded,
    /// The hint read the huge version: larger than the budget.
    TooLarge,
    /// The load found a file other than the one sized (its allowance refused it, or the
    /// reopened file's header differed from the inventory).
    Changed,
    /// The hint read the huge version and it was admitted (`allow_oversized`), but the memory
    /// could not be had.
    OutOfMemory,
    /// Any other typed error (an unexpected one for this race: the caller decides).
    OtherTyped,
    /// The loader panicked: a broken promise.
    Panicked,
}

impl Outcome {
    /// Classifies the result of one request.
    pub fn of(result: &Result<(), CacheError>) -> Self {
        let Err(e) = result else {
            return Self::Loaded;
        };
        match e {
            CacheError::TooLarge { .. } => Self::TooLarge,
            CacheError::LoaderPanicked { .. } => Self::Panicked,
            CacheError::Load { source, .. } => match &**source {
                BackendError::Checkpoint { source, .. } => {
                    match source.downcast_ref::<WeightsError>() {
                        Some(WeightsError::Changed { .. }) => Self::Changed,
                        Some(WeightsError::OutOfMemory { .. }) => Self::OutOfMemory,
                        _ => Self::OtherTyped,
                    }
                }
                _ => Self::OtherTyped,
            },
            _ => Self::OtherTyped,
        }
    }
}

/// What a race did.
#[derive(Debug, Default)]
pub struct RaceReport {
    /// Loads attempted.
    pub loads: usize,
    /// Swaps made while they ran.
    pub swaps: usize,
    /// How many loads ended each way.
    pub outcomes: BTreeMap<Outcome, usize>,
    /// The first message of each [`Outcome::OtherTyped`] or [`Outcome::Panicked`] kind seen.
    pub unexpected: Vec<String>,
}

/// Runs `loads` requests for the model of `fixture` through a cache of `budget` bytes, each
/// followed by an invalidation (so that each is a load), while another thread swaps the voice
/// pack between its versions: every `period`, or as fast as it can when `period` is `None`.
/// Ends with the small version in place.
///
/// # Errors
/// An I/O error of the swapping thread.
pub fn swap_race(
    fixture: &SwapFixture,
    loads: usize,
    period: Option<Duration>,
    budget: u64,
) -> io::Result<RaceReport> {
    let cache = ModelCache::builder()
        .budget(budget)
        .load_timeout(Duration::from_millis(1))
        .build();
    cache
        .register("kokoro", fixture.loader(), ModelPolicy::default())
        .map_err(io::Error::other)?;
    let stop = AtomicBool::new(false);
    let swaps = AtomicUsize::new(0);
    let mut report = RaceReport {
        loads,
        ..RaceReport::default()
    };
    std::thread::scope(|s| -> io::Result<()> {
        let swapper = s.spawn(|| -> io::Result<()> {
            let mut huge = false;
            while !stop.load(Ordering::Relaxed) {
                huge = !huge;
                fixture.swap(huge)?;
                swaps.fetch_add(1, Ordering::Relaxed);
                match period {
                    Some(p) => std::thread::sleep(p),
                    None => std::thread::yield_now(),
                }
            }
            Ok(())
        });
        for _ in 0..loads {
            let result = cache.request("kokoro", &NoProgress).map(drop);
            cache.invalidate("kokoro");
            let outcome = Outcome::of(&result);
            if matches!(outcome, Outcome::OtherTyped | Outcome::Panicked)
                && let Err(e) = &result
                && report.unexpected.len() < 8
            {
                report.unexpected.push(e.to_string());
            }
            *report.outcomes.entry(outcome).or_default() += 1;
        }
        stop.store(true, Ordering::Relaxed);
        swapper
            .join()
            .map_err(|_| io::Error::other("the swapping thread panicked"))?
    })?;
    fixture.swap(false)?;
    report.swaps = swaps.load(Ordering::Relaxed);
    let stats = cache.stats();
    if stats.charged != 0 {
        report.unexpected.push(format!(
            "{} bytes still charged after the race",
            stats.charged
        ));
    }
    Ok(report)
}
