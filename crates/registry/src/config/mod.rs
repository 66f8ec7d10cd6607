//! models.toml, parsed once into typed values.
//!
//! Sizes, durations and paths are turned into bytes, [`Duration`](std::time::Duration)s and
//! resolved paths while the file is parsed, and unknown keys are refused, so every error points
//! at a line and column. Two things are checked later, on purpose: backends and their options
//! when the cache is built ([`Registry::build`](crate::Registry::build), because that is when the
//! backends are known), and whether model paths exist ([`Registry::check`](crate::Registry::check),
//! so that a config with one missing model still serves the others).

mod cache;
mod duration;
mod model;
mod paths;
mod plugins;
mod pool;
mod size;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use modelcache_core::{BUDGET_ENV, Budget, ModelPolicy};
use serde::Deserialize;
use toml::Spanned;

pub use cache::{CacheConfig, DEFAULT_LOAD_TIMEOUT};
pub use duration::KeepAlive;
pub use model::ModelConfig;
pub use plugins::{PluginPath, PluginsConfig};
pub use pool::PoolConfig;
pub use source::Location;

use crate::error::ConfigError;
use source::Source;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    cache: cache::RawCache,
    #[serde(default)]
    models: BTreeMap<Spanned<String>, model::RawModel>,
    #[serde(default)]
    pools: BTreeMap<String, pool::RawPool>,
    #[serde(default)]
    plugins: plugins::RawPlugins,
}

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
        let bytes = modelcache_files::read(file, MAX_CONFIG_LEN).map_err(|e| match e {
            modelcache_files::FileError::Io { source, .. } => ConfigError::Read {
                file: file.to_owned(),
                source,
            },
            other => ConfigError::File(other),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotText {
            file: file.to_owned(),
        })?;
        Self::parse(&text, file)
    }

    /// Parses `text` as if read from `file` (which names it in errors and whose folder
    /// relative paths are resolved against; it is not read).
    ///
    /// # Errors
    /// A TOML syntax error, an unknown key, a bad size, duration or budget, a model naming an
    /// unknown pool, or a path naming an unset environment variable; each with its line and
    /// column.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, file.as_ref(), &|name| std::env::var(name).ok())
    }

    pub(crate) fn parse_with_env(
        text: &str,
        file: &Path,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let base = file.parent().unwrap_or_else(|| Path::new("."));
        let src = Source::new(&file, base, text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(&src, &e))?;
        let pools: BTreeMap<String, PoolConfig> = raw
            .pools
            .into_iter()
            .map(|(name, p)| (name.clone(), PoolConfig::new(name, p)))
            .collect();
        let pool_names: Vec<&str> = pools.keys().map(String::as_str).collect();
        let models = raw
            .models
            .into_iter()
            .map(|(id, m)| {
                let m = ModelConfig::resolve(id, m, &src, &pool_names, var)?;
                Ok((m.id.clone(), m))
            })
            .collect::<Result<_, ConfigError>>()?;
        let plugins = PluginsConfig::resolve(raw.plugins, &src, var)?;
        Ok(Self {
            cache: raw.cache.into(),
            models,
            pools,
            plugins,
            file,
        })
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
        pool.budget.resolve().map_err(|source| ConfigError::Budget {
            file: self.file.clone(),
            what: format!("[pools.{}] budget", pool.name),
            source,
        })
    }

    /// The cache policy of `model`, its keep-alive defaulting to `[cache] keep_alive`.
    pub fn policy(&self, model: &ModelConfig) -> ModelPolicy {
        model.policy(self.cache.keep_alive)
    }
}

fn syntax_error(src: &Source<'_>, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    ConfigError::Syntax {
        at: src.at(&span),
        table: src.table_before(span.start),
        key: src.key_before(span.start),
        message: e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}
