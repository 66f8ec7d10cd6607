//! The Prometheus exposition of a cache, parsed back: what a router scraping it would read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use modelcache_core::{
    BackendError, EvictReason, FnLoader, LOAD_BUCKETS, Loaded, ManualClock, ModelCache,
    ModelPolicy, metrics,
};

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A minimal parser of the text format (version 0.0.4): `# HELP` and `# TYPE` lines, then
/// samples. Checks that every sample belongs to a family declared by `# TYPE` (a histogram's
/// `_bucket`, `_sum` and `_count` to their histogram), that each family is declared once with
/// a HELP line before its TYPE line, and that nothing else is in the text.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(helped.insert(name.to_owned()), "HELP for {name} twice");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE for {name} twice"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let sample = parse_sample(line);
        let family = family_of(&sample.name, &types);
        assert!(family.is_some(), "{} has no TYPE line", sample.name);
        samples.push(sample);
    }
    samples
}

fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).expect("a sample has a value");
    let name = &line[..name_end];
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "metric name {name:?}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut body) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = body.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = body.split_once("=\"").expect("label=\"value\"");
            assert!(
                key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "label name {key:?} in {line:?}"
            );
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().expect("closing quote") {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().expect("escape").1 {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        other => panic!("bad escape \\{other}"),
                    },
                    (_, c) => value.push(c),
                }
            };
            assert!(
                labels.insert(key.to_owned(), value).is_none(),
                "label twice: {line}"
            );
            body = &after[end + 1..];
            body = body.strip_prefix(',').unwrap_or(body);
        }
    }
    let value = rest.strip_prefix(' ').expect("space before the value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("value {v:?} in {line:?}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// The samples named `name` whose labels include every pair of `labels`.
fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The value of the one sample named `name` with exactly these labels.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = find(samples, name, labels)
        .into_iter()
        .filter(|s| s.labels.len() == labels.len())
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

/// Registers `id`, whose load takes `load` by the manual clock and measures `bytes`.
fn model(
    cache: &ModelCache,
    clock: &Arc<ManualClock>,
    id: &str,
    backend: &str,
    bytes: u64,
    load: Duration,
    policy: ModelPolicy,
) {
    let clock = Arc::clone(clock);
    let loader = FnLoader::new(backend, bytes, move |_| {
        clock.advance(load);
        Ok(Loaded::new(0u8, bytes))
    });
    cache.register(id, Arc::new(loader), policy).unwrap();
}

/// A fixed scenario: a capacity eviction, an expiry, an invalidation, a failed load, hits, a
/// pool. Resident at the end: `speech` (40 bytes) and `video` (40 bytes, pool `gpu0`).
fn scenario() -> ModelCache {
    let clock = Arc::new(ManualClock::new());
    let cache = ModelCache::builder()
        .budget(100)
        .pool("gpu0", 50)
        .clock(clock.clone())
        .build();
    let ms = Duration::from_millis;
    let plain = ModelPolicy::default;
    model(&cache, &clock, "image", "flux", 40, ms(20), plain());
    model(&cache, &clock, "speech", "kokoro", 40, ms(2_000), plain());
    let gpu = plain().pool("gpu0");
    model(&cache, &clock, "video", "ltx", 40, ms(300), gpu);
    let brief = plain().keep_alive(Duration::from_secs(1));
    model(&cache, &clock, "tagger", "example", 10, ms(50), brief);
    model(&cache, &clock, "stale", "example", 10, ms(0), plain());
    let broken = FnLoader::new("example", 10, |_| {
        Err(BackendError::invalid("/models/broken", "not a checkpoint"))
    });
    cache.register("broken", Arc::new(broken), plain()).unwrap();

    drop(cache.get::<u8>("image").unwrap());
    drop(cache.get::<u8>("speech").unwrap());
    // 120 bytes do not fit in 100: the least recently used, `image`, makes room.
    drop(cache.get::<u8>("video").unwrap());
    drop(cache.get::<u8>("video").unwrap());
    drop(cache.get::<u8>("speech").unwrap());
    drop(cache.get::<u8>("tagger").unwrap());
    clock.advance(Duration::from_secs(2));
    cache.expire();
    assert!(cache.get::<u8>("broken").is_err());
    drop(cache.get::<u8>("stale").unwrap());
    assert!(cache.invalidate("stale"));
    cache
}

#[test]
fn the_exposition_parses_back_to_the_cache_state() {
    let cache = scenario();
    let stats = common::check_invariants(&cache);
    let samples = parse(&metrics::render(&cache));

    // Resident models, with their labels and bytes.
    let resident = find(&samples, "modelcache_model_resident_bytes", &[]);
    assert_eq!(resident.len(), 2, "{resident:?}");
    let speech = [
        ("model", "speech"),
        ("backend", "kokoro"),
        ("device", "cpu"),
    ];
    assert_eq!(
        value(&samples, "modelcache_model_resident_bytes", &speech),
        40.0
    );
    let video = [
        ("model", "video"),
        ("backend", "ltx"),
        ("device", "cpu"),
        ("pool", "gpu0"),
    ];
    assert_eq!(
        value(&samples, "modelcache_model_resident_bytes", &video),
        40.0
    );
    assert!(find(&samples, "modelcache_model_loading_bytes", &[]).is_empty());

    // The same in the labels vLLM's adapter metric uses (see docs/fleet.md).
    let router = [
        ("running_lora_adapters", "speech,video"),
        ("waiting_lora_adapters", ""),
        ("max_lora", "6"),
    ];
    assert_eq!(value(&samples, "modelcache_models_info", &router), 1.0);

    // Budgets and charges per scope.
    let global = [("scope", "global")];
    let pool = [("scope", "pool"), ("pool", "gpu0")];
    assert_eq!(value(&samples, "modelcache_budget_bytes", &global), 100.0);
    assert_eq!(value(&samples, "modelcache_budget_bytes", &pool), 50.0);
    assert_eq!(value(&samples, "modelcache_charged_bytes", &global), 80.0);
    assert_eq!(value(&samples, "modelcache_charged_bytes", &pool), 40.0);
    assert_eq!(value(&samples, "modelcache_resident_bytes", &[]), 80.0);

    // Counters.
    assert_eq!(value(&samples, "modelcache_loads_total", &[]), 5.0);
    assert_eq!(value(&samples, "modelcache_load_failures_total", &[]), 1.0);
    assert_eq!(value(&samples, "modelcache_hits_total", &[]), 2.0);
    assert_eq!(
        value(&samples, "modelcache_misses_total", &[]),
        stats.misses as f64
    );
    assert_eq!(value(&samples, "modelcache_waits_total", &[]), 0.0);
    assert_eq!(value(&samples, "modelcache_loaded_bytes_total", &[]), 140.0);

    // Evictions by reason: every reason is listed, at 0 too.
    let evictions = |reason: &str| {
        value(
            &samples,
            "modelcache_evictions_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(evictions("capacity"), 1.0);
    assert_eq!(evictions("expired"), 1.0);
    assert_eq!(evictions("invalidated"), 1.0);
    assert_eq!(evictions("cleared"), 0.0);
    assert_eq!(
        find(&samples, "modelcache_evictions_total", &[]).len(),
        EvictReason::ALL.len()
    );
    assert_eq!(value(&samples, "modelcache_evicted_bytes_total", &[]), 60.0);

    // The load-duration histogram: one count per load, cumulative buckets, the sum in seconds.
    let h = "modelcache_load_duration_seconds";
    assert_eq!(value(&samples, &format!("{h}_count"), &[]), 5.0);
    assert!((value(&samples, &format!("{h}_sum"), &[]) - 2.37).abs() < 1e-9);
    let le = |bound: &str| value(&samples, &format!("{h}_bucket"), &[("le", bound)]);
    assert_eq!(le("0.005"), 1.0, "stale: 0 ms");
    assert_eq!(le("0.025"), 2.0, "+ image: 20 ms");
    assert_eq!(le("0.05"), 3.0, "+ tagger: 50 ms, on the bound");
    assert_eq!(le("0.5"), 4.0, "+ video: 300 ms");
    assert_eq!(le("2.5"), 5.0, "+ speech: 2 s");
    assert_eq!(le("+Inf"), 5.0);
    let buckets = find(&samples, &format!("{h}_bucket"), &[]);
    assert_eq!(buckets.len(), LOAD_BUCKETS.len() + 1);
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "cumulative"
    );

    // No devices here: no moves (tests/tiers.rs exports some).
    for name in [
        "modelcache_demotions_total",
        "modelcache_demotion_failures_total",
        "modelcache_promotions_total",
        "modelcache_promotion_failures_total",
    ] {
        assert_eq!(value(&samples, name, &[]), 0.0, "{name}");
    }

    // Clearing counts as its own reason and leaves no model resident.
    cache.clear();
    let samples = parse(&metrics::render(&cache));
    assert_eq!(
        value(
            &samples,
            "modelcache_evictions_total",
            &[("reason", "cleared")]
        ),
        2.0
    );
    assert!(find(&samples, "modelcache_model_resident_bytes", &[]).is_empty());
    assert_eq!(value(&samples, "modelcache_charged_bytes", &global), 0.0);
}

#[test]
fn stats_count_evictions_by_reason_and_loads_by_duration() {
    let cache = scenario();
    let s = cache.stats();
    assert_eq!(s.evicted_by.of(EvictReason::Capacity), 1);
    assert_eq!(s.evicted_by.of(EvictReason::Expired), s.expirations);
    let by_reason: u64 = EvictReason::ALL.iter().map(|&r| s.evicted_by.of(r)).sum();
    assert_eq!(by_reason, s.evictions);
    assert_eq!(s.evicted_by.total(), s.evictions);
    assert_eq!(s.load_times.count(), s.loads);
    assert_eq!(s.load_times.sum(), s.load_time);
}

#[test]
fn a_loading_model_and_an_unlimited_budget_are_exported() {
    let cache = ModelCache::new(u64::MAX);
    let gate = common::gated(&cache, "slow", 64, 64, ModelPolicy::default());
    let c = cache.clone();
    let waiter = std::thread::spawn(move || c.get::<common::Model>("slow").map(drop));
    gate.started.recv().unwrap();
    let samples = parse(&metrics::render(&cache));
    let labels = [("model", "slow"), ("backend", "gated"), ("device", "cpu")];
    assert_eq!(
        value(&samples, "modelcache_model_loading_bytes", &labels),
        64.0
    );
    assert!(find(&samples, "modelcache_model_resident_bytes", &[]).is_empty());
    let budget = value(&samples, "modelcache_budget_bytes", &[("scope", "global")]);
    assert!(budget.is_infinite());
    gate.release.send(Ok(())).unwrap();
    waiter.join().unwrap().unwrap();
    let samples = parse(&metrics::render(&cache));
    assert_eq!(
        value(&samples, "modelcache_model_resident_bytes", &labels),
        64.0
    );
}

#[test]
fn a_model_id_cannot_forge_a_line() {
    let cache = ModelCache::new(1 << 20);
    let id = "evil\"} 1\nmodelcache_hits_total 99\n\\";
    common::counting(&cache, id, 8, ModelPolicy::default());
    drop(cache.get::<common::Model>(id).unwrap());
    let samples = parse(&metrics::render(&cache));
    let resident = find(
        &samples,
        "modelcache_model_resident_bytes",
        &[("model", id)],
    );
    assert_eq!(resident.len(), 1);
    assert_eq!(value(&samples, "modelcache_hits_total", &[]), 0.0);
}

/// One node of a fleet: a speech model in host memory and two large models sharing a GPU that
/// holds one of them at a time. What docs/fleet.md shows.
fn fleet_node() -> ModelCache {
    let clock = Arc::new(ManualClock::new());
    let gib = 1u64 << 30;
    let cache = ModelCache::builder()
        .budget(24 * gib)
        .device("cuda:0", 16 * gib)
        .clock(clock.clone())
        .build();
    let gpu = || ModelPolicy::default().on_device("cuda:0");
    let s = Duration::from_millis;
    model(
        &cache,
        &clock,
        "kokoro",
        "kokoro",
        330_000_000,
        s(400),
        ModelPolicy::default(),
    );
    model(
        &cache,
        &clock,
        "flux-schnell",
        "flux",
        12 * gib,
        s(38_000),
        gpu(),
    );
    model(
        &cache,
        &clock,
        "ltx-video",
        "ltx",
        19 * gib / 2,
        s(25_000),
        gpu(),
    );
    for id in [
        "kokoro",
        "flux-schnell",
        "ltx-video",
        "kokoro",
        "flux-schnell",
    ] {
        drop(cache.get::<u8>(id).unwrap());
    }
    cache
}

/// docs/fleet-example.prom is this node's exposition, and every line docs/fleet.md quotes in a
/// `prom` block is one of its lines. `MODELCACHE_BLESS=1 cargo test -p modelcache-core --test
/// metrics` rewrites the file.
#[test]
fn the_fleet_docs_quote_a_rendered_exposition() {
    let cache = fleet_node();
    let s = cache.stats();
    assert_eq!((s.loads, s.hits, s.evicted_by.capacity), (4, 1, 2));
    let text = metrics::render(&cache);
    parse(&text);
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let example = docs.join("fleet-example.prom");
    if std::env::var_os("MODELCACHE_BLESS").is_some() {
        std::fs::write(&example, &text).unwrap();
    }
    let written = std::fs::read_to_string(&example).unwrap();
    assert_eq!(
        written, text,
        "docs/fleet-example.prom is stale: rerun with MODELCACHE_BLESS=1"
    );
    let guide = std::fs::read_to_string(docs.join("fleet.md")).unwrap();
    let mut quoted = 0;
    let mut in_block = false;
    for line in guide.lines() {
        match line.trim_end() {
            "```prom" => in_block = true,
            "```" => in_block = false,
            l if in_block && !l.is_empty() => {
                assert!(
                    text.lines().any(|t| t == l),
                    "docs/fleet.md quotes a line the exposition does not have: {l}"
                );
                quoted += 1;
            }
            _ => {}
        }
    }
    assert!(quoted > 0, "docs/fleet.md quotes the exposition");
}

/// A cache of budget 0 loads on every request; those loads are counted and timed like any other.
#[test]
fn loads_that_are_not_kept_are_counted_in_the_histogram() {
    let cache = ModelCache::new(0);
    common::counting(&cache, "a", 100, ModelPolicy::default());
    drop(cache.get::<common::Model>("a").unwrap());
    drop(cache.get::<common::Model>("a").unwrap());
    let samples = parse(&metrics::render(&cache));
    assert_eq!(value(&samples, "modelcache_loads_total", &[]), 2.0);
    let count = "modelcache_load_duration_seconds_count";
    assert_eq!(value(&samples, count, &[]), 2.0);
    assert_eq!(value(&samples, "modelcache_loaded_bytes_total", &[]), 200.0);
    assert!(find(&samples, "modelcache_model_resident_bytes", &[]).is_empty());
}
