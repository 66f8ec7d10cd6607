//! The example backend's options: the `options` table of a `[models.ID]` using it.

use modelcache_backend::BackendError;
use serde::Deserialize;

/// `options = { uppercase = true, repeat = 2 }`. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExampleOptions {
    /// Upper-case the text when loading.
    pub uppercase: bool,
    /// How many copies of the text the model holds (1 to 16).
    pub repeat: u32,
}

impl Default for ExampleOptions {
    fn default() -> Self {
        Self {
            uppercase: false,
            repeat: 1,
        }
    }
}

impl ExampleOptions {
    pub(crate) fn check(&self, backend: &str) -> Result<(), BackendError> {
        if (1..=16).contains(&self.repeat) {
            Ok(())
        } else {
            Err(BackendError::Options {
                backend: backend.to_owned(),
                reason: format!("`repeat` is {}, expected 1 to 16", self.repeat),
            })
        }
    }
}
