//! The `[pools.NAME]` tables: extra budgets (a GPU's memory) that models also count against.

use super::budget::Budget;

use super::doc::{Table, Walk};
use super::size::BudgetValue;

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
    /// Reads `[pools.NAME]`. A missing or bad budget is a problem; the pool is kept (so that
    /// its models are not reported again as naming an unknown pool), unlimited.
    pub(crate) fn walk(name: &str, table: &Table<'_>, walk: &mut Walk<'_>) -> Self {
        let mut budget = None;
        table.require(walk, &["budget"]);
        for e in table.entries(walk, &["budget"]) {
            budget = table.value::<BudgetValue>(walk, &e).map(|b| b.0);
        }
        Self {
            name: name.to_owned(),
            budget: budget.unwrap_or(Budget::Bytes(u64::MAX)),
        }
    }
}
