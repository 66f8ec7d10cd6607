//! The one bounded reader of a plugin's small JSON config files (`config.json`): read through
//! [`read_config_file`](crate::read_config_file) (one limit, [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN)),
//! parsed once, with errors that name the file and, where the parser gives one, the line and
//! column. Typed fields of the parsed object are read with [`Fields`](crate::Fields).

use std::path::{Path, PathBuf};

use modelcache_backend::BackendError;
use serde::de::DeserializeOwned;

use crate::error::WeightsError;
use crate::fields::FieldError;

/// Why a config file could not be read or parsed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is absent, not a regular file, too large, or cannot be read.
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (its message names the file).
        #[source]
        source: WeightsError,
    },
    /// The text is not JSON.
    #[error(
        "{}: not valid JSON at line {line}, column {column}: {reason}",
        modelcache_backend::shown(path)
    )]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The line the parser stopped at (1-based; 0 when it gives none).
        line: usize,
        /// The column the parser stopped at (1-based; 0 when it gives none).
        column: usize,
        /// What the parser said, without the location.
        reason: String,
    },
    /// The text is JSON, but not what the typed value needs (a missing field, a wrong type).
    #[error(
        "{}: invalid at line {line}, column {column}: {reason}",
        modelcache_backend::shown(path)
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line of the offending value (1-based).
        line: usize,
        /// The column of the offending value (1-based).
        column: usize,
        /// What serde said, without the location.
        reason: String,
    },
    /// A field of the config is missing or has the wrong type.
    #[error("{}: {source}", modelcache_backend::shown(path))]
    Field {
        /// The file.
        path: PathBuf,
        /// Which field, and what is wrong with it.
        #[source]
        source: FieldError,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::NotJson { path, .. }
            | Self::Invalid { path, .. }
            | Self::Field { path, .. } => path,
        }
    }

    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.is_not_found())
    }

    /// The contract's error, `what` naming the file in words (`"the T5 config"`):
    /// [`BackendError::Missing`] when it does not exist, [`BackendError::Checkpoint`] when it
    /// cannot be read, [`BackendError::Invalid`] naming the file otherwise.
    pub fn into_backend_error(self, what: &str) -> BackendError {
        match self {
            Self::Read { path, .. } if self.is_not_found() => BackendError::Missing {
                path,
                what: what.to_owned(),
            },
            Self::Read { path, source } => source.into_backend_error(&path),
            Self::NotJson {
                path,
                line,
                column,
                reason,
            } => BackendError::invalid(
                path,
                format!(
                    "{what} is not JSON (not valid JSON at line {line}, column {column}: {reason})"
                ),
            ),
            Self::Invalid {
                path,
                line,
                column,
                reason,
            } => BackendError::invalid(
                path,
                format!("{what} is not valid: {reason}, at line {line}, column {column}"),
            ),
            Self::Field { path, source } => BackendError::invalid(path, source.to_string()),
        }
    }
}

/// Reads `path` (a small JSON file in the folder it names) and parses it into `T`: a typed
/// config with serde's derive, or a [`serde_json::Value`] to read with
/// [`Fields`](crate::Fields).
///
/// # Errors
/// [`ConfigError::Read`] when the file is absent, not a regular file, over
/// [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN) or unreadable (see
/// [`read_config_file`](crate::read_config_file)); [`ConfigError::NotJson`] or
/// [`ConfigError::Invalid`] with the line and column when it does not parse into `T`.
pub fn read_config_json<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let bytes = crate::read_config_file(folder, path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config_json(path, &bytes)
}

/// Parses `bytes`, the text of config file `path`, into `T`.
///
/// # Errors
/// [`ConfigError::NotJson`] for text that is not JSON, [`ConfigError::Invalid`] for JSON that
/// is not a `T`, with the line and column where the parser stopped.
pub fn parse_config_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ConfigError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        let path = path.to_path_buf();
        if e.is_data() {
            ConfigError::Invalid {
                path,
                line,
                column,
                reason,
            }
        } else {
            ConfigError::NotJson {
                path,
                line,
                column,
                reason,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Fields;
    use serde_json::Value;

    fn write(text: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn text_that_is_not_json_names_the_file_line_and_column() {
        let (_dir, path) = write(b"{\n  \"a\": 1,\n  oops\n}");
        let err = read_config_json::<Value>(&path).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotJson {
                    line: 3,
                    column: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with(&*path.to_string_lossy()), "{text}");
        assert!(text.contains("line 3, column 3"), "{text}");
        match err.into_backend_error("the test config") {
            BackendError::Invalid {
                path: p, reason, ..
            } => {
                assert_eq!(p, path);
                assert!(
                    reason.starts_with("the test config is not JSON"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_over_the_limit_is_not_read() {
        let big = vec![b' '; usize::try_from(crate::MAX_CONFIG_LEN).unwrap() + 1];
        let (_dir, path) = write(&big);
        let err = read_config_json::<Value>(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                ConfigError::Read {
                    source: WeightsError::FileTooLarge { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.path(), path);
        match err.into_backend_error("the test config") {
            BackendError::Checkpoint { path: p, .. } => assert_eq!(p, path),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_absent_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let err = read_config_json::<Value>(&path).unwrap_err();
        assert!(err.is_not_found());
        assert!(matches!(
            err.into_backend_error("the test config"),
            BackendError::Missing { path: p, what } if p == path && what == "the test config"
        ));
    }

    #[test]
    fn a_wrong_field_type_names_the_file_and_the_field() {
        let (_dir, path) = write(br#"{"layers": "many", "inner": {"n": -1}}"#);
        // Typed with serde: the location of the bad value.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            layers: u64,
        }
        let err = read_config_json::<Typed>(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("line 1, column 17"), "{err}");
        assert!(err.to_string().contains("invalid type"), "{err}");
        // Field by field: the dotted name of the bad value.
        let value: Value = read_config_json(&path).unwrap();
        let fields = Fields::new(&value, "config.json").unwrap();
        let source = fields.object("inner").unwrap().u64("n").unwrap_err();
        assert_eq!(source.field(), "inner.n");
        let err = ConfigError::Field {
            path: path.clone(),
            source,
        };
        let text = err.to_string();
        assert!(
            text.contains(&*path.to_string_lossy())
                && text.contains("`inner.n` is -1; expected a non-negative integer"),
            "{text}"
        );
    }
}
