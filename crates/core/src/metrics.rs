//! The cache's state and counters in the Prometheus text exposition format (version 0.0.4),
//! for a fleet's router to scrape: which models a node holds, how full its budgets are, and
//! what loading and evicting have cost so far.
//!
//! Rendered with the official `prometheus-client` crate by a [`Collector`] that reads the
//! cache on every scrape ([`ModelCache::stats`], [`ModelCache::entries`] and
//! [`ModelCache::registered`], snapshots taken one after the other, not at one instant), so
//! nothing is updated on the hit path. Register a
//! [`CacheCollector`] in your own [`Registry`], or call [`render`] for the text.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `modelcache_model_resident_bytes` | gauge | `model`, `backend`, `device`, `pool`, `demoted_from` | each resident model's charged bytes |
//! | `modelcache_model_loading_bytes` | gauge | as above | each load in flight: its reservation |
//! | `modelcache_models_info` | gauge, always 1 | `running_lora_adapters`, `waiting_lora_adapters`, `max_lora` | resident and loading model IDs (sorted, comma-separated) and the number of registered models, in the labels of vLLM's `vllm:lora_requests_info`, which routers already read (docs/fleet.md) |
//! | `modelcache_budget_bytes` | gauge | `scope` (`global`, `pool`, `device`), `pool` or `device` | a budget (`+Inf`: unlimited) |
//! | `modelcache_charged_bytes` | gauge | as above | bytes charged against it |
//! | `modelcache_resident_bytes`, `_loading_bytes`, `_held_bytes` | gauge | | the global charge by kind (held: evicted, still in use) |
//! | `modelcache_shared_saved_bytes` | gauge | | bytes shared components save now (a component's bytes times its resident users, less the one copy) |
//! | `modelcache_over_budget_bytes` | gauge | | bytes over the global budget now |
//! | `modelcache_queued_requests` | gauge | | requests waiting for room now |
//! | `modelcache_hits_total`, `_misses_total` | counter | | requests served from memory / not |
//! | `modelcache_loads_total`, `_load_failures_total` | counter | | loader runs that succeeded / failed |
//! | `modelcache_loaded_bytes_total` | counter | | measured bytes of the successful loads |
//! | `modelcache_load_duration_seconds` | histogram | `le` | successful loads by duration ([`LOAD_BUCKETS`](crate::LOAD_BUCKETS)) |
//! | `modelcache_waits_total`, `_wait_timeouts_total` | counter | | requests that waited for room / ran out of time |
//! | `modelcache_evictions_total` | counter | `reason` ([`EvictReason::as_str`]) | evictions, every reason listed even at 0 |
//! | `modelcache_evicted_bytes_total` | counter | | bytes of those evictions |
//! | `modelcache_demotions_total`, `_demotion_failures_total` | counter | | models moved from a device to host memory instead of unloaded / moves that failed (unloaded) |
//! | `modelcache_promotions_total`, `_promotion_failures_total` | counter | | demoted models moved back to their device / moves back that failed (loaded instead) |
//!
//! `device` is the device a model is on ([`ModelCache::builder`]'s `device`, models.toml's
//! `[devices.NAME]`), or [`DEVICE`] (`cpu`) for a model in host memory; a model demoted to host
//! memory has `device="cpu"` and `demoted_from` naming the device its next request moves it
//! back to. `pool` is absent for models in no pool. Label values are escaped by the encoder,
//! so a model ID cannot forge a line.
//!
//! ```
//! use std::sync::Arc;
//! use modelcache_core::{FnLoader, Loaded, ModelCache, ModelPolicy};
//!
//! let cache = ModelCache::new(1 << 30);
//! let loader = FnLoader::new("demo", 600 << 20, |_| Ok(Loaded::new(0u8, 600 << 20)));
//! cache.register("small", Arc::new(loader), ModelPolicy::default())?;
//! drop(cache.get::<u8>("small")?);
//!
//! let text = modelcache_core::metrics::render(&cache);
//! assert!(text.contains(
//!     "modelcache_model_resident_bytes{model=\"small\",backend=\"demo\",device=\"cpu\"} 629145600\n"
//! ));
//! assert!(text.contains("modelcache_loads_total 1\n"));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::{CacheStats, EntryInfo, EvictReason, ModelCache};

/// The `device` label of a model in host memory.
pub const DEVICE: &str = "cpu";

/// The content type of what [`render`] writes (Prometheus text format, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A [`Collector`] that reads a cache on every scrape. Register it in a `prometheus-client`
/// [`Registry`] beside your own metrics (`registry.register_collector(Box::new(collector))`).
#[derive(Debug, Clone)]
pub struct CacheCollector {
    cache: ModelCache,
}

