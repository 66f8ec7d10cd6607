//! The cache built from a configuration: every model prepared by its backend and registered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use modelcache_backend::{Component, DynBackend, ModelLoader, erased_serde};
use modelcache_core::{CacheBuilder, CacheError, Handle, ModelCache, ModelPolicy, Reaper};

use crate::config::budget::BUDGET_ENV;

use crate::backends::Backends;
use crate::config::{Config, Location, ModelConfig};
use crate::error::{ConfigError, RegistryError};
use crate::order::dependency_order;
use crate::sharing::{Folders, ModelUse, UseOrigin};
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
    /// Its components: the models that provide its parts, written in `uses` or found on disk
    /// (see [`UseOrigin`]). They are also in [`policy`](Self::policy)'s `uses`.
    pub uses: Vec<ModelUse>,
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
            .field("uses", &self.uses)
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
    /// Component ID -> the IDs of its users, in file order.
    used_by: BTreeMap<String, Vec<String>>,
    file: PathBuf,
    pools: Vec<(String, u64)>,
    devices: Vec<(String, u64)>,
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
        // Canonical paths, read only if some backend takes components.
        let mut folders = None;
        let mut models = BTreeMap::new();
        for m in &ordered {
            let backend = backend(backends, m)?;
            let uses = uses(config, m, backend.as_ref(), &mut folders)?;
            let components = uses
                .iter()
                .filter_map(|u| {
                    let used = config.models.get(&u.id)?;
                    Some(Component {
                        role: u.role.clone(),
                        id: u.id.clone(),
                        path: used.path.clone(),
                        backend: used.backend.clone(),
                    })
                })
                .collect();
            let loader = SizedLoader::wrap(prepare(backend, m, components)?, m.size);
            let mut policy = config.policy(m);
            policy.uses = uses
                .iter()
                .map(|u| (u.role.clone(), u.id.clone()))
                .collect();
            let entry = ModelEntry {
                id: m.id.clone(),
                backend: m.backend.clone(),
                path: m.path.clone(),
                policy,
                at: m.at.clone(),
                uses,
                loader,
            };
            models.insert(m.id.clone(), entry);
        }
        // Components before the models that use them (the cache refuses a use of a model not
        // registered yet).
        let graph: Vec<(&str, Vec<&str>)> = ordered
            .iter()
            .map(|m| {
                let uses = models[&m.id].uses.iter().map(|u| u.id.as_str());
                (m.id.as_str(), uses.collect())
            })
            .collect();
        let order = dependency_order(&graph);
        if let Some(cycle) = order.cycles.first() {
            return Err(cycle_error(config, cycle).into());
        }
        let order: Vec<String> = order.models.iter().map(|id| (*id).to_owned()).collect();
        let mut used_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in &ordered {
            for u in &models[&m.id].uses {
                used_by.entry(u.id.clone()).or_default().push(m.id.clone());
            }
        }

        let budget = config.budget_bytes(budget_override)?;
        let pools = config
            .pools
            .values()
            .map(|p| Ok((p.name.clone(), config.pool_bytes(p)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let devices = config
            .devices
            .values()
            .map(|d| Ok((d.name.clone(), config.device_bytes(d)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut cache = cache
            .budget(budget)
            .load_timeout(config.cache.load_timeout)
            .allow_oversized(config.cache.allow_oversized)
            .eviction(config.cache.eviction);
        for (name, bytes) in &pools {
            cache = cache.pool(name.clone(), *bytes);
        }
        for (name, bytes) in &devices {
            cache = cache.device(name.clone(), *bytes);
        }
        let cache = cache.build();
        for entry in order.iter().filter_map(|id| models.get(id)) {
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
            used_by,
            file: config.file.clone(),
            pools,
            devices,
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

    /// The IDs of the models that use model `id` as a component, in the order of the file.
    pub fn used_by(&self, id: &str) -> &[String] {
        self.used_by.get(id).map_or(&[], Vec::as_slice)
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

    /// The devices and their budgets in bytes.
    pub fn devices(&self) -> &[(String, u64)] {
        &self.devices
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

/// The backend `m` names.
fn backend<'b>(
    backends: &'b Backends,
    m: &ModelConfig,
) -> Result<&'b Arc<dyn DynBackend>, RegistryError> {
    backends
        .backend(&m.backend)
        .ok_or_else(|| RegistryError::UnknownBackend {
            at: m.backend_at.clone(),
            model: m.id.clone(),
            backend: m.backend.clone(),
            known: backends.names().into_iter().map(str::to_owned).collect(),
        })
}

/// `m`'s components: its written `uses` (each of a configured model, in a role its backend
/// takes), then, for each other role the backend takes, the entry its folder for that role is.
fn uses(
    config: &Config,
    m: &ModelConfig,
    backend: &dyn DynBackend,
    folders: &mut Option<Folders>,
) -> Result<Vec<ModelUse>, ConfigError> {
    let roles = backend.components();
    let mut uses = Vec::new();
    for u in &m.uses {
        if !config.models.contains_key(&u.id) {
            let known: Vec<&str> = config.models.keys().map(String::as_str).collect();
            return Err(crate::config::unknown_component(m, u, &known));
        }
        if !roles.contains(&u.role.as_str()) {
            return Err(ConfigError::UnknownRole {
                at: u.role_at.clone(),
                model: m.id.clone(),
                role: u.role.clone(),
                used: u.id.clone(),
                backend: m.backend.clone(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            });
        }
        uses.push(ModelUse {
            role: u.role.clone(),
            id: u.id.clone(),
            origin: UseOrigin::Written,
        });
    }
    for role in roles {
        if m.uses.iter().any(|u| u.role == *role) {
            continue; // written: never looked for
        }
        let folders = folders.get_or_insert_with(|| Folders::of(config));
        uses.extend(folders.found(m, role));
    }
    Ok(uses)
}

/// The problem of `cycle` (`a -> b -> a`), at its first model's use of the next: where it is
/// written, else (found on disk) the model's table.
fn cycle_error(config: &Config, cycle: &[&str]) -> ConfigError {
    let first = config.models.get(cycle[0]);
    let written = first.and_then(|m| m.uses.iter().find(|u| Some(&u.id.as_str()) == cycle.get(1)));
    let at = match (written, first) {
        (Some(u), _) => u.at.clone(),
        (None, Some(m)) => m.at.clone(),
        (None, None) => Location {
            file: config.file.clone(),
            line: 0,
            column: 0,
        },
    };
    ConfigError::UsesCycle {
        at,
        model: cycle[0].to_owned(),
        cycle: cycle.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Binds `m`'s backend to its path, options and components, checking the options now.
fn prepare(
    backend: &Arc<dyn DynBackend>,
    m: &ModelConfig,
    components: Vec<Component>,
) -> Result<Arc<dyn ModelLoader>, RegistryError> {
    let device = m.device.as_deref();
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
                .prepare_on(&m.id, &m.path, device, components, Some(&mut de))
                .map_err(options_error)
        }
        None => Arc::clone(backend)
            .prepare_on(&m.id, &m.path, device, components, None)
            .map_err(options_error),
    }
}
