//! The `[models.ID]` tables: which backend loads each model, from where, and how it is kept.

use std::path::PathBuf;

use modelcache_core::ModelPolicy;
use serde::Deserialize;
use toml::Spanned;

use super::duration::KeepAlive;
use super::paths;
use super::size::SizeValue;
use super::source::{Location, Source};
use crate::error::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    backend: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    pin: bool,
    keep_alive: Option<KeepAlive>,
    size: Option<SizeValue>,
    options: Option<Spanned<toml::Table>>,
    pool: Option<Spanned<String>>,
}

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
}

impl ModelConfig {
    pub(crate) fn resolve(
        id: Spanned<String>,
        raw: RawModel,
        src: &Source<'_>,
        pools: &[&str],
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let at = src.at(&id.span());
        let id = id.into_inner();
        let path = paths::resolve(raw.path.get_ref(), src.base, var).map_err(|reason| {
            ConfigError::Path {
                at: src.at(&raw.path.span()),
                model: Some(id.clone()),
                value: raw.path.get_ref().clone(),
                reason,
            }
        })?;
        if let Some(pool) = &raw.pool {
            if !pools.contains(&pool.get_ref().as_str()) {
                return Err(ConfigError::UnknownPool {
                    at: src.at(&pool.span()),
                    model: id,
                    pool: pool.get_ref().clone(),
                    known: pools.iter().map(|p| (*p).to_owned()).collect(),
                });
            }
        }
        Ok(Self {
            at,
            backend_at: src.at(&raw.backend.span()),
            backend: raw.backend.into_inner(),
            path,
            pin: raw.pin,
            keep_alive: raw.keep_alive,
            size: raw.size.map(|s| s.0),
            options_at: raw.options.as_ref().map(|o| src.at(&o.span())),
            options: raw.options.map(Spanned::into_inner),
            pool: raw.pool.map(Spanned::into_inner),
            id,
        })
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
        }
    }
}
