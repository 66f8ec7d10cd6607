//! The `[cache]` table: the budget, how long requests wait for room, the default keep-alive.

use std::time::Duration;

use modelcache_core::Budget;
use serde::Deserialize;

use super::duration::{DurationValue, KeepAlive};
use super::size::BudgetValue;

/// How long a request waits for room when `load_timeout` is not given (the core's default).
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    budget: Option<BudgetValue>,
    load_timeout: Option<DurationValue>,
    keep_alive: Option<KeepAlive>,
    #[serde(default)]
    allow_oversized: bool,
}

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
}

impl From<RawCache> for CacheConfig {
    fn from(raw: RawCache) -> Self {
        Self {
            budget: raw.budget.map(|b| b.0),
            load_timeout: raw.load_timeout.map_or(DEFAULT_LOAD_TIMEOUT, |d| d.0),
            keep_alive: raw.keep_alive.unwrap_or(KeepAlive::Never),
            allow_oversized: raw.allow_oversized,
        }
    }
}
