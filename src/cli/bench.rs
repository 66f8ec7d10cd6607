//! `bench`: the main job. Each model is measured on its own (a model that fails is reported
//! beside the others), then the models that loaded are replayed as a mixed request trace.
//! Every table has a key under it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use modelcache::bench::{
    Memory, ModelReport, PolicyRow, PolicyWorkload, SimModel, TierRow, TierRun, TraceReport,
    TraceSpec, compare_policies, compare_tiers, format_ns, measure_model, replay, warm_page_cache,
};
use modelcache::registry::SharingBytes;
use modelcache_core::EvictionPolicy;
use modelcache_core::format_bytes;
use serde::Serialize;

use super::Failure;
use super::args::{Args, BenchOpts};
use super::output::{self, Table};
use super::report::{EXIT_PROBLEM, EXIT_USAGE, Problem};
use super::setup::{in_file_order, open};

#[derive(Serialize)]
struct Report {
    config: String,
    budget: u64,
    models: Vec<ModelReport>,
    /// Models that could not be measured, and why.
    failed: Vec<Failed>,
    /// The trace over the models that were measured (none if none was).
    trace: Option<TraceReport>,
    memory: Memory,
    /// Cores the trace's clients ran on.
    cores: usize,
    /// The eviction policies compared on one trace.
    policies: Vec<PolicyRun>,
    /// The reference workload on a device, its evicted models unloaded or demoted.
    tiers: Vec<TierRun>,
    /// What the models that share components were charged, and would be without sharing
    /// (absent when none shares, or one of them was not measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    sharing: Option<SharingBytes>,
}

/// Every eviction policy on one workload.
#[derive(Serialize)]
struct PolicyRun {
    workload: String,
    budget: u64,
    requests: usize,
    seed: u64,
    skew: f64,
    rows: Vec<PolicyRow>,
}

impl PolicyRun {
    fn of(w: &PolicyWorkload) -> Self {
        Self {
            workload: w.name.clone(),
            budget: w.budget,
            requests: w.trace.requests,
            seed: w.trace.seed,
            skew: w.trace.skew,
            rows: compare_policies(w),
        }
    }
}

#[derive(Serialize)]
struct Failed {
    id: String,
    error: String,
}

