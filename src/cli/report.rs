//! The one path every error the command line prints takes: a [`Failure`] is one or more
//! [`Problem`]s, each an error, the kind of failure it is (its exit code) and maybe a hint
//! naming what to change; [`print`] writes them to standard error, each said once.
//!
//! Said once: an error's `Display` often ends with its source's message (a cache error names
//! the model, then says what the backend said), so a `caused by:` line is printed only for a
//! source whose text has not been said already. Messages are kept on one line each (a
//! deserializer's can hold blank lines), and go through [`output::err`], which escapes them.

use std::error::Error;

use modelcache::registry::{ConfigError, Location, Registry, RegistryError};
use modelcache_core::{CacheError, HolderState, format_bytes_exact};

use super::output;

/// A model problem: `check` found one, a load failed, a plan does not fit.
pub const EXIT_PROBLEM: u8 = 1;
/// A usage error: bad arguments (clap exits with 2 itself), or an unknown model ID.
pub const EXIT_USAGE: u8 = 2;
/// A configuration problem: models.toml cannot be read, or has errors (syntax, unknown keys,
/// bad values, unknown backends or pools, options a backend refuses, a refused plugin).
pub const EXIT_CONFIG: u8 = 3;

type BoxError = Box<dyn Error + Send + Sync>;

/// One thing that went wrong.
pub struct Problem {
    error: BoxError,
    code: u8,
    hint: Option<String>,
    /// The line and column in models.toml, for listing problems in the file's order.
    at: Option<(usize, usize)>,
}

impl Problem {
    /// `error`, a failure of kind `code`.
    pub fn new(error: impl Into<BoxError>, code: u8) -> Self {
        Self {
            error: error.into(),
            code,
            hint: None,
            at: None,
        }
    }

    /// Notes where in models.toml the problem is.
    #[must_use]
    pub fn at(mut self, at: Option<&Location>) -> Self {
        self.at = at.map(|a| (a.line, a.column));
        self
    }

    /// Sorts configuration problems into the order of the file (unlocated ones first).
    pub fn in_file_order(problems: &mut [Problem]) {
        problems.sort_by_key(|p| p.at);
    }

    /// Adds a line saying what to try.
    #[must_use]
    pub fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The problems of a configuration error (several, for [`ConfigError::Several`]).
    pub fn config(error: ConfigError) -> Vec<Self> {
        match error {
            ConfigError::Several { problems, .. } => {
                problems.into_iter().flat_map(Self::config).collect()
            }
            one => {
                let at = one.at().cloned();
                vec![Self::new(one, EXIT_CONFIG).at(at.as_ref())]
            }
        }
    }

    /// A registry error (a configuration problem), expanded like [`config`](Self::config).
    pub fn registry(error: RegistryError) -> Vec<Self> {
        match error {
            RegistryError::Config(e) => Self::config(e),
            other => {
                let at = other.at().cloned();
                vec![Self::new(other, EXIT_CONFIG).at(at.as_ref())]
            }
        }
    }

    /// A cache error from a request or a plan: a model problem (an unknown ID is a usage
    /// error), with a hint naming the models.toml key to change.
    pub fn cache(registry: &Registry, error: CacheError) -> Self {
        let code = match error {
            CacheError::UnknownModel { .. } => EXIT_USAGE,
            _ => EXIT_PROBLEM,
        };
        let hint = advice(registry, &error);
        Self::new(error, code).hint(hint)
    }
}

impl std::fmt::Display for Problem {
    /// The problem's headline (its causes and hint are for [`print`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&one_line(&self.error.to_string()))
    }
}

/// Why a command failed: one problem, or several reported beside one another.
pub struct Failure {
    problems: Vec<Problem>,
    /// A last line about all of them.
    note: Option<String>,
}

impl Failure {
    /// The problems, if there are any.
    pub fn of(problems: Vec<Problem>) -> Result<(), Self> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self::many(problems))
        }
    }

    /// `problems`, of which there is at least one.
    pub fn many(problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty());
        Self {
            problems,
            note: None,
        }
    }

    /// Adds a last line about all the problems.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// A configuration error ([`EXIT_CONFIG`]).
    pub fn config(error: ConfigError) -> Self {
        Self::many(Problem::config(error))
    }

    /// The arguments are wrong ([`EXIT_USAGE`]).
    pub fn usage(error: impl Into<BoxError>) -> Self {
        Problem::new(error, EXIT_USAGE).into()
    }

    /// Adds a hint to the last problem.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        if let Some(last) = self.problems.last_mut() {
            last.hint = Some(hint.into());
        }
        self
    }

    /// The exit code: the most serious kind among the problems (config over usage over model).
    pub fn code(&self) -> u8 {
        self.problems
            .iter()
            .map(|p| p.code)
            .max()
            .unwrap_or(EXIT_PROBLEM)
    }
}

impl From<Problem> for Failure {
    fn from(problem: Problem) -> Self {
        Self::many(vec![problem])
    }
}

