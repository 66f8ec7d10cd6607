//! The example backend: a "checkpoint" is a folder holding `model.txt`; the model is its text.

use std::path::PathBuf;

use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};

use crate::options::ExampleOptions;

/// The file a checkpoint folder holds.
pub const MODEL_FILE: &str = "model.txt";

/// The example model family. Register it with `backends.register(ExampleBackend)`.
///
/// Its model type is `String` on purpose: a program reaches a dynamically loaded plugin's
/// models with `get::<T>` only when `T` is the same type in both builds, which `std` types
/// always are (see `modelcache_backend::plugin`).
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

/// What opening a checkpoint found: the file, its length and the options to apply.
#[derive(Debug)]
pub struct ExamplePlan {
    file: PathBuf,
    uppercase: bool,
    repeat: u32,
}

impl Backend for ExampleBackend {
    type Options = ExampleOptions;
    type Model = String;
    type Plan = ExamplePlan;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// The model holds the file's text `repeat` times, in host memory: a device other than
    /// `"cpu"` is refused (a `String` lives nowhere else).
    fn open(
        &self,
        source: &ModelSource<'_, ExampleOptions>,
    ) -> Result<Opened<ExamplePlan>, BackendError> {
        if let Some(device) = source.device.filter(|&d| d != "cpu") {
            return Err(BackendError::Options {
                backend: Self::NAME.to_owned(),
                reason: format!(
                    "model {:?}: this backend's models are text in host memory, so it cannot \
                     load onto device {device:?}; leave `device` out",
                    source.id
                ),
            });
        }
        let file = Self::file(source);
        let opened = modelcache_files::open(&file).map_err(|e| Self::error(source, e))?;
        let len = opened.len();
        let mut inspection =
            Inspection::of_bytes(len.saturating_mul(u64::from(source.options.repeat)));
        inspection.layout = Some("text".into());
        inspection.files = vec![file.clone()];
        let plan = ExamplePlan {
            file,
            uppercase: source.options.uppercase,
            repeat: source.options.repeat,
        };
        Ok(Opened::new(plan, inspection).reading(len))
    }

    /// Reads `model.txt` only if the text it makes fits `limit`: the file is read through
    /// `modelcache_files` (a regular file, never a FIFO that would block, at most the bytes
    /// the limit leaves), so a file that grew since it was opened fails instead of allocating
    /// past what the cache reserved.
    fn load(
        &self,
        plan: ExamplePlan,
        limit: u64,
        progress: &dyn LoadProgress,
    ) -> Result<String, BackendError> {
        let per_copy = limit / u64::from(plan.repeat.max(1));
        let bytes =
            modelcache_files::read(&plan.file, per_copy).map_err(|e| BackendError::Checkpoint {
                path: e.path().to_path_buf(),
                source: Box::new(e),
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| BackendError::invalid(&plan.file, format!("not UTF-8: {e}")))?;
        progress.advance(text.len() as u64);
        let text = if plan.uppercase {
            text.to_uppercase()
        } else {
            text
        };
        let repeat = usize::try_from(plan.repeat).unwrap_or(1);
        Ok(text.repeat(repeat))
    }

    fn resident_bytes(&self, model: &String) -> Option<u64> {
        Some(model.capacity() as u64)
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
    use modelcache_backend::{BackendExt, NoProgress};

    fn source<'a>(
        path: &'a std::path::Path,
        options: &'a ExampleOptions,
    ) -> ModelSource<'a, ExampleOptions> {
        ModelSource::new("hello", path, options)
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
        assert_eq!(ExampleBackend.inspect(&src)?.bytes, 6);
        let model = ExampleBackend.open_and_load(&src, &NoProgress)?;
        assert_eq!(model, "HIHIHI");
        assert!(ExampleBackend.resident_bytes(&model) >= Some(6));
        Ok(())
    }

    #[test]
    fn a_missing_checkpoint_is_missing() {
        let options = ExampleOptions::default();
        let e = ExampleBackend.inspect(&source(std::path::Path::new("/nonexistent"), &options));
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