pub fn bench(args: &Args, opts: &BenchOpts) -> Result<(), Failure> {
    // Created first, so that a path that cannot be written fails before the run, not after it.
    let metrics = opts
        .metrics
        .as_deref()
        .map(|path| {
            File::create(path)
                .map(|file| (path, file))
                .map_err(|e| Failure::usage(metrics_error(path, &e)))
        })
        .transpose()?;
    let opened = open(args, false)?;
    let registry = &opened.registry;
    let cache = registry.cache();
    // In the order of the file: the trace makes the first model the most popular.
    let ordered = in_file_order(registry);
    if ordered.is_empty() && opened.left_out.is_empty() {
        return Err(format!("{} configures no models", registry.file().display()).into());
    }
    let mut memory = Memory::start();
    let (mut models, mut failed, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    for m in &ordered {
        if !opts.json {
            output::err(format_args!("measuring {} ...", m.id));
        }
        let measured = warm_page_cache(&m.path)
            .map_err(|e| {
                Problem::new(
                    format!("model {:?}: reading {}: {e}", m.id, m.path.display()),
                    EXIT_PROBLEM,
                )
            })
            .and_then(|_| {
                measure_model(
                    cache,
                    &m.id,
                    opts.load_runs as usize,
                    opts.hit_samples as usize,
                )
                .map_err(|e| Problem::cache(registry, e))
            });
        match measured {
            Ok(report) => models.push(report),
            Err(problem) => {
                failed.push(Failed {
                    id: m.id.clone(),
                    error: problem.to_string(),
                });
                problems.push(problem);
            }
        }
    }
    cache.clear();
    let ids: Vec<String> = models.iter().map(|m| m.id.clone()).collect();
    let spec = TraceSpec {
        requests: opts.requests as usize,
        clients: usize::from(opts.clients),
        seed: opts.seed,
        skew: opts.skew,
        hold: opts.hold,
    };
    let trace = (!ids.is_empty()).then(|| {
        if !opts.json {
            output::err(format_args!(
                "replaying {} requests from {} clients ...",
                spec.requests, spec.clients
            ));
        }
        replay(cache, &ids, &spec)
    });
    memory.finish();
    let policy_trace = TraceSpec {
        requests: opts.policy_requests as usize,
        clients: 1,
        hold: Duration::ZERO,
        ..spec.clone()
    };
    let reference = |budget| {
        let mut w = PolicyWorkload::reference(budget, policy_trace.requests, opts.seed);
        w.trace.skew = 0.9;
        w
    };
    let mut policies: Vec<PolicyRun> = PolicyWorkload::REFERENCE_BUDGETS
        .iter()
        .map(|&budget| PolicyRun::of(&reference(budget)))
        .collect();
    let tiers: Vec<TierRun> = PolicyWorkload::REFERENCE_BUDGETS
        .iter()
        .map(|&budget| {
            let w = reference(budget);
            compare_tiers(&w, EvictionPolicy::Cost, TIER_HOST, TIER_BANDWIDTH)
        })
        .collect();
    if !models.is_empty() {
        let measured = models
            .iter()
            .map(|m| SimModel {
                id: m.id.clone(),
                bytes: m.measured_bytes,
                load: Duration::from_nanos(m.load_ns),
                keep_alive: None,
            })
            .collect();
        policies.push(PolicyRun::of(&PolicyWorkload::measured(
            measured,
            cache.budget(),
            policy_trace,
        )));
    }
    if let Some(t) = trace.as_ref().filter(|t| t.errors > 0) {
        problems.push(Problem::new(
            format!(
                "{} of the trace's {} requests failed; the first: {}",
                t.errors,
                t.spec.requests,
                t.first_error.as_deref().unwrap_or("?")
            ),
            EXIT_PROBLEM,
        ));
    }
    // From what each model was charged in this run (its own bytes, components apart).
    let sharing =
        registry.sharing_bytes(|id| models.iter().find(|m| m.id == id).map(|m| m.measured_bytes));
    let report = Report {
        sharing,
        config: registry.file().display().to_string(),
        budget: cache.budget(),
        models,
        failed,
        trace,
        memory,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        policies,
        tiers,
    };
    if opts.json {
        output::json(&serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report, opts);
    }
    if let Some((path, mut file)) = metrics {
        let text = modelcache_core::metrics::render(cache);
        match file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
        {
            Ok(()) if !opts.json => output::err(format_args!(
                "wrote the cache's metrics to {}",
                output::escape(&path.display().to_string())
            )),
            Ok(()) => {}
            Err(e) => problems.push(Problem::new(metrics_error(path, &e), EXIT_USAGE)),
        }
    }
    opened.finish(problems)
}

fn metrics_error(path: &Path, e: &std::io::Error) -> String {
    format!(
        "writing the metrics to {}: {e}",
        output::escape(&path.display().to_string())
    )
}

/// Prints a table's key: one `name  meaning` line per column, under it.
fn legend(entries: &[(&str, String)]) {
    let width = entries.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, meaning) in entries {
        let pad = " ".repeat(width - name.len());
        output::out(format_args!("    {name}{pad}  {meaning}"));
    }
}

fn print_tables(r: &Report, opts: &BenchOpts) {
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
            format_ns(Some(m.load_ns)),
            rate,
            format_ns(m.hit.median_ns),
            format_ns(m.hit.p99_ns),
        ]);
    }
    for f in &r.failed {
        let mut row = vec![f.id.clone()];
        row.extend(std::iter::repeat_n("-".to_owned(), 7));
        row.push("failed (below)".into());
        t.row(row);
    }
    t.print();
    legend(&[
        (
            "measured",
            "bytes the loaded model holds: what the cache charges for it".into(),
        ),
        (
            "hint",
            "bytes the backend predicted before loading, from headers only; \
             hint err = (hint - measured) / measured"
                .into(),
        ),
        (
            "cold load",
            format!(
                "median of {} load(s) with the files in the page cache; \
                 throughput = measured / cold load",
                opts.load_runs
            ),
        ),
        (
            "hit",
            format!(
                "a request for the resident model and the drop of its handle, {} times, on one \
                 thread with nothing else running: the lookup alone (- when the model is not \
                 kept)",
                opts.hit_samples
            ),
        ),
    ]);
    // After the key, so that the table and its key stay together.
    if let Some(s) = &r.sharing {
        output::out(format_args!(
            "Sharing: the models that share components are charged {} with sharing, {} if each \
             held its own copy ({} saved)",
            format_bytes(s.with),
            format_bytes(s.without),
            format_bytes(s.without.saturating_sub(s.with))
        ));
    }
    if let Some(tr) = &r.trace {
        print_trace(tr, r.cores);
    }
    print_policies(&r.policies);
    print_tiers(&r.tiers);
    print_memory(r);
}

