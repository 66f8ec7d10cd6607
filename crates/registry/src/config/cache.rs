//! The `[cache]` table: the budget, how long requests wait for room, the default keep-alive,
//! the eviction policy.

use std::fmt;
use std::time::Duration;

use modelcache_core::EvictionPolicy;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::budget::Budget;

use super::doc::{Table, Walk};
use super::duration::{DurationValue, KeepAlive};
use super::size::BudgetValue;

/// How long a request waits for room when `load_timeout` is not given (the core's default).
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The `[cache]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// `budget`: bytes or a share of physical memory; `None` when not given (then
    /// `MODELCACHE_BUDGET` must be set). The environment variable overrides it.
    pub budget: Option<Budget>,
    /// `load_timeout`: how long a request waits for room before failing (default 2 minutes).
    pub load_timeout: Duration,
    /// `keep_alive`: the default for models that do not set their own; omitted = never.
    pub keep_alive: KeepAlive,
    /// `allow_oversized`: admit a lone model larger than its budget (default false).
    pub allow_oversized: bool,
    /// `eviction`: which idle models go first when room is needed (default `"lru"`).
    pub eviction: EvictionPolicy,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            budget: None,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            keep_alive: KeepAlive::Never,
            allow_oversized: false,
            eviction: EvictionPolicy::Lru,
        }
    }
}

/// The keys of `[cache]`.
const KEYS: &[&str] = &[
    "budget",
    "load_timeout",
    "keep_alive",
    "allow_oversized",
    "eviction",
];

/// An eviction policy's name, as `eviction = "cost"`.
struct EvictionValue(EvictionPolicy);

impl<'de> Deserialize<'de> for EvictionValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EvictionValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an eviction policy: \"lru\", \"cost\", \"shortest-keep-alive\" or \"cheapest-reload\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.trim().parse().map(EvictionValue).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl CacheConfig {
    /// Reads `[cache]`; a bad value is a problem and leaves its default.
    pub(crate) fn walk(table: &Table<'_>, walk: &mut Walk<'_>) -> Self {
        let mut c = Self::default();
        for e in table.entries(walk, KEYS) {
            match e.key {
                "budget" => c.budget = table.value::<BudgetValue>(walk, &e).map(|b| b.0),
                "load_timeout" => {
                    if let Some(d) = table.value::<DurationValue>(walk, &e) {
                        c.load_timeout = d.0;
                    }
                }
                "keep_alive" => {
                    if let Some(k) = table.value(walk, &e) {
                        c.keep_alive = k;
                    }
                }
                "allow_oversized" => {
                    if let Some(b) = table.value(walk, &e) {
                        c.allow_oversized = b;
                    }
                }
                "eviction" => {
                    if let Some(p) = table.value::<EvictionValue>(walk, &e) {
                        c.eviction = p.0;
                    }
                }
                _ => {} // `entries` returns known keys only
            }
        }
        c
    }
}
