//! Running a backend on a (possibly damaged) fixture and checking what it says.

use std::fmt;
use std::io;
use std::path::Path;

use modelcache_backend::{Backend, BackendError, ModelSource, NoProgress};

use crate::fixture::{Case, Fixture, Mode};
use crate::suites::Plugin;

/// The promise every error is held to: moved to the conformance suite, which checks it too.
pub use modelcache_conformance::names_a_file_under;

/// What a backend did with a checkpoint. Every outcome but a [`Failure`] is acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Hint and load succeeded and agree: the model holds `bytes`.
    Loaded {
        /// The hint, equal to the loaded model's measured size.
        bytes: u64,
    },
    /// The hint or the load returned a typed error naming a file of the fixture.
    Refused {
        /// The first error's message.
        error: String,
    },
    /// The backend refused the options the case selected (never touched the files).
    OptionsRefused,
}

/// Why a case failed: the harness could not run it, or the backend broke a promise.
#[derive(Debug)]
pub enum Failure {
    /// Writing or restoring the fixture failed (not the backend's fault).
    Harness(io::Error),
    /// The backend broke a promise: an error that names no file of the fixture, a hint that
    /// differs from the loaded size, a load that accepts what the hint refused.
    Violation(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Harness(e) => write!(f, "harness: {e}"),
            Failure::Violation(v) => write!(f, "violation: {v}"),
        }
    }
}

impl std::error::Error for Failure {}

impl Fixture {
    /// Runs one case ([`Case::mode`] says how the selected file is damaged) and checks the
    /// backend's promises, then restores the file:
    ///
    /// * [`Mode::Overwrite`]: the file holds `case.bytes`; [`hint_and_load`].
    /// * [`Mode::SwapAfterHint`]: the file is pristine for the hint and holds `case.bytes`
    ///   from then on: the load, limited to the hint, must succeed within it or fail typed.
    /// * [`Mode::Fifo`]: the file is a FIFO: every step that reads it must refuse it (never
    ///   block), naming it.
    ///
    /// # Errors
    /// [`Failure::Violation`] when the backend broke a promise, [`Failure::Harness`] when the
    /// fixture could not be written. A panic in the backend is not caught.
    pub fn check(&self, case: &Case<'_>) -> Result<Outcome, Failure> {
        let index = self.index_for(case.file);
        // Restores the file even if the backend panics (property tests catch panics and go on).
        let guard = Restore {
            fixture: self,
            index,
        };
        let outcome = match case.mode() {
            Mode::Overwrite => {
                let written = self
                    .overwrite(case.file, case.bytes)
                    .map_err(Failure::Harness)?;
                hint_and_load(self.plugin(), written.tree, case.options, self.root())
            }
            Mode::SwapAfterHint => {
                let mut swap = || {
                    self.overwrite(case.file, case.bytes)
                        .map(drop)
                        .map_err(Failure::Harness)
                };
                self.plugin().probe(
                    self.tree_of(index),
                    case.options,
                    self.root(),
                    Some(&mut swap),
                )
            }
            Mode::Fifo => {
                let fifo = self.make_fifo(case.file).map_err(Failure::Harness)?;
                let outcome = hint_and_load(self.plugin(), fifo.tree, case.options, self.root());
                // Options that never read the file may succeed or fail for another reason; an
                // error about the file must say what it is.
                if let Ok(Outcome::Refused { error }) = &outcome
                    && error.contains(&*fifo.file.to_string_lossy())
                    && !error.contains("FIFO")
                {
                    return Err(Failure::Violation(format!(
                        "{} is a FIFO, but the error does not say so: {error}",
                        fifo.file.display()
                    )));
                }
                outcome
            }
        };
        std::mem::forget(guard);
        self.restore(index).map_err(Failure::Harness)?;
        outcome
    }
}

/// Puts a file back when dropped during an unwind.
struct Restore<'a> {
    fixture: &'a Fixture,
    index: usize,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        // Best effort while unwinding: the panic is what gets reported.
        let _ = self.fixture.restore(self.index);
    }
}

/// Runs `plugin`'s backend on `tree` with the options `options` selects (its registered
/// suite's options selector): `check_options`,
/// `open`, then `load` of the opened plan, and checks the promises every backend makes:
///
/// * every error names a file or folder under `root` (the fixture's folder);
/// * a loaded model measures exactly the bytes the open said.
///
/// # Errors
/// [`Failure::Violation`] naming the broken promise.
pub fn hint_and_load(
    plugin: Plugin,
    tree: &Path,
    options: u8,
    root: &Path,
) -> Result<Outcome, Failure> {
    plugin.probe(tree, options, root, None)
}

/// What runs between the open and the load (a file replaced, as happens between the cache's
/// reservation and its load).
pub(crate) type Between<'a> = Option<&'a mut dyn FnMut() -> Result<(), Failure>>;

/// Runs `backend` with `options` on `tree` (see [`hint_and_load`]), with `between` run after
/// the open. The load is limited to the opened bytes (as the cache limits it): it must fail or
/// hold at most those.
pub(crate) fn run<B: Backend>(
    backend: &B,
    options: B::Options,
    tree: &Path,
    root: &Path,
    between: Between<'_>,
) -> Result<Outcome, Failure> {
    if backend.check_options(&options).is_err() {
        return Ok(Outcome::OptionsRefused);
    }
    let source = ModelSource::new("fuzzed", tree, &options);
    let opened = match backend.open(&source) {
        Ok(opened) => opened,
        Err(e) => {
            names_a_file_under(&e, root).map_err(Failure::Violation)?;
            return Ok(Outcome::Refused {
                error: e.to_string(),
            });
        }
    };
    let limit = opened.inspection.bytes;
    let changed = between.is_some();
    if let Some(between) = between {
        // The files change between the open and the load of its plan.
        between()?;
    }
    let loaded = backend.load(opened.plan, limit, &NoProgress);
    judge(backend, tree, root, limit, changed, loaded)
}

/// Checks the promises of a load of an opened plan that said `opened` bytes: it holds exactly
/// those bytes (at most, when the files changed after the open), or fails naming a file.
fn judge<B: Backend>(
    backend: &B,
    tree: &Path,
    root: &Path,
    opened: u64,
    changed: bool,
    loaded: Result<B::Model, BackendError>,
) -> Result<Outcome, Failure> {
    match loaded {
        Ok(model) => {
            let bytes = backend.resident_bytes(&model).unwrap_or(opened);
            if bytes > opened || (!changed && bytes != opened) {
                return Err(Failure::Violation(format!(
                    "{}: opening said {opened} bytes, the loaded model holds {bytes} bytes",
                    tree.display(),
                )));
            }
            Ok(Outcome::Loaded { bytes })
        }
        Err(e) => {
            names_a_file_under(&e, root).map_err(Failure::Violation)?;
            Ok(Outcome::Refused {
                error: e.to_string(),
            })
        }
    }
}
