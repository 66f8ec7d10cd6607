//! The measurements behind `modelcache bench`: per-model load and hit latency, and the replay of
//! a mixed request trace under the configured budget. Library code, so tests and the command
//! line share it.

mod latency;
pub use latency::format_ns;
mod model;
mod policies;
mod rss;
mod tiers;
mod trace;

pub use latency::Percentiles;
pub use model::{ModelReport, measure_model, warm_page_cache};
pub use policies::{PolicyRow, PolicyWorkload, SimModel, compare_policies, replay_policy};
pub use rss::Memory;
pub use tiers::{TierRow, TierRun, compare_tiers};
pub use trace::{TraceReport, TraceSpec, replay, sequence};
