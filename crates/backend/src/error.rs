//! [`BackendError`]: what a backend reports while opening or loading a checkpoint.

use std::path::PathBuf;

/// An error from a backend while inspecting or loading a checkpoint.
///
/// Every variant that concerns a file names it; checkpoint problems also name the tensor where
/// there is one. Backends wrap richer errors (for example the weights crate's) in
/// [`BackendError::Checkpoint`] so that callers can downcast to the precise kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Reading a file failed.
    #[error("{}: {source}", crate::shown(path))]
    Io {
        /// The file or folder that could not be read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A required file or folder is missing.
    #[error("{}: missing ({what})", crate::shown(path))]
    Missing {
        /// Where it was expected.
        path: PathBuf,
        /// What was expected there.
        what: String,
    },
    /// The checkpoint exists but is malformed or inconsistent with its config.
    #[error("{}{}: {reason}", crate::shown(path), tensor.as_ref().map(|t| format!(" (tensor {t:?})")).unwrap_or_default())]
    Invalid {
        /// The offending file.
        path: PathBuf,
        /// The offending tensor, if the problem is about one.
        tensor: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// A structured checkpoint error from a lower layer, kept for downcasting. Its message is
    /// the source's, which must name the file (the weights crate's errors do).
    #[error("{source}")]
    Checkpoint {
        /// The offending file.
        path: PathBuf,
        /// The precise error (downcast it to the lower layer's type).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend's options are invalid.
    #[error("invalid options for backend {backend:?}: {reason}")]
    Options {
        /// The backend whose options were rejected.
        backend: String,
        /// Why.
        reason: String,
    },
    /// Anything else.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl BackendError {
    /// Shorthand for [`BackendError::Invalid`] without a tensor.
    pub fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            tensor: None,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`BackendError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps any error as [`BackendError::Other`].
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}