/// A simulated latency: a hit takes no simulated time, which is said in words.
fn simulated(ns: Option<u64>) -> String {
    match ns {
        Some(0) => "none (hit)".into(),
        other => format_ns(other),
    }
}

fn print_policies(runs: &[PolicyRun]) {
    for run in runs {
        output::out("");
        output::out(format_args!(
            "Eviction policies: {}, budget {}; {} requests (seed {}, skew {}), replayed in \
             simulated time",
            run.workload,
            format_bytes(run.budget),
            run.requests,
            run.seed,
            run.skew
        ));
        let lru = run
            .rows
            .iter()
            .find(|r| r.policy == "lru")
            .map(|r| r.load_seconds);
        let mut t = Table::new(&[
            "policy",
            "hits",
            "loads",
            "time loading",
            "vs lru",
            "bytes loaded",
            "latency p50",
            "latency p99",
        ]);
        for r in &run.rows {
            let vs = match lru {
                Some(l) if l > 0.0 => format!("{:+.1}%", (r.load_seconds - l) / l * 100.0),
                _ => "-".into(),
            };
            t.row(vec![
                r.policy.clone(),
                r.hits.to_string(),
                r.loads.to_string(),
                format!("{:.1} s", r.load_seconds),
                vs,
                format_bytes(r.bytes_loaded),
                simulated(r.latency.median_ns),
                simulated(r.latency.p99_ns),
            ]);
        }
        t.print();
    }
    if runs.is_empty() {
        return;
    }
    legend(&[
        (
            "policy",
            "`[cache] eviction`: lru; cost (evict the idle models of least recent demand x \
             reload time); shortest-keep-alive (Ollama's rule); cheapest-reload (llama-swap's)"
                .into(),
        ),
        (
            "time loading",
            "the sum of every load's time; vs lru = its difference from lru's".into(),
        ),
        (
            "latency",
            "per request: 0 for a hit, the load time for a miss (one client, 2 s between \
             requests, so keep-alives can run out)"
                .into(),
        ),
        (
            "simulated",
            "each model is its size and its load time (the reference's are illustrative; the \
             configured models' are measured above); the cache, its admission and its \
             policies are the real ones, driven by a manual clock"
                .into(),
        ),
    ]);
}

/// Host memory for demoted models in the tiered replay: a machine with 64 GB to spare.
const TIER_HOST: u64 = 64_000_000_000;
/// Bytes per second a move copies in the tiered replay: an assumption (host-to-device copies
/// from pinned memory over PCIe 4.0 x16 run at about this), not a measurement;
/// `scripts/gpu-check` measures it where a GPU exists.
const TIER_BANDWIDTH: f64 = 25e9;

fn print_tiers(runs: &[TierRun]) {
    let Some(first) = runs.first() else { return };
    output::out("");
    output::out(format_args!(
        "Demotion: the reference workload on a device, {} eviction; evicted models are unloaded, \
         or demoted into {} of host memory with copies at {:.0} GB/s; simulated time",
        first.policy,
        format_bytes(first.host_budget),
        first.bandwidth / 1e9
    ));
    let mut t = Table::new(&[
        "device",
        "evicted",
        "hits",
        "loads",
        "promotions",
        "time loading",
        "time moving",
        "in all",
        "vs unload",
        "latency p50",
        "latency p99",
    ]);
    for run in runs {
        let base = run.unload.total_seconds();
        for (what, row) in [("unloaded", &run.unload), ("demoted", &run.demote)] {
            t.row(tier_row(run, what, row, base));
        }
    }
    t.print();
    legend(&[
        (
            "evicted",
            "what happens to a model evicted from the device for room: unloaded (read from \
             disk again when asked), or demoted (`demote = true`: kept in host memory while it \
             has room, and moved back when asked)"
                .into(),
        ),
        (
            "in all",
            "time loading plus time moving; vs unload = its difference from unloading's".into(),
        ),
        (
            "simulated",
            "as the policies above; a move takes the model's bytes at the copy bandwidth, which \
             is assumed, not measured"
                .into(),
        ),
    ]);
}

fn tier_row(run: &TierRun, what: &str, row: &TierRow, base: f64) -> Vec<String> {
    let total = row.total_seconds();
    let vs = if base > 0.0 {
        format!("{:+.1}%", (total - base) / base * 100.0)
    } else {
        "-".into()
    };
    vec![
        format_bytes(run.device_budget),
        what.to_owned(),
        row.hits.to_string(),
        row.loads.to_string(),
        row.promotions.to_string(),
        format!("{:.1} s", row.load_seconds),
        format!("{:.1} s", row.move_seconds),
        format!("{total:.1} s"),
        vs,
        simulated(row.latency.median_ns),
        simulated(row.latency.p99_ns),
    ]
}