impl CacheCollector {
    /// A collector of `cache` (a reference to the same cache: it sees later changes).
    pub fn new(cache: &ModelCache) -> Self {
        Self {
            cache: cache.clone(),
        }
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let stats = self.cache.stats();
        let mut entries = self.cache.entries();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        write_models(&mut encoder, &entries)?;
        write_router_info(&mut encoder, &entries, self.cache.registered().len())?;
        write_budgets(&mut encoder, &stats)?;
        write_counters(&mut encoder, &stats)
    }
}

/// Writes `cache`'s exposition to `out`.
///
/// # Errors
///
/// Only those of `out`.
pub fn encode(cache: &ModelCache, out: &mut impl fmt::Write) -> fmt::Result {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(CacheCollector::new(cache)));
    prometheus_client::encoding::prometheus_text::encode(out, &registry)
}

/// `cache`'s exposition as text.
pub fn render(cache: &ModelCache) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail, and the collector fails only when its writer does.
    let _ = encode(cache, &mut out);
    out
}

type Labels = Vec<(&'static str, String)>;

fn model_labels(e: &EntryInfo) -> Labels {
    let mut labels = vec![
        ("model", e.id.clone()),
        ("backend", e.backend.clone()),
        (
            "device",
            e.device.clone().unwrap_or_else(|| DEVICE.to_owned()),
        ),
    ];
    labels.extend(e.pool.clone().map(|p| ("pool", p)));
    labels.extend(e.demoted_from.clone().map(|d| ("demoted_from", d)));
    labels
}

fn write_models(enc: &mut DescriptorEncoder, entries: &[EntryInfo]) -> fmt::Result {
    for (loading, name, help) in [
        (
            false,
            "modelcache_model_resident",
            "Bytes charged for each resident model.",
        ),
        (
            true,
            "modelcache_model_loading",
            "Bytes reserved for each load in flight.",
        ),
    ] {
        let mut m = enc.encode_descriptor(name, help, Some(&Unit::Bytes), MetricType::Gauge)?;
        for e in entries.iter().filter(|e| e.loading == loading) {
            m.encode_family(&model_labels(e))?.encode_gauge(&e.bytes)?;
        }
    }
    Ok(())
}

/// The one series a router that knows vLLM's adapter metric reads: the Gateway API inference
/// extension's endpoint picker (its `lora-affinity-scorer`) splits `running_lora_adapters` and
/// `waiting_lora_adapters` on commas and compares their count with `max_lora`.
fn write_router_info(
    enc: &mut DescriptorEncoder,
    entries: &[EntryInfo],
    registered: usize,
) -> fmt::Result {
    let ids = |loading: bool| -> String {
        let ids: Vec<&str> = entries
            .iter()
            .filter(|e| e.loading == loading)
            .map(|e| e.id.as_str())
            .collect();
        ids.join(",")
    };
    let labels: Labels = vec![
        ("running_lora_adapters", ids(false)),
        ("waiting_lora_adapters", ids(true)),
        ("max_lora", registered.to_string()),
    ];
    let help = "The resident (running) and loading (waiting) model IDs, comma-separated, and how \
                many models are registered (max), in the labels vLLM's lora_requests_info uses.";
    enc.encode_descriptor("modelcache_models", help, None, MetricType::Info)?
        .encode_info(&labels)
}

/// Encodes a budget: `u64::MAX` (unlimited) as `+Inf`, any other as its integer.
fn encode_budget(m: &mut MetricEncoder, labels: &Labels, budget: u64) -> fmt::Result {
    let mut m = m.encode_family(labels)?;
    if budget == u64::MAX {
        m.encode_gauge(&f64::INFINITY)
    } else {
        m.encode_gauge(&budget)
    }
}

fn write_budgets(enc: &mut DescriptorEncoder, s: &CacheStats) -> fmt::Result {
    let global: Labels = vec![("scope", "global".to_owned())];
    let pool = |p: &crate::PoolStats| -> Labels {
        let kind = if p.device { "device" } else { "pool" };
        vec![("scope", kind.to_owned()), (kind, p.name.clone())]
    };
    let help = "Each budget in bytes (+Inf: unlimited): global (host memory), per pool and per \
                device.";
    let mut m = enc.encode_descriptor(
        "modelcache_budget",
        help,
        Some(&Unit::Bytes),
        MetricType::Gauge,
    )?;
    encode_budget(&mut m, &global, s.budget)?;
    for p in &s.pools {
        encode_budget(&mut m, &pool(p), p.budget)?;
    }
    let help = "Bytes charged against each budget: resident, loading and held after eviction.";
    let mut m = enc.encode_descriptor(
        "modelcache_charged",
        help,
        Some(&Unit::Bytes),
        MetricType::Gauge,
    )?;
    m.encode_family(&global)?.encode_gauge(&s.charged)?;
    for p in &s.pools {
        m.encode_family(&pool(p))?.encode_gauge(&p.charged)?;
    }
    gauge(
        enc,
        "modelcache_resident",
        "Bytes of resident models.",
        Some(Unit::Bytes),
        s.resident_bytes,
    )?;
    gauge(
        enc,
        "modelcache_loading",
        "Bytes reserved by loads in flight.",
        Some(Unit::Bytes),
        s.loading_bytes,
    )?;
    let help = "Bytes of evicted models that requests still hold.";
    gauge(
        enc,
        "modelcache_held",
        help,
        Some(Unit::Bytes),
        s.held_bytes,
    )?;
    let help = "Bytes that sharing components saves now: each resident component's bytes \
                times the resident models holding it, less the one copy charged.";
    gauge(
        enc,
        "modelcache_shared_saved",
        help,
        Some(Unit::Bytes),
        s.shared_bytes_saved,
    )?;
    let help = "Bytes charged above the global budget now (0 within it).";
    gauge(
        enc,
        "modelcache_over_budget",
        help,
        Some(Unit::Bytes),
        s.over_budget,
    )?;
    let queued = u64::try_from(s.queued).unwrap_or(u64::MAX);
    gauge(
        enc,
        "modelcache_queued_requests",
        "Requests waiting for room now.",
        None,
        queued,
    )
}

fn write_counters(enc: &mut DescriptorEncoder, s: &CacheStats) -> fmt::Result {
    counter(
        enc,
        "modelcache_hits",
        "Requests served from a resident model.",
        None,
        s.hits,
    )?;
    let help = "Requests that found no resident model (they loaded or joined a load).";
    counter(enc, "modelcache_misses", help, None, s.misses)?;
    counter(
        enc,
        "modelcache_loads",
        "Loads that succeeded.",
        None,
        s.loads,
    )?;
    let help = "Loads that failed or panicked.";
    counter(enc, "modelcache_load_failures", help, None, s.load_failures)?;
    let help = "Measured bytes of the loads that succeeded.";
    counter(
        enc,
        "modelcache_loaded",
        help,
        Some(Unit::Bytes),
        s.bytes_loaded,
    )?;
    let help = "How long the loads that succeeded took.";
    let mut m = enc.encode_descriptor(
        "modelcache_load_duration",
        help,
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    let h = &s.load_times;
    let buckets: Vec<(f64, u64)> = h
        .buckets()
        .map(|(bound, n)| (bound.map_or(f64::INFINITY, |b| b.as_secs_f64()), n))
        .collect();
    m.encode_histogram::<Labels>(h.sum().as_secs_f64(), h.count(), &buckets, None)?;
    counter(
        enc,
        "modelcache_waits",
        "Requests that had to wait for room.",
        None,
        s.waits,
    )?;
    let help = "Waits for room that ran out of time.";
    counter(enc, "modelcache_wait_timeouts", help, None, s.wait_timeouts)?;
    let help = "Models removed from the cache, by reason.";
    let mut m = enc.encode_descriptor("modelcache_evictions", help, None, MetricType::Counter)?;
    for reason in EvictReason::ALL {
        let labels: Labels = vec![("reason", reason.as_str().to_owned())];
        m.encode_family(&labels)?
            .encode_counter::<Labels, _, u64>(&s.evicted_by.of(reason), None)?;
    }
    counter(
        enc,
        "modelcache_evicted",
        "Bytes of the evicted models.",
        Some(Unit::Bytes),
        s.bytes_evicted,
    )?;
    for (name, help, value) in [
        (
            "modelcache_demotions",
            "Models moved from a device to host memory instead of being unloaded.",
            s.demotions,
        ),
        (
            "modelcache_demotion_failures",
            "Moves to host memory that failed (the model was unloaded).",
            s.demotion_failures,
        ),
        (
            "modelcache_promotions",
            "Demoted models moved back onto their device for a request.",
            s.promotions,
        ),
        (
            "modelcache_promotion_failures",
            "Moves back to a device that failed (the model was loaded instead).",
            s.promotion_failures,
        ),
    ] {
        counter(enc, name, help, None, value)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    enc.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?
        .encode_gauge(&value)
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    value: u64,
) -> fmt::Result {
    enc.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?
        .encode_counter::<Labels, _, u64>(&value, None)
}
