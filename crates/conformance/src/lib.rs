//! # modelcache-conformance
//!
//! The one suite every backend must pass, run once per plugin the way `rustls-test` runs its API
//! tests once per provider. A plugin describes its fixtures in a [`Suite`] and adds one line to
//! a test file:
//!
//! ```ignore
//! modelcache_conformance::conformance_tests!(my_plugin_suite());
//! ```
//!
//! That line is [`contract_tests!`] (what every backend passes) and [`safetensors_tests!`]
//! (what a backend of safetensors files passes too); a backend of another format writes
//! `contract_tests!` alone, as `plugins/example` does. The suite checks, for every fixture case:
//! * it opens and loads that plan, and the loaded model measures exactly the bytes the open
//!   said (what the cache reserves);
//! * the inspection lists files that exist and counts tensors;
//! * progress is reported and stays within the bytes the open said the load reads;
//! * opening reads checkpoint headers only (bytes read by the opening thread, from
//!   `/proc/thread-self/io`, stay within the headers and small files);
//! * every corruption of every checkpoint file it uses (truncated data, a header length past
//!   the end of the file, a header that is not JSON, the file deleted) is a typed error that
//!   names the file, and never a panic: applied before the open, and applied between the open
//!   and the load (a file that changed underneath);
//! * a missing checkpoint path is an error that names it;
//! * every error it expects carries a path inside the fixture and says it in its message
//!   ([`names_a_file_under`], the promise the fuzz harness holds backends to as well);
//! * through a [`ModelCache`](modelcache_core::ModelCache), the model is charged its measured
//!   size and a second request is a hit;
//! * tiers: a backend that moves models (`Backend::moves`) demotes every case to host memory
//!   and promotes it back onto `"cpu"`, each copy measuring what the load measured; one that
//!   does not refuses to demote;
//! * a model bound to a device the build cannot have (`"cuda:0"` on the CPU-only builds the
//!   suite runs on) fails to open or load with an error naming the device, never a panic, and
//!   a backend that moves models refuses to promote onto it the same way.
//!
//! **Design: one check, two ways in.** Each check is written once, against the erased loader
//! the cache holds (`dyn ModelLoader`). A [`Suite`] binds its typed backend to a case; a
//! [`DynSuite`] binds a `dyn DynBackend` (a plugin loaded from a shared library) through
//! `DynBackend::prepare`, with the options as a models.toml table. The same macro line mounts
//! either, so a plugin linked in and the same plugin loaded dynamically pass the same checks.
//!
//! **One registration.** A plugin keeps its `Suite` in one place (the built-in plugins: their
//! `tests/suite/mod.rs`); its [`Suite::options_selector`] and [`Case::write_into`] let the
//! fuzz targets and property tests of modelcache-reliability run the same backend on the same
//! fixtures.
//!
//! With the `mlx` feature (where `modelcache-weights` loads into MLX: macOS, or the Linux build
//! of `scripts/mlx-linux`), `mlx_conformance_tests!(suite(), hooks)` runs the same cases through
//! the plugin's MLX load: equal to the candle load array by array and value by value, measured
//! size equal to the hint, and the same error for every corruption.
#![forbid(unsafe_code)]

mod corrupt;
mod io_counter;
mod parts;
mod promise;
mod suite;

pub use corrupt::Corruption;
pub use parts::{CandleParts, Parts, TensorParts, assert_same_parts};
pub use promise::names_a_file_under;
pub use suite::{Case, DynSuite, Suite};

#[doc(hidden)]
pub mod run;

#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
pub mod mlx;

/// Expands to the whole suite for a [`Suite`] or [`DynSuite`] built by `$suite` (an
/// expression, evaluated once per test): [`contract_tests!`] and [`safetensors_tests!`]. The
/// one line a safetensors plugin writes.
#[macro_export]
macro_rules! conformance_tests {
    ($suite:expr) => {
        $crate::contract_tests!($suite);
        $crate::safetensors_tests!($suite);
    };
}

/// Expands to the checks every backend passes, whatever its file format: it opens and loads
/// every case and measures what it opened, a missing path is an error naming it, it is
/// served through a cache, it moves between tiers or refuses to, and a device it cannot have
/// is an error naming it. The one line a backend of another format writes; for a [`DynSuite`]
/// too.
#[macro_export]
macro_rules! contract_tests {
    ($suite:expr) => {
        #[test]
        fn conformance_loads_every_case_and_measures_what_it_opened() {
            $crate::run::loads_every_case(&$suite);
        }

        #[test]
        fn conformance_missing_path_is_an_error_naming_it() {
            $crate::run::missing_path_is_an_error(&$suite);
        }

        #[test]
        fn conformance_serves_through_the_cache() {
            $crate::run::serves_through_the_cache(&$suite);
        }

        #[test]
        fn conformance_moves_between_tiers_or_refuses_to() {
            $crate::run::moves_between_tiers(&$suite);
        }

        #[test]
        fn conformance_an_unavailable_device_is_an_error_naming_it() {
            $crate::run::an_unavailable_device_is_an_error_naming_it(&$suite);
        }
    };
}

/// Expands to the checks of a backend whose checkpoints are safetensors files: opening reads
/// headers only, and every corruption of every file a case uses, before the open or between
/// the open and the load, is a typed error naming the file.
#[macro_export]
macro_rules! safetensors_tests {
    ($suite:expr) => {
        #[test]
        fn conformance_open_reads_headers_only() {
            $crate::run::hint_reads_headers_only(&$suite);
        }

        #[test]
        fn conformance_corrupt_files_are_typed_errors_naming_the_file() {
            $crate::run::corrupt_files_are_typed_errors(&$suite);
        }

        #[test]
        fn conformance_files_changed_after_open_fail_the_load_naming_the_file() {
            $crate::run::files_changed_after_open_fail_the_load(&$suite);
        }
    };
}
