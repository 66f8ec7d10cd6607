//! models.toml, parsed once into typed values.
//!
//! Sizes, durations and paths are turned into bytes, [`Duration`](std::time::Duration)s and
//! resolved paths while the file is parsed, and unknown keys are refused, so every error points
//! at a line and column. Two things are checked later, on purpose: backends and their options
//! when the cache is built ([`Registry::build`](crate::Registry::build), because that is when the
//! backends are known), and whether model paths exist ([`Registry::check`](crate::Registry::check),
//! so that a config with one missing model still serves the others).

pub mod budget;
mod cache;
pub(crate) mod doc;
mod duration;
mod model;
mod paths;
mod plugins;
mod pool;
mod size;
mod source;
mod uses;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use budget::{BUDGET_ENV, Budget};
use modelcache_core::ModelPolicy;

pub use cache::{CacheConfig, DEFAULT_LOAD_TIMEOUT};
pub use duration::{KeepAlive, parse_duration};
pub use model::ModelConfig;
pub use plugins::{PluginPath, PluginsConfig};
pub use pool::PoolConfig;
pub use source::Location;
pub use uses::UseConfig;
pub(crate) use uses::unknown_component;

use crate::error::ConfigError;
use doc::{Table, Walk};
use source::Source;

/// The tables of a models.toml.
const TABLES: &[&str] = &["cache", "models", "pools", "devices", "plugins"];

/// A parsed models.toml.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from (made absolute); relative paths in it are resolved against
    /// its folder.
    pub file: PathBuf,
    /// `[cache]`.
    pub cache: CacheConfig,
    /// `[models.ID]`, by ID.
    pub models: BTreeMap<String, ModelConfig>,
    /// `[pools.NAME]`, by name.
    pub pools: BTreeMap<String, PoolConfig>,
    /// `[devices.NAME]` (`[devices."cuda:0"]`), by name: a device's memory, with its budget.
    pub devices: BTreeMap<String, PoolConfig>,
    /// `[plugins]`.
    pub plugins: PluginsConfig,
}

/// The largest models.toml read, in bytes (one with 10,000 models is about 1 MB). A longer
/// file is refused before it is read.
pub const MAX_CONFIG_LEN: u64 = 16 << 20;

impl Config {
    /// Reads and parses `file`: a regular file (a FIFO is refused, never waited on) of at most
    /// [`MAX_CONFIG_LEN`] bytes.
    ///
    /// # Errors
    /// When the file cannot be read ([`ConfigError::Read`]), is not a regular file or is too
    /// large ([`ConfigError::File`]), is not UTF-8, or as [`parse`](Self::parse).
    pub fn from_file(file: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let file = file.as_ref();
        Self::parse(&read(file)?, file)
    }

    /// As [`from_file`](Self::from_file), but keeping going past problems: see
    /// [`parse_lenient`](Self::parse_lenient).
    ///
    /// # Errors
    /// When the file cannot be read, or is not TOML.
    pub fn from_file_lenient(
        file: impl AsRef<Path>,
    ) -> Result<(Self, Vec<ConfigError>), ConfigError> {
        let file = file.as_ref();
        Self::parse_lenient(&read(file)?, file)
    }

