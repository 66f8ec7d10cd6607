//! The `[pools.NAME]` tables: extra budgets (a GPU's memory) that models also count against.

use modelcache_core::Budget;
use serde::Deserialize;

use super::size::BudgetValue;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    budget: BudgetValue,
}

/// One `[pools.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The pool's name (the key).
    pub name: String,
    /// `budget`: bytes or a share of physical memory.
    pub budget: Budget,
}

impl PoolConfig {
    pub(crate) fn new(name: String, raw: RawPool) -> Self {
        Self {
            name,
            budget: raw.budget.0,
        }
    }
}