fn print_trace(tr: &TraceReport, cores: usize) {
    output::out("");
    output::out(format_args!(
        "Trace: {} requests from {} clients (threads, on {cores} cores), seed {}, skew {}, each \
         request holding its model for {:?}",
        tr.spec.requests, tr.spec.clients, tr.spec.seed, tr.spec.skew, tr.spec.hold
    ));
    let mut mix = Table::new(&["model", "requests"]);
    for (id, n) in &tr.per_model {
        mix.row(vec![id.clone(), n.to_string()]);
    }
    mix.print();
    output::out("");
    let mut t = Table::new(&[
        "requests",
        "hits",
        "loaded",
        "joined",
        "failed",
        "evictions",
        "waits",
        "peak charged",
        "wall",
    ]);
    t.row(vec![
        tr.spec.requests.to_string(),
        tr.hits.to_string(),
        tr.loaded.to_string(),
        tr.joined.to_string(),
        tr.errors.to_string(),
        tr.evictions.to_string(),
        tr.waits.to_string(),
        format!(
            "{} of {}",
            format_bytes(tr.peak_charged),
            format_bytes(tr.budget)
        ),
        format_ns(Some(tr.wall_ns)),
    ]);
    t.print();
    legend(&[
        ("requests", "= hits + loaded + joined + failed".into()),
        ("hits", "requests served by a resident model".into()),
        (
            "loaded",
            "requests that found the model absent and ran its load".into(),
        ),
        (
            "joined",
            "requests that found the model loading for another request and waited for that \
             load (single flight: no second load)"
                .into(),
        ),
        (
            "evictions",
            "models removed to make room for others (or idle past their keep-alive)".into(),
        ),
        (
            "waits",
            "requests that waited for room: the models filling the budget were in use".into(),
        ),
        (
            "peak charged",
            "the most bytes charged (resident, loading, evicted but still held), read after \
             each request"
                .into(),
        ),
    ]);
    output::out("");
    let mut t = Table::new(&["latency", "count", "p50", "p99", "max"]);
    for (name, p) in [
        ("hit", &tr.hit_latency),
        ("loaded", &tr.load_latency),
        ("joined", &tr.join_latency),
    ] {
        t.row(vec![
            name.into(),
            p.count.to_string(),
            format_ns(p.median_ns),
            format_ns(p.p99_ns),
            format_ns(p.max_ns),
        ]);
    }
    t.print();
    legend(&[
        (
            "hit",
            format!(
                "the request, under the other clients' traffic: it includes waiting for the \
                 cache's lock while other requests hold it (each request also reads the stats, \
                 which takes it) and, with {} clients on {cores} cores, waiting to be scheduled; \
                 the model table's hit is the lookup alone",
                tr.spec.clients
            ),
        ),
        ("loaded", "the request, its load included".into()),
        ("-", "no such requests: there is nothing to time".into()),
    ]);
}

fn print_memory(r: &Report) {
    let m = &r.memory;
    output::out("");
    let (Some(peak), Some(before)) = (m.peak, m.before_loads) else {
        output::out("Memory: the process's resident memory is unknown on this system");
        return;
    };
    let since = if m.peak_since_loads {
        "from the first load to the end of the trace"
    } else {
        "since the process started (the peak could not be reset on this system)"
    };
    output::out(format_args!(
        "Memory: peak resident {} {since}, beside a budget of {}",
        format_bytes(peak),
        format_bytes(r.budget)
    ));
    let outside = peak.saturating_sub(before.saturating_add(r.budget));
    legend(&[
        (
            "before loads",
            format!(
                "{}: the program, its libraries and the registry, resident before the first \
                 load",
                format_bytes(before)
            ),
        ),
        (
            "charged",
            "at most the budget: the models the cache holds (more only for a lone model that \
             `allow_oversized` admits)"
                .into(),
        ),
        (
            "outside",
            format!(
                "at least {} (peak - before loads - budget): memory the budget does not count, \
                 mostly that of evicted models, which the allocator keeps for reuse instead of \
                 returning it (glibc: an arena per thread; MALLOC_ARENA_MAX=1 lowers it), and \
                 a load's working buffers",
                format_bytes(outside)
            ),
        ),
    ]);
}
