//! Walking the parsed document table by table and key by key, so that one pass reports every
//! problem (every unknown key, every bad value, every missing key), each at its line and
//! column, instead of stopping at the first the way a derived `Deserialize` does.
//!
//! Each value is still turned into its typed form by its own `Deserialize` (sizes, durations,
//! keep-alives): only the walk over keys is written here.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{Item, TableLike};

use super::source::{Location, Source};
use crate::error::ConfigError;

/// The problems found so far, and the text they are located in.
pub(crate) struct Walk<'a> {
    pub src: &'a Source<'a>,
    pub problems: Vec<ConfigError>,
}

impl Walk<'_> {
    /// A problem at `span` outside any table.
    pub fn problem(&mut self, span: &Range<usize>, message: String) {
        self.problems.push(ConfigError::Syntax {
            at: self.src.at(span),
            table: None,
            key: None,
            model: None,
            message,
        });
    }
}

/// One table of the document: `[cache]`, `[models.ID]`, `[pools.NAME]`, `[plugins]`.
pub(crate) struct Table<'a> {
    /// Its name as a header writes it, e.g. `models.flux-schnell`.
    pub name: String,
    /// The model it configures, for `[models.ID]`.
    pub model: Option<String>,
    /// Where it starts (its header, or its key when it has none).
    pub span: Range<usize>,
    inner: &'a dyn TableLike,
}

/// One `key = value` of a [`Table`].
pub(crate) struct Entry<'a> {
    pub key: &'a str,
    pub key_span: Range<usize>,
    pub item: &'a Item,
}

impl Entry<'_> {
    /// Where the value starts (the key, if the value has no position).
    pub fn span(&self) -> Range<usize> {
        self.item.span().unwrap_or_else(|| self.key_span.clone())
    }
}

impl<'a> Table<'a> {
    /// `item` as a table named `name`, or a problem (located at `span`) when it is not one.
    pub fn of(
        walk: &mut Walk<'_>,
        item: &'a Item,
        name: String,
        model: Option<String>,
        span: Range<usize>,
    ) -> Option<Self> {
        let span = item.span().unwrap_or(span);
        match item.as_table_like() {
            Some(inner) => Some(Self {
                name,
                model,
                span,
                inner,
            }),
            None => {
                walk.problems.push(ConfigError::Syntax {
                    at: walk.src.at(&span),
                    table: None,
                    key: None,
                    model,
                    message: format!(
                        "`{name}` must be a table (write `[{name}]`), not a {}",
                        item.type_name()
                    ),
                });
                None
            }
        }
    }

    /// The value of `entry` as a table named `name`, or a problem when it is not one.
    pub fn entry(
        walk: &mut Walk<'_>,
        name: &str,
        model: Option<String>,
        entry: &Entry<'a>,
    ) -> Option<Self> {
        Self::of(
            walk,
            entry.item,
            name.to_owned(),
            model,
            entry.key_span.clone(),
        )
    }

