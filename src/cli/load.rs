//! `load`: load models with progress bars and report what was measured; a model that fails is
//! reported beside the others, which are loaded anyway.

use std::collections::BTreeSet;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use modelcache_core::{LoadProgress, Served, format_bytes};

use super::Failure;
use super::args::Args;
use super::output::{self, Table};
use super::report::Problem;
use super::setup::open;

/// A progress bar fed in bytes by the loader (drawn only on a terminal).
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

pub fn load(args: &Args, ids: &[String]) -> Result<(), Failure> {
    let opened = open(args, false)?;
    for id in ids {
        opened.known(id)?;
    }
    let registry = &opened.registry;
    let cache = registry.cache();
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
        "evicted",
    ]);
    let mut problems = Vec::new();
    // Left out for a configuration problem, reported below with the others.
    for id in ids.iter().filter(|id| registry.model(id).is_some()) {
        let plan = cache.plan(&[id])?;
        let Some(step) = plan.requested().next() else {
            continue;
        };
        let hint = step.bytes;
        let bar = ProgressBar::new(hint)
            .with_style(style.clone())
            .with_prefix(output::escape(id).into_owned());
        let before: BTreeSet<String> = cache.entries().into_iter().map(|e| e.id).collect();
        let on_device = |e: &modelcache::core::EntryInfo| e.device.is_some();
        let was_on_device: BTreeSet<String> = cache
            .entries()
            .into_iter()
            .filter(on_device)
            .map(|e| e.id)
            .collect();
        let start = Instant::now();
        let (handle, served) = match cache.request(id, &Bar(bar.clone())) {
            Ok(served) => served,
            Err(e) => {
                bar.finish_and_clear();
                problems.push(Problem::cache(registry, e));
                continue;
            }
        };
        let took = start.elapsed();
        let after: BTreeSet<String> = cache.entries().into_iter().map(|e| e.id).collect();
        let mut evicted: Vec<String> = before.difference(&after).cloned().collect();
        let demoted = cache
            .entries()
            .into_iter()
            .filter(|e| e.demoted_from.is_some() && was_on_device.contains(&e.id));
        evicted.extend(demoted.map(|e| format!("{} (to host memory)", e.id)));
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
                Served::Loaded if cache.budget() == 0 => "loaded, not kept",
                Served::Loaded => "loaded",
                Served::Promoted => "moved back from host memory",
            }
            .to_owned(),
            if evicted.is_empty() {
                "-".to_owned()
            } else {
                evicted.join(", ")
            },
        ]);
        // Not kept: a later model may evict this one, as requests of a server would.
        drop(handle);
    }
    if table.is_empty() {
        // Nothing loaded: the problems below say why.
        return opened.finish(problems);
    }
    output::out("");
    table.print();
    let s = cache.stats();
    output::out("");
    output::out(format_args!(
        "charged {} of {} ({} resident, {} evictions{})",
        format_bytes(s.charged),
        format_bytes(s.budget),
        s.entries,
        s.evictions,
        if s.demotions + s.promotions > 0 {
            format!(", {} demotions, {} promotions", s.demotions, s.promotions)
        } else {
            String::new()
        }
    ));
    opened.finish(problems)
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn bytes_per_s(rate: f64) -> u64 {
    rate as u64
}
