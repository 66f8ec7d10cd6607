//! The `[plugins]` table: dynamic libraries that provide more backends.

use std::path::PathBuf;

use super::doc::{Table, Walk};
use super::paths;
use super::source::Location;
use crate::error::ConfigError;

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
    /// Reads `[plugins]`; each path that cannot be resolved is a problem and is left out.
    pub(crate) fn walk(
        table: &Table<'_>,
        walk: &mut Walk<'_>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut paths = Vec::new();
        for e in table.entries(walk, &["paths"]) {
            let Some(array) = e.item.as_array() else {
                table.wrong_kind(
                    walk,
                    &e,
                    "a list of libraries such as [\"plugins/libmine.so\"]",
                );
                continue;
            };
            for value in array.iter() {
                let span = value.span().unwrap_or_else(|| e.span());
                let at = walk.src.at(&span);
                let Some(raw) = value.as_str() else {
                    walk.problems.push(table.problem(
                        walk,
                        &e,
                        format!("expected a path (a string), found a {}", value.type_name()),
                    ));
                    continue;
                };
                match paths::resolve(raw, walk.src.base, var) {
                    Ok(path) => paths.push(PluginPath { path, at }),
                    Err(reason) => walk.problems.push(ConfigError::Path {
                        at,
                        model: None,
                        value: raw.to_owned(),
                        reason,
                    }),
                }
            }
        }
        Self { paths }
    }
}
