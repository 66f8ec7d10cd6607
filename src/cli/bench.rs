//! `bench`: the main job.

use std::process::ExitCode;

use modelcache::bench::{
    ModelReport, TraceReport, TraceSpec, measure_model, replay, warm_page_cache,
};
use modelcache_core::format_bytes;
use serde::Serialize;

use super::Failure;
use super::args::{Args, BenchOpts};
use super::output::{self, Table};
use super::setup::open;

#[derive(Serialize)]
struct Report {
    config: String,
    budget: u64,
    models: Vec<ModelReport>,
    trace: TraceReport,
}

fn ns(n: u64) -> String {
    modelcache::bench::format_ns(n)
}

pub fn bench(args: &Args, opts: &BenchOpts) -> Result<ExitCode, Failure> {
    let registry = open(args)?;
    let cache = registry.cache();
    // In the order of the file: the trace makes the first model the most popular.
    let ordered = super::setup::in_file_order(&registry);
    let ids: Vec<String> = ordered.iter().map(|m| m.id.clone()).collect();
    if ids.is_empty() {
        return Err(format!("{} configures no models", registry.file().display()).into());
    }
    let mut models = Vec::new();
    for m in &ordered {
        if !opts.json {
            output::err(format_args!("measuring {} ...", m.id));
        }
        warm_page_cache(&m.path)
            .map_err(|e| format!("model {:?}: reading {}: {e}", m.id, m.path.display()))?;
        models.push(measure_model(
            cache,
            &m.id,
            opts.load_runs,
            opts.hit_samples,
        )?);
    }
    cache.clear();
    let spec = TraceSpec {
        requests: opts.requests,
        clients: opts.clients,
        seed: opts.seed,
        skew: opts.skew,
        hold: opts.hold.into(),
    };
    if !opts.json {
        output::err(format_args!(
            "replaying {} requests from {} clients ...",
            spec.requests, spec.clients
        ));
    }
    let trace = replay(cache, &ids, &spec);
    let failed = trace.errors > 0;
    let report = Report {
        config: registry.file().display().to_string(),
        budget: cache.budget(),
        models,
        trace,
    };
    if opts.json {
        output::json(&serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    Ok(if failed {
        ExitCode::from(super::EXIT_PROBLEM)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_tables(r: &Report) {
    output::out("");
    output::out(format_args!(
        "Models ({}; budget {})",
        r.config,
        format_bytes(r.budget)
    ));
    let mut t = Table::new(&[
        "model",
        "backend",
        "measured",
        "hint",
        "hint err",
        "cold load",
        "throughput",
        "hit p50",
        "hit p99",
    ]);
    for m in &r.models {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rate = format!("{}/s", format_bytes(m.throughput_bytes_per_s as u64));
        t.row(vec![
            m.id.clone(),
            m.backend.clone(),
            format_bytes(m.measured_bytes),
            format_bytes(m.hint_bytes),
            format!("{:+.2}%", m.hint_error_pct),
            ns(m.load_ns),
            rate,
            ns(m.hit.median_ns),
            ns(m.hit.p99_ns),
        ]);
    }
    t.print();

    let tr = &r.trace;
    output::out("");
    output::out(format_args!(
        "Trace: {} requests, {} clients, seed {}, skew {}, hold {:?}",
        tr.spec.requests, tr.spec.clients, tr.spec.seed, tr.spec.skew, tr.spec.hold
    ));
    let mut mix = Table::new(&["model", "requests"]);
    for (id, n) in &tr.per_model {
        mix.row(vec![id.clone(), n.to_string()]);
    }
    mix.print();
    output::out("");
    let mut t = Table::new(&[
        "hits",
        "misses",
        "loads",
        "evictions",
        "waits",
        "errors",
        "peak charged",
        "wall",
    ]);
    t.row(vec![
        tr.hits.to_string(),
        tr.misses.to_string(),
        tr.loads.to_string(),
        tr.evictions.to_string(),
        tr.waits.to_string(),
        tr.errors.to_string(),
        format!(
            "{} of {}",
            format_bytes(tr.peak_charged),
            format_bytes(tr.budget)
        ),
        ns(tr.wall_ns),
    ]);
    t.print();
    output::out("");
    let mut t = Table::new(&["latency", "count", "p50", "p99", "max"]);
    for (name, p) in [("hit", &tr.hit_latency), ("miss", &tr.miss_latency)] {
        t.row(vec![
            name.into(),
            p.count.to_string(),
            ns(p.median_ns),
            ns(p.p99_ns),
            ns(p.max_ns),
        ]);
    }
    t.print();
    if let Some(e) = &tr.first_error {
        output::err("");
        output::err(format_args!(
            "{} request(s) failed; the first: {e}",
            tr.errors
        ));
    }
}
