//! `load`: load models with progress bars and report what was measured.

use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use modelcache_core::{LoadProgress, Served, format_bytes};

use super::Failure;
use super::args::Args;
use super::check::unknown;
use super::output::{self, Table};
use super::setup::open;

/// A progress bar fed in bytes by the loader.
struct Bar(ProgressBar);

impl LoadProgress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish();
    }
}

pub fn load(args: &Args, ids: &[String]) -> Result<ExitCode, Failure> {
    let registry = open(args)?;
    if let Some(e) = ids.iter().find_map(|id| unknown(&registry, id)) {
        return Err(e);
    }
    let style = ProgressStyle::with_template(
        "{prefix:>16} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map_err(|e| e.to_string())?
    .progress_chars("=> ");
    let mut table = Table::new(&[
        "model",
        "measured",
        "hint",
        "hint error",
        "load time",
        "throughput",
        "served",
    ]);
    for id in ids {
        let hint = registry.cache().plan(&[id])?.steps[0].bytes;
        let bar = ProgressBar::new(hint)
            .with_style(style.clone())
            .with_prefix(output::escape(id).into_owned());
        let start = Instant::now();
        let (handle, served) = registry.cache().request(id, &Bar(bar))?;
        let took = start.elapsed();
        let measured = handle.bytes();
        #[allow(clippy::cast_precision_loss)]
        let (error, rate) = (
            (hint as f64 - measured as f64) / measured.max(1) as f64 * 100.0,
            measured as f64 / took.as_secs_f64().max(1e-9),
        );
        table.row(vec![
            id.clone(),
            format_bytes(measured),
            format_bytes(hint),
            format!("{error:+.2}%"),
            format!("{took:.2?}"),
            format!("{}/s", format_bytes(bytes_per_s(rate))),
            match served {
                Served::Hit => "already resident",
                Served::Joined => "joined a load",
                Served::Loaded => "loaded",
            }
            .to_owned(),
        ]);
        // Not kept: a later model may evict this one, as requests of a server would.
        drop(handle);
    }
    output::out("");
    table.print();
    let s = registry.cache().stats();
    output::out("");
    output::out(format_args!(
        "charged {} of {} ({} resident, {} evictions)",
        format_bytes(s.charged),
        format_bytes(s.budget),
        s.entries,
        s.evictions
    ));
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn bytes_per_s(rate: f64) -> u64 {
    rate as u64
}