    /// Parses `text` as if read from `file` (which names it in errors and whose folder
    /// relative paths are resolved against; it is not read).
    ///
    /// # Errors
    /// A TOML syntax error, or every problem found (unknown keys, bad sizes, durations or
    /// budgets, missing keys, a model naming an unknown pool, a path naming an unset
    /// environment variable, a `uses` of an unconfigured model, of the model itself or closing
    /// a cycle), each with its line and column: the one problem, or [`ConfigError::Several`].
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let (config, problems) = Self::parse_lenient(text, file)?;
        match ConfigError::from_problems(problems) {
            Some(e) => Err(e),
            None => Ok(config),
        }
    }

    /// Parses `text` as [`parse`](Self::parse) does, returning every problem beside the
    /// configuration made of what has none: a model table with a problem is left out (a model
    /// is served as written or not at all), and a bad value elsewhere leaves its default (a
    /// pool with a bad budget is unlimited, a bad `[cache] budget` is unset).
    ///
    /// # Errors
    /// A TOML syntax error: nothing can be read past it.
    pub fn parse_lenient(
        text: &str,
        file: impl AsRef<Path>,
    ) -> Result<(Self, Vec<ConfigError>), ConfigError> {
        Self::parse_with_env(text, file.as_ref(), &|name| std::env::var(name).ok())
    }

    pub(crate) fn parse_with_env(
        text: &str,
        file: &Path,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<ConfigError>), ConfigError> {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let base = file.parent().unwrap_or_else(|| Path::new("."));
        let src = Source::new(&file, base, text);
        let document = toml_edit::ImDocument::parse(text).map_err(|e| syntax_error(&src, &e))?;
        let mut walk = Walk {
            src: &src,
            problems: Vec::new(),
        };
        let root = Table::of(&mut walk, document.as_item(), String::new(), None, 0..0);
        let mut entries = Vec::new();
        for e in root.as_ref().map(Table::all).into_iter().flatten() {
            if TABLES.contains(&e.key) {
                entries.push(e);
            } else if e.item.is_table_like() {
                walk.problem(&e.key_span, doc::unknown("table", e.key, TABLES));
            } else {
                walk.problem(
                    &e.key_span,
                    format!(
                        "`{}` is outside every table: keys go under a header such as [cache] \
                         or [models.ID]",
                        e.key
                    ),
                );
            }
        }
        let mut config = Self {
            cache: CacheConfig::default(),
            models: BTreeMap::new(),
            pools: BTreeMap::new(),
            devices: BTreeMap::new(),
            plugins: PluginsConfig::default(),
            file: file.clone(),
        };
        // Pools and devices first: models name them.
        for kind in ["pools", "devices"] {
            for e in entries.iter().filter(|e| e.key == kind) {
                let Some(tables) = Table::entry(&mut walk, kind, None, e) else {
                    continue;
                };
                for p in tables.all() {
                    let name = format!("{kind}.{}", header_key(p.key));
                    let Some(t) = Table::entry(&mut walk, &name, None, &p) else {
                        continue;
                    };
                    let budget = PoolConfig::walk(p.key, &t, &mut walk);
                    if kind == "devices" && config.pools.contains_key(p.key) {
                        let message = format!(
                            "{:?} is both a pool and a device: give them different names",
                            p.key
                        );
                        walk.problem(&p.key_span, message);
                    } else if kind == "devices" {
                        config.devices.insert(p.key.to_owned(), budget);
                    } else {
                        config.pools.insert(p.key.to_owned(), budget);
                    }
                }
            }
        }
        let pool_names: Vec<String> = config.pools.keys().cloned().collect();
        let pool_names: Vec<&str> = pool_names.iter().map(String::as_str).collect();
        let device_names: Vec<String> = config.devices.keys().cloned().collect();
        let device_names: Vec<&str> = device_names.iter().map(String::as_str).collect();
        // Every model ID the file configures, with problems or not: what `uses` may name.
        let mut in_file: Vec<&str> = Vec::new();
        for e in &entries {
            match e.key {
                "cache" => {
                    if let Some(t) = Table::entry(&mut walk, "cache", None, e) {
                        config.cache = CacheConfig::walk(&t, &mut walk);
                    }
                }
                "models" => {
                    let Some(models) = Table::entry(&mut walk, "models", None, e) else {
                        continue;
                    };
                    for m in models.all() {
                        in_file.push(m.key);
                        let name = format!("models.{}", header_key(m.key));
                        let model = Some(m.key.to_owned());
                        let Some(t) = Table::entry(&mut walk, &name, model, &m) else {
                            continue;
                        };
                        if let Some(model) = ModelConfig::walk(
                            m.key,
                            &m.key_span,
                            &t,
                            &mut walk,
                            (&pool_names, &device_names),
                            var,
                        ) {
                            config.models.insert(model.id.clone(), model);
                        }
                    }
                }
                "plugins" => {
                    if let Some(t) = Table::entry(&mut walk, "plugins", None, e) {
                        config.plugins = PluginsConfig::walk(&t, &mut walk, var);
                    }
                }
                _ => {} // pools and devices: above
            }
        }
        uses::check(&mut config.models, &in_file, &mut walk.problems);
        // In the order of the file (a table's unknown keys are found before its bad values).
        let mut problems = walk.problems;
        problems.sort_by_key(|p| p.at().map(|at| (at.line, at.column)));
        Ok((config, problems))
    }

    /// The global budget in bytes: `override_text` if given (the value of
    /// `MODELCACHE_BUDGET`), else `[cache] budget`, resolved against physical memory.
    ///
    /// # Errors
    /// When neither is given, the override does not parse, or a share of memory cannot be
    /// resolved on this system.
    pub fn budget_bytes(&self, override_text: Option<&str>) -> Result<u64, ConfigError> {
        let budget_error = |what: &str, source| ConfigError::Budget {
            file: self.file.clone(),
            what: what.to_owned(),
            source,
        };
        let (what, budget) = match override_text {
            Some(text) => {
                let budget: Budget = text.parse().map_err(|e| budget_error(BUDGET_ENV, e))?;
                (BUDGET_ENV, budget)
            }
            None => match self.cache.budget {
                Some(budget) => ("[cache] budget", budget),
                None => {
                    return Err(ConfigError::NoBudget {
                        file: self.file.clone(),
                    });
                }
            },
        };
        budget.resolve().map_err(|e| budget_error(what, e))
    }

    /// A pool's budget in bytes.
    ///
    /// # Errors
    /// When its share of memory cannot be resolved on this system.
    pub fn pool_bytes(&self, pool: &PoolConfig) -> Result<u64, ConfigError> {
        self.named_budget("pools", pool)
    }

    /// A device's budget in bytes.
    ///
    /// # Errors
    /// When its share of memory cannot be resolved on this system.
    pub fn device_bytes(&self, device: &PoolConfig) -> Result<u64, ConfigError> {
        self.named_budget("devices", device)
    }

    fn named_budget(&self, kind: &str, named: &PoolConfig) -> Result<u64, ConfigError> {
        named
            .budget
            .resolve()
            .map_err(|source| ConfigError::Budget {
                file: self.file.clone(),
                what: format!("[{kind}.{}] budget", header_key(&named.name)),
                source,
            })
    }

    /// The cache policy of `model`, its keep-alive defaulting to `[cache] keep_alive`.
    pub fn policy(&self, model: &ModelConfig) -> ModelPolicy {
        model.policy(self.cache.keep_alive)
    }
}

/// The text of `file`, read as [`Config::from_file`] says.
fn read(file: &Path) -> Result<String, ConfigError> {
    let bytes = modelcache_files::read(file, MAX_CONFIG_LEN).map_err(|e| match e {
        modelcache_files::FileError::Io { source, .. } => ConfigError::Read {
            file: file.to_owned(),
            source,
        },
        other => ConfigError::File(other),
    })?;
    String::from_utf8(bytes).map_err(|_| ConfigError::NotText {
        file: file.to_owned(),
    })
}

/// A table key as a header writes it: bare when it can be, else quoted.
fn header_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn syntax_error(src: &Source<'_>, e: &toml_edit::TomlError) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    ConfigError::Syntax {
        at: src.at(&span),
        table: src.table_before(span.start),
        key: src.key_before(span.start),
        model: None,
        message: doc::one_line(e.message()),
    }
}