impl<E: Into<BoxError>> From<E> for Failure {
    fn from(error: E) -> Self {
        Problem::new(error, EXIT_PROBLEM).into()
    }
}

/// Writes `failure` to standard error: `error: ...` for one problem, a list for several.
pub fn print(failure: &Failure) {
    let problems = &failure.problems;
    if let [one] = problems.as_slice() {
        let (headline, rest) = lines(one);
        output::err(format_args!("error: {headline}"));
        for line in rest {
            output::err(format_args!("  {line}"));
        }
    } else {
        output::err(format_args!("error: {} problems:", problems.len()));
        for p in problems {
            let (headline, rest) = lines(p);
            output::err(format_args!("  - {headline}"));
            for line in rest {
                output::err(format_args!("      {line}"));
            }
        }
    }
    if let Some(note) = &failure.note {
        output::err(format_args!("note: {note}"));
    }
}

/// The headline, then `caused by:` lines for what it did not say, then the hint.
fn lines(p: &Problem) -> (String, Vec<String>) {
    let headline = one_line(&p.error.to_string());
    let mut said = headline.clone();
    let mut rest = Vec::new();
    let mut source = p.error.source();
    while let Some(s) = source {
        let text = one_line(&s.to_string());
        if !said.contains(&text) {
            rest.push(format!("caused by: {text}"));
            said.push_str(&text);
        }
        source = s.source();
    }
    if let Some(hint) = &p.hint {
        rest.push(format!("hint: {hint}"));
    }
    (headline, rest)
}

/// A message on one line: lines trimmed, blank ones dropped, joined by `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What to change in models.toml (or the environment) so that `error` goes away.
fn advice(registry: &Registry, error: &CacheError) -> Option<String> {
    match error {
        CacheError::TooLarge {
            id, needed, pool, ..
        } => Some(room_advice(registry, id, *needed, pool.as_deref())),
        CacheError::OutgrewBudget {
            id, measured, pool, ..
        } => Some(room_advice(registry, id, *measured, pool.as_deref())),
        CacheError::NoRoom {
            holders,
            pool,
            needed,
            id,
            ..
        } => {
            let pinned: Vec<&str> = holders
                .iter()
                .filter(|h| h.state == HolderState::Pinned)
                .map(|h| h.id.as_str())
                .collect();
            let budget = budget_key(registry, pool.as_deref());
            let needed = format_bytes_exact(*needed);
            Some(if pinned.is_empty() {
                format!("raise {budget} (model {id:?} needs {needed})")
            } else {
                let keys: Vec<String> = pinned
                    .iter()
                    .map(|p| format!("`pin = false` in [models.{p}]"))
                    .collect();
                format!(
                    "pinned models are never evicted: set {}, or raise {budget} (model {id:?} \
                     needs {needed})",
                    keys.join(", ")
                )
            })
        }
        _ => None,
    }
}

/// The hint for a model larger than a budget, also used by `check`.
pub fn room_advice(registry: &Registry, id: &str, needed: u64, pool: Option<&str>) -> String {
    let mut text = format!(
        "raise {} to at least {}, or set `allow_oversized = true` in [cache] to admit a lone \
         model larger than its budget",
        budget_key(registry, pool),
        format_bytes_exact(needed)
    );
    if registry.model(id).is_some_and(|m| m.policy.size.is_some()) {
        text.push_str(&format!(
            "; or lower `size` in [models.{id}], if it says more than the model needs"
        ));
    }
    text
}

/// The setting that holds a budget: a device's or a pool's, `MODELCACHE_BUDGET` when it is
/// set (it overrides the file), else `[cache] budget`.
fn budget_key(registry: &Registry, pool: Option<&str>) -> String {
    match pool {
        Some(p) if registry.devices().iter().any(|(d, _)| d == p) => {
            format!("`budget` in [devices.{p:?}]")
        }
        Some(p) => format!("`budget` in [pools.{p}]"),
        None if std::env::var_os(modelcache_registry::BUDGET_ENV).is_some() => format!(
            "{} (it overrides `budget` in [cache])",
            modelcache_registry::BUDGET_ENV
        ),
        None => "`budget` in [cache]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("model \"m\": {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("x.safetensors: truncated")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load")]
    struct Terse(#[source] Inner);

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let (headline, rest) = lines(&Problem::new(Outer(Inner), EXIT_PROBLEM));
        assert_eq!(headline, "model \"m\": x.safetensors: truncated");
        assert!(rest.is_empty(), "{rest:?}");
        let (_, rest) = lines(&Problem::new(Terse(Inner), EXIT_PROBLEM));
        assert_eq!(rest, ["caused by: x.safetensors: truncated"]);
    }

    #[test]
    fn the_most_serious_kind_is_the_exit_code() {
        let f = Failure::many(vec![
            Problem::new("a", EXIT_PROBLEM),
            Problem::new("b", EXIT_CONFIG),
        ]);
        assert_eq!(f.code(), EXIT_CONFIG);
        assert_eq!(one_line("a\n\n  b\n"), "a; b");
    }
}
