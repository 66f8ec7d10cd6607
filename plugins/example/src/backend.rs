//! The example backend: a "checkpoint" is a folder holding `model.txt`; the model is its text.

use std::path::PathBuf;

use modelcache_core::{Backend, BackendError, LoadProgress, ModelSource};

use crate::options::ExampleOptions;

/// The file a checkpoint folder holds.
pub const MODEL_FILE: &str = "model.txt";

/// The example model family. Register it with `backends.register(ExampleBackend)`.
///
/// Its model type is `String` on purpose: a program reaches a dynamically loaded plugin's
/// models with `get::<T>` only when `T` is the same type in both builds, which `std` types
/// always are (see `modelcache_core::plugin`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExampleBackend;

impl ExampleBackend {
    /// The name used as `backend = "example"` in models.toml.
    pub const NAME: &'static str = "example";

    fn file(source: &ModelSource<'_, ExampleOptions>) -> PathBuf {
        source.path.join(MODEL_FILE)
    }

    fn error(
        source: &ModelSource<'_, ExampleOptions>,
        e: modelcache_files::FileError,
    ) -> BackendError {
        if e.is_not_found() {
            return BackendError::Missing {
                path: e.path().to_path_buf(),
                what: format!("the {MODEL_FILE} of model {:?}", source.id),
            };
        }
        BackendError::Checkpoint {
            path: e.path().to_path_buf(),
            source: Box::new(e),
        }
    }
}

impl Backend for ExampleBackend {
    type Options = ExampleOptions;
    type Model = String;

    fn name(&self) -> &str {
        Self::NAME
    }

    fn memory_hint(&self, source: &ModelSource<'_, ExampleOptions>) -> Result<u64, BackendError> {
        let file = Self::file(source);
        let opened = modelcache_files::open(&file).map_err(|e| Self::error(source, e))?;
        Ok(opened
            .len()
            .saturating_mul(u64::from(source.options.repeat)))
    }

    fn load(
        &self,
        source: &ModelSource<'_, ExampleOptions>,
        progress: &dyn LoadProgress,
    ) -> Result<String, BackendError> {
        self.load_within(source, u64::MAX, progress)
    }

    /// Reads `model.txt` only if the text it makes fits `limit`: the file is read through
    /// `modelcache_files` (a regular file, never a FIFO that would block, at most the bytes
    /// the limit leaves), so a file that grew since the hint fails instead of allocating
    /// past what the cache reserved.
    fn load_within(
        &self,
        source: &ModelSource<'_, ExampleOptions>,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<String, BackendError> {
        let file = Self::file(source);
        let per_copy = limit / u64::from(source.options.repeat.max(1));
        let bytes = modelcache_files::read(&file, per_copy).map_err(|e| Self::error(source, e))?;
        progress.start(bytes.len() as u64);
        let text = String::from_utf8(bytes)
            .map_err(|e| BackendError::invalid(&file, format!("not UTF-8: {e}")))?;
        progress.advance(text.len() as u64);
        let text = if source.options.uppercase {
            text.to_uppercase()
        } else {
            text
        };
        let repeat = usize::try_from(source.options.repeat).unwrap_or(1);
        Ok(text.repeat(repeat))
    }

    fn resident_bytes(&self, model: &String) -> u64 {
        model.capacity() as u64
    }

    fn shareable(&self) -> bool {
        true
    }

    fn check_options(&self, options: &ExampleOptions) -> Result<(), BackendError> {
        options.check(Self::NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelcache_core::NoProgress;

    fn source<'a>(
        path: &'a std::path::Path,
        options: &'a ExampleOptions,
    ) -> ModelSource<'a, ExampleOptions> {
        ModelSource {
            id: "hello",
            path,
            options,
        }
    }

    #[test]
    fn hints_then_loads_what_it_hinted() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(MODEL_FILE), "hi")?;
        let options = ExampleOptions {
            uppercase: true,
            repeat: 3,
        };
        let src = source(dir.path(), &options);
        assert_eq!(ExampleBackend.memory_hint(&src)?, 6);
        let model = ExampleBackend.load(&src, &NoProgress)?;
        assert_eq!(model, "HIHIHI");
        assert!(ExampleBackend.resident_bytes(&model) >= 6);
        Ok(())
    }

    #[test]
    fn a_missing_checkpoint_is_missing() {
        let options = ExampleOptions::default();
        let e = ExampleBackend.memory_hint(&source(std::path::Path::new("/nonexistent"), &options));
        assert!(matches!(e, Err(BackendError::Missing { .. })), "{e:?}");
    }

    #[test]
    fn refuses_bad_options() {
        let bad = ExampleOptions {
            uppercase: false,
            repeat: 0,
        };
        let e = ExampleBackend
            .check_options(&bad)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("`repeat` is 0")));
    }
}