    /// The entries whose key is in `known`; each other key is a problem naming the known ones
    /// (and the likely one, for a typo).
    pub fn entries(&self, walk: &mut Walk<'_>, known: &[&str]) -> Vec<Entry<'a>> {
        let mut out = Vec::new();
        for (key, item) in self.inner.iter() {
            let key_span = self
                .inner
                .key(key)
                .and_then(toml_edit::Key::span)
                .unwrap_or_else(|| self.span.clone());
            if known.contains(&key) {
                out.push(Entry {
                    key,
                    key_span,
                    item,
                });
            } else {
                let message = unknown("key", key, known);
                walk.problems
                    .push(self.problem_at(walk, &key_span, None, message));
            }
        }
        out
    }

    /// Every entry, keys unchecked (the keys of `[models]` and `[pools]` are names).
    pub fn all(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        self.inner.iter().map(|(key, item)| Entry {
            key,
            key_span: self
                .inner
                .key(key)
                .and_then(toml_edit::Key::span)
                .unwrap_or_else(|| self.span.clone()),
            item,
        })
    }

    /// A problem with `entry`'s value.
    pub fn problem(&self, walk: &Walk<'_>, entry: &Entry<'_>, message: String) -> ConfigError {
        self.problem_at(walk, &entry.span(), Some(entry.key), message)
    }

    fn problem_at(
        &self,
        walk: &Walk<'_>,
        span: &Range<usize>,
        key: Option<&str>,
        message: String,
    ) -> ConfigError {
        ConfigError::Syntax {
            at: walk.src.at(span),
            table: Some(self.name.clone()),
            key: key.map(str::to_owned),
            model: self.model.clone(),
            message,
        }
    }

    /// Reports that `entry`'s value is not what `expected` describes (its kind is named).
    pub fn wrong_kind(&self, walk: &mut Walk<'_>, entry: &Entry<'_>, expected: &str) {
        let message = format!("expected {expected}, found a {}", entry.item.type_name());
        let problem = self.problem(walk, entry, message);
        walk.problems.push(problem);
    }

    /// `entry`'s value as a `T`; a problem (and `None`) when it is not one.
    pub fn value<T: DeserializeOwned>(&self, walk: &mut Walk<'_>, entry: &Entry<'_>) -> Option<T> {
        match value(entry.item) {
            Ok(v) => Some(v),
            Err(message) => {
                let problem = self.problem(walk, entry, message);
                walk.problems.push(problem);
                None
            }
        }
    }

    /// A problem for each key of `required` the table lacks.
    pub fn require(&self, walk: &mut Walk<'_>, required: &[&str]) -> bool {
        let mut all = true;
        for key in required {
            if !self.inner.contains_key(key) {
                let message = format!("missing key `{key}`");
                walk.problems
                    .push(self.problem_at(walk, &self.span, None, message));
                all = false;
            }
        }
        all
    }

    /// Where the table is.
    pub fn at(&self, walk: &Walk<'_>) -> Location {
        walk.src.at(&self.span)
    }
}

/// `item` (a value, or a table written as one) deserialized as a `T`; the reason when it is not.
pub(crate) fn value<T: DeserializeOwned>(item: &Item) -> Result<T, String> {
    let value = item
        .clone()
        .into_value()
        .map_err(|i| format!("expected a value, found a {}", i.type_name()))?;
    T::deserialize(value.into_deserializer()).map_err(|e| one_line(e.message()))
}

/// A message on one line: serde and TOML messages can hold blank lines.
pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// "unknown key `x`; did you mean `y`? known: ...".
pub(crate) fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let close = closest(name, known);
    let known_list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match close {
        Some(k) => {
            format!("unknown {what} `{name}`; did you mean `{k}`? (known: {known_list})")
        }
        None => format!("unknown {what} `{name}`; known: {known_list}"),
    }
}

/// The name of `known` that `name` is likely a typo of: two edits at most, or a longer or
/// shorter form of it (`pinned` for `pin`, `keep` for `keep_alive`).
pub(crate) fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|&(d, k)| {
            (d <= 2 && d < k.len())
                || (name.len().min(k.len()) >= 3 && (name.starts_with(k) || k.starts_with(name)))
        })
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_suggest_the_likely_one() {
        let known = ["backend", "path", "pin", "keep_alive"];
        assert_eq!(
            unknown("key", "pinned", &known),
            "unknown key `pinned`; did you mean `pin`? \
             (known: `backend`, `path`, `pin`, `keep_alive`)"
        );
        assert_eq!(
            unknown("table", "zzz", &["cache"]),
            "unknown table `zzz`; known: `cache`"
        );
        assert_eq!(
            unknown("key", "keepalive", &known),
            "unknown key `keepalive`; did you mean `keep_alive`? \
             (known: `backend`, `path`, `pin`, `keep_alive`)"
        );
        assert!(unknown("key", "bakcend", &known).contains("did you mean `backend`?"));
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n\n  b \n"), "a; b");
    }
}
