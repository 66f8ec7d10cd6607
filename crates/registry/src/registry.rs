//! The cache built from a configuration: every model prepared by its backend and registered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use modelcache_backend::{ModelLoader, erased_serde};
use modelcache_core::{CacheBuilder, CacheError, Handle, ModelCache, ModelPolicy, Reaper};

use crate::config::budget::BUDGET_ENV;

use crate::backends::Backends;
use crate::config::{Config, Location, ModelConfig};
use crate::error::{ConfigError, RegistryError};
use crate::sized::SizedLoader;

/// One configured model, as registered with the cache.
#[derive(Clone)]
#[non_exhaustive]
pub struct ModelEntry {
    /// The model ID.
    pub id: String,
    /// The backend that loads it.
    pub backend: String,
    /// The checkpoint path, resolved.
    pub path: PathBuf,
    /// How the cache treats it (keep-alive inherited from `[cache]` already).
    pub policy: ModelPolicy,
    /// Where it is defined.
    pub at: Location,
    loader: Arc<dyn ModelLoader>,
}

impl ModelEntry {
    /// The backend bound to this model's path and options, as the cache holds it.
    pub fn loader(&self) -> &Arc<dyn ModelLoader> {
        &self.loader
    }
}

impl std::fmt::Debug for ModelEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEntry")
            .field("id", &self.id)
            .field("backend", &self.backend)
            .field("path", &self.path)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A [`ModelCache`] built from a [`Config`], with every configured model registered.
///
/// Models are served by ID: [`get`](Self::get) for a typed handle, [`model`](Self::model) for
/// what is known about one without loading it.
#[derive(Debug)]
pub struct Registry {
    cache: ModelCache,
    models: BTreeMap<String, ModelEntry>,
    file: PathBuf,
    pools: Vec<(String, u64)>,
    allow_oversized: bool,
    load_timeout: Duration,
}

impl Registry {
    /// Builds the cache of `config` with `backends`. The budget is `MODELCACHE_BUDGET` if set,
    /// else `[cache] budget`.
    ///
    /// Every model's options are deserialized and checked by its backend now, so a bad option
    /// fails here, not at the first request. Paths are not checked (see [`check`](Self::check)).
    ///
    /// # Errors
    /// An unknown backend, options the backend refuses, or a budget that cannot be resolved;
    /// each naming the file, line and column, and the model.
    pub fn build(backends: &Backends, config: &Config) -> Result<Self, RegistryError> {
        let env = std::env::var(BUDGET_ENV).ok();
        Self::build_with(backends, config, ModelCache::builder(), env.as_deref())
    }

    /// As [`build`](Self::build), but starting from `cache` (to set a clock, an event hook, ...;
    /// the configuration's budget, pools, timeout and `allow_oversized` are applied over it)
    /// and with `budget_override` in place of the `MODELCACHE_BUDGET` variable.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_with(
        backends: &Backends,
        config: &Config,
        cache: CacheBuilder,
        budget_override: Option<&str>,
    ) -> Result<Self, RegistryError> {
        // Models in file order, so that the first error reported is the first in the file.
        let mut ordered: Vec<&ModelConfig> = config.models.values().collect();
        ordered.sort_by_key(|m| (m.at.line, m.at.column));
        let mut models = BTreeMap::new();
        for m in ordered {
            let loader = SizedLoader::wrap(prepare(backends, m)?, m.size);
            let entry = ModelEntry {
                id: m.id.clone(),
                backend: m.backend.clone(),
                path: m.path.clone(),
                policy: config.policy(m),
                at: m.at.clone(),
                loader,
            };
            models.insert(m.id.clone(), entry);
        }

        let budget = config.budget_bytes(budget_override)?;
        let pools = config
            .pools
            .values()
            .map(|p| Ok((p.name.clone(), config.pool_bytes(p)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut cache = cache
            .budget(budget)
            .load_timeout(config.cache.load_timeout)
            .allow_oversized(config.cache.allow_oversized)
            .eviction(config.cache.eviction);
        for (name, bytes) in &pools {
            cache = cache.pool(name.clone(), *bytes);
        }
        let cache = cache.build();
        for entry in models.values() {
            cache
                .register(
                    entry.id.clone(),
                    Arc::clone(&entry.loader),
                    entry.policy.clone(),
                )
                .map_err(|source| RegistryError::Register {
                    at: entry.at.clone(),
                    model: entry.id.clone(),
                    source: Box::new(source),
                })?;
        }
        Ok(Self {
            cache,
            models,
            file: config.file.clone(),
            pools,
            allow_oversized: config.cache.allow_oversized,
            load_timeout: config.cache.load_timeout,
        })
    }

    /// A handle to model `id`, loading it if needed.
    ///
    /// # Errors
    /// An unknown ID, a model of another type than `T` (naming both types), a failed load, or
    /// no room (see [`CacheError`]).
    pub fn get<T: Send + Sync + 'static>(&self, id: &str) -> Result<Handle<T>, CacheError> {
        self.cache.get(id)
    }

    /// What is configured for model `id`, without loading it.
    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.get(id)
    }

    /// Every configured model, by ID.
    pub fn models(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.values()
    }

    /// The cache itself: stats, entries, plans, invalidation.
    pub fn cache(&self) -> &ModelCache {
        &self.cache
    }

    /// The configuration file this was built from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The pools and their budgets in bytes.
    pub fn pools(&self) -> &[(String, u64)] {
        &self.pools
    }

    pub(crate) fn allow_oversized(&self) -> bool {
        self.allow_oversized
    }

    /// How long a request waits for room before it fails (`[cache] load_timeout`).
    pub fn load_timeout(&self) -> Duration {
        self.load_timeout
    }

    /// Starts a thread that unloads models whose keep-alive ran out, checking four times per
    /// shortest keep-alive (between 100 ms and 30 s). `None` when no model has a non-zero
    /// keep-alive (a zero keep-alive unloads as soon as the model is idle, without a thread).
    /// The thread stops when the returned [`Reaper`] is dropped.
    pub fn start_reaper(&self) -> Option<Reaper> {
        let shortest = self
            .models
            .values()
            .filter(|m| !m.policy.pin)
            .filter_map(|m| m.policy.keep_alive)
            .filter(|d| !d.is_zero())
            .min()?;
        let period = (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        Some(self.cache.start_reaper(period))
    }
}

/// Binds `m`'s backend to its path and options, checking the options now.
fn prepare(backends: &Backends, m: &ModelConfig) -> Result<Arc<dyn ModelLoader>, RegistryError> {
    let backend = backends
        .backend(&m.backend)
        .ok_or_else(|| RegistryError::UnknownBackend {
            at: m.backend_at.clone(),
            model: m.id.clone(),
            backend: m.backend.clone(),
            known: backends.names().into_iter().map(str::to_owned).collect(),
        })?;
    let options_error = |source| RegistryError::Options {
        at: m.options_at.clone().unwrap_or_else(|| m.at.clone()),
        model: m.id.clone(),
        backend: m.backend.clone(),
        source: Box::new(source),
    };
    match &m.options {
        Some(table) => {
            let mut de = <dyn erased_serde::Deserializer>::erase(toml::Value::Table(table.clone()));
            Arc::clone(backend)
                .prepare(&m.id, &m.path, Some(&mut de))
                .map_err(options_error)
        }
        None => Arc::clone(backend)
            .prepare(&m.id, &m.path, None)
            .map_err(options_error),
    }
}
