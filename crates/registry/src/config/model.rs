//! The `[models.ID]` tables: which backend loads each model, from where, and how it is kept.

use std::path::PathBuf;

use std::ops::Range;

use modelcache_core::ModelPolicy;

use super::doc::{Entry, Table, Walk};
use super::duration::KeepAlive;
use super::paths;
use super::size::SizeValue;
use super::source::Location;
use super::uses::{self, UseConfig};
use crate::error::ConfigError;

/// The keys of a `[models.ID]` table.
const KEYS: &[&str] = &[
    "backend",
    "path",
    "pin",
    "keep_alive",
    "size",
    "options",
    "pool",
    "uses",
    "device",
    "demote",
];

/// One `[models.ID]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelConfig {
    /// The model ID (the table's key).
    pub id: String,
    /// Where the model's key is written.
    pub at: Location,
    /// `backend`: the name of the backend that loads it.
    pub backend: String,
    /// Where `backend` is written.
    pub backend_at: Location,
    /// `path`: the checkpoint, with `~` and `$VARS` expanded, relative to the file's folder.
    pub path: PathBuf,
    /// `pin`: never evict it (default false).
    pub pin: bool,
    /// `keep_alive` as written: `None` inherits `[cache] keep_alive`.
    pub keep_alive: Option<KeepAlive>,
    /// `size`: bytes to reserve instead of the backend's memory hint.
    pub size: Option<u64>,
    /// `options`: the backend's options, deserialized by its own type when the cache is built.
    pub options: Option<toml::Table>,
    /// Where `options` is written.
    pub options_at: Option<Location>,
    /// `pool`: a `[pools.NAME]` it also counts against.
    pub pool: Option<String>,
    /// `uses`: the models that provide parts of this one, by role, in the order written
    /// (see [`UseConfig`]). Uses found on disk are added when the registry is built.
    pub uses: Vec<UseConfig>,
    /// `device`: a `[devices.NAME]` it is loaded onto, counting against that device's budget
    /// instead of `[cache] budget` (host memory).
    pub device: Option<String>,
    /// `demote`: evicted from its device for room, it moves to host memory instead of being
    /// unloaded, and back on its next request (default false; needs `device`).
    pub demote: bool,
}

impl ModelConfig {
    /// Reads `[models.ID]`; `None` when it has a problem (each one reported), so that a model
    /// is served as written or not at all.
    pub(crate) fn walk(
        id: &str,
        id_span: &Range<usize>,
        table: &Table<'_>,
        walk: &mut Walk<'_>,
        (pools, devices): (&[&str], &[&str]),
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        let before = walk.problems.len();
        let src = walk.src;
        let mut m = Self {
            id: id.to_owned(),
            at: src.at(id_span),
            backend: String::new(),
            backend_at: table.at(walk),
            path: PathBuf::new(),
            pin: false,
            keep_alive: None,
            size: None,
            options: None,
            options_at: None,
            pool: None,
            uses: Vec::new(),
            device: None,
            demote: false,
        };
        let mut demote_at = None;
        let mut pool_at = None;
        table.require(walk, &["backend", "path"]);
        for e in table.entries(walk, KEYS) {
            match e.key {
                "backend" => {
                    if let Some(b) = table.value(walk, &e) {
                        m.backend = b;
                        m.backend_at = src.at(&e.span());
                    }
                }
                "path" => {
                    let Some(raw) = table.value::<String>(walk, &e) else {
                        continue;
                    };
                    match paths::resolve(&raw, src.base, var) {
                        Ok(path) => m.path = path,
                        Err(reason) => walk.problems.push(ConfigError::Path {
                            at: src.at(&e.span()),
                            model: Some(id.to_owned()),
                            value: raw,
                            reason,
                        }),
                    }
                }
                "pin" => m.pin = table.value(walk, &e).unwrap_or(false),
                "keep_alive" => m.keep_alive = table.value(walk, &e),
                "size" => m.size = table.value::<SizeValue>(walk, &e).map(|s| s.0),
                "options" => {
                    if !e.item.is_table_like() {
                        table.wrong_kind(walk, &e, "a table such as { dtype = \"bf16\" }");
                        continue;
                    }
                    m.options = table.value(walk, &e);
                    m.options_at = Some(src.at(&e.span()));
                }
                "pool" => {
                    m.pool = known_name(table, walk, &e, pools, |at, pool, known| {
                        ConfigError::UnknownPool {
                            at,
                            model: id.to_owned(),
                            pool,
                            known,
                        }
                    });
                    pool_at = m.pool.as_ref().map(|_| e.span());
                }
                "device" => {
                    m.device = known_name(table, walk, &e, devices, |at, device, known| {
                        ConfigError::UnknownDevice {
                            at,
                            model: id.to_owned(),
                            device,
                            known,
                        }
                    });
                }
                "demote" => {
                    m.demote = table.value(walk, &e).unwrap_or(false);
                    demote_at = Some(e.span());
                }
                "uses" => m.uses = uses::walk(id, table, &e, walk),
                _ => {} // `entries` returns known keys only
            }
        }
        if let (Some(span), Some(device)) = (&pool_at, &m.device) {
            let message = format!(
                "model {id:?} names a pool and device {device:?}: a model on a device counts \
                 against that device's budget, so leave `pool` out"
            );
            walk.problem(span, message);
        }
        if let Some(span) = demote_at
            .as_ref()
            .filter(|_| m.demote && m.device.is_none())
        {
            let message = format!(
                "model {id:?} has demote = true but no device: demotion moves a model from a \
                 [devices.NAME] to host memory; add device = \"...\" or leave demote out"
            );
            walk.problem(span, message);
        }
        (walk.problems.len() == before).then_some(m)
    }

    /// The effective keep-alive: the model's own, else `default` (`[cache] keep_alive`).
    pub fn keep_alive_or(&self, default: KeepAlive) -> KeepAlive {
        self.keep_alive.unwrap_or(default)
    }

    /// The cache policy for this model, given the default keep-alive.
    pub fn policy(&self, default_keep_alive: KeepAlive) -> ModelPolicy {
        ModelPolicy {
            pin: self.pin,
            keep_alive: self.keep_alive_or(default_keep_alive).as_policy(),
            size: self.size,
            pool: self.pool.clone(),
            uses: self
                .uses
                .iter()
                .map(|u| (u.role.clone(), u.id.clone()))
                .collect(),
            device: self.device.clone(),
            demote: self.demote,
        }
    }
}

/// The name written at `e` when it is one of `known` (a pool or a device); else `None`, with
/// the problem `unknown` makes of where it is written, the name and the known names.
fn known_name(
    table: &Table<'_>,
    walk: &mut Walk<'_>,
    e: &Entry<'_>,
    known: &[&str],
    unknown: impl FnOnce(Location, String, Vec<String>) -> ConfigError,
) -> Option<String> {
    let name = table.value::<String>(walk, e)?;
    if known.contains(&name.as_str()) {
        return Some(name);
    }
    let known = known.iter().map(|k| (*k).to_owned()).collect();
    walk.problems
        .push(unknown(walk.src.at(&e.span()), name, known));
    None
}
