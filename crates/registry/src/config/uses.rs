//! A model's `uses`: the other `[models.ID]` that provide its parts (components), by role.
//!
//! ```toml
//! [models.flux-schnell]
//! uses = { text_encoder_2 = "t5-xxl" }   # role = the ID of the model that plays it
//! ```
//!
//! What the file alone can tell is checked when it is read: the used ID is configured, is not
//! the model itself, and no models use each other in a cycle. Whether the model's backend takes
//! the role is checked when the registry is built, where the backends are known.

use std::collections::{BTreeMap, HashSet};

use super::doc::{Entry, Table, Walk};
use super::model::ModelConfig;
use super::source::Location;
use crate::error::ConfigError;
use crate::order::dependency_order;

/// One `role = "ID"` of a model's `uses`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UseConfig {
    /// The part the used model plays, one of the backend's components (e.g. `text_encoder_2`).
    pub role: String,
    /// The ID of the model that plays it.
    pub id: String,
    /// Where the role is written.
    pub role_at: Location,
    /// Where the ID is written.
    pub at: Location,
}

/// Reads `uses = { role = "ID", ... }` of model `model`; each bad entry is a problem.
pub(crate) fn walk(
    model: &str,
    table: &Table<'_>,
    entry: &Entry<'_>,
    walk: &mut Walk<'_>,
) -> Vec<UseConfig> {
    if !entry.item.is_table_like() {
        table.wrong_kind(
            walk,
            entry,
            "a table such as { text_encoder_2 = \"t5-xxl\" }",
        );
        return Vec::new();
    }
    let name = format!("{}.uses", table.name);
    let Some(uses) = Table::entry(walk, &name, Some(model.to_owned()), entry) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in uses.all() {
        if let Some(id) = uses.value::<String>(walk, &e) {
            out.push(UseConfig {
                role: e.key.to_owned(),
                id,
                role_at: walk.src.at(&e.key_span),
                at: walk.src.at(&e.span()),
            });
        }
    }
    out
}

/// Checks the uses of `models` against the IDs the file configures (`in_file`, which holds
/// the models left out for problems of their own too): each use of an unknown ID, of the model
/// itself, or that closes a cycle is a problem, and its model is left out.
pub(crate) fn check(
    models: &mut BTreeMap<String, ModelConfig>,
    in_file: &[&str],
    problems: &mut Vec<ConfigError>,
) {
    let mut bad: HashSet<String> = HashSet::new();
    for m in models.values() {
        for u in &m.uses {
            if u.id == m.id {
                problems.push(ConfigError::UsesItself {
                    at: u.at.clone(),
                    model: m.id.clone(),
                    role: u.role.clone(),
                });
            } else if !in_file.contains(&u.id.as_str()) {
                problems.push(unknown_component(m, u, in_file));
            } else {
                continue;
            }
            bad.insert(m.id.clone());
        }
    }
    let mut ordered: Vec<&ModelConfig> = models.values().collect();
    ordered.sort_by_key(|m| (m.at.line, m.at.column));
    let graph: Vec<(&str, Vec<&str>)> = ordered
        .iter()
        .map(|m| {
            let uses = m.uses.iter().map(|u| u.id.as_str()).filter(|&u| u != m.id);
            (m.id.as_str(), uses.collect())
        })
        .collect();
    let mut in_cycles = Vec::new();
    for cycle in dependency_order(&graph).cycles {
        // One problem per model of the cycle, at its use of the next, each naming the cycle
        // from that model: every table with a problem is reported and left out.
        let len = cycle.len() - 1;
        for i in 0..len {
            let (id, next) = (cycle[i], cycle[i + 1]);
            let Some(m) = models.get(id) else { continue };
            let Some(u) = m.uses.iter().find(|u| u.id == next) else {
                continue;
            };
            let from_here: Vec<String> = cycle[i..len]
                .iter()
                .chain(&cycle[..=i])
                .map(|s| (*s).to_owned())
                .collect();
            problems.push(ConfigError::UsesCycle {
                at: u.at.clone(),
                model: id.to_owned(),
                cycle: from_here,
            });
            in_cycles.push(id.to_owned());
        }
    }
    for id in bad.into_iter().chain(in_cycles) {
        models.remove(&id);
    }
}

/// The problem of `m` using `u.id`, which is not one of `known`.
pub(crate) fn unknown_component(m: &ModelConfig, u: &UseConfig, known: &[&str]) -> ConfigError {
    let mut known: Vec<String> = known.iter().map(|k| (*k).to_owned()).collect();
    known.sort_unstable();
    ConfigError::UnknownComponent {
        at: u.at.clone(),
        model: m.id.clone(),
        role: u.role.clone(),
        used: u.id.clone(),
        known,
    }
}
