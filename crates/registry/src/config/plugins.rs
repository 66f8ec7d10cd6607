//! The `[plugins]` table: dynamic libraries that provide more backends.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::paths;
use super::source::{Location, Source};
use crate::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugins {
    #[serde(default)]
    paths: Vec<Spanned<String>>,
}

/// The `[plugins]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginsConfig {
    /// `paths`: plugin libraries, resolved like model paths.
    pub paths: Vec<PluginPath>,
}

/// One entry of `[plugins] paths`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPath {
    /// The library, resolved.
    pub path: PathBuf,
    /// Where it is written.
    pub at: Location,
}

impl PluginsConfig {
    pub(crate) fn resolve(
        raw: RawPlugins,
        src: &Source<'_>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let paths = raw
            .paths
            .into_iter()
            .map(|p| {
                let at = src.at(&p.span());
                match paths::resolve(p.get_ref(), src.base, var) {
                    Ok(path) => Ok(PluginPath { path, at }),
                    Err(reason) => Err(ConfigError::Path {
                        at,
                        model: None,
                        value: p.into_inner(),
                        reason,
                    }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { paths })
    }
}
