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
//! The suite checks, for every fixture case:
//! * it loads, and `memory_hint` is within 1% of the measured resident size;
//! * `inspect` agrees with `memory_hint` and lists files that exist;
//! * progress is reported and adds up to something;
//! * the hint reads checkpoint headers only (bytes read by the hinting thread, from
//!   `/proc/thread-self/io`, stay within the headers and small files);
//! * every corruption of every checkpoint file it uses (truncated data, a header length past
//!   the end of the file, a header that is not JSON, the file deleted) is a typed error that
//!   names the file, from both `memory_hint` and `load`, and never a panic;
//! * a missing checkpoint path is an error that names it;
//! * through a [`ModelCache`](modelcache_core::ModelCache), the model is charged its measured
//!   size and a second request is a hit.
//!
//! With the `mlx` feature (where `modelcache-weights` loads into MLX: macOS, or the Linux build
//! of `scripts/mlx-linux`), `mlx_conformance_tests!(suite(), hooks)` runs the same cases through
//! the plugin's MLX load: equal to the candle load array by array and value by value, measured
//! size equal to the hint, and the same error for every corruption.
#![forbid(unsafe_code)]

mod corrupt;
mod io_counter;
mod suite;

pub use corrupt::Corruption;
pub use suite::{Case, Suite};

#[doc(hidden)]
pub mod run;

#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
pub mod mlx;

/// Expands to the suite's tests, for a [`Suite`] built by `$suite` (an expression, evaluated
/// once per test).
#[macro_export]
macro_rules! conformance_tests {
    ($suite:expr) => {
        #[test]
        fn conformance_loads_every_case_and_hint_is_within_one_percent() {
            $crate::run::loads_every_case(&$suite);
        }

        #[test]
        fn conformance_hint_reads_headers_only() {
            $crate::run::hint_reads_headers_only(&$suite);
        }

        #[test]
        fn conformance_corrupt_files_are_typed_errors_naming_the_file() {
            $crate::run::corrupt_files_are_typed_errors(&$suite);
        }

        #[test]
        fn conformance_missing_path_is_an_error_naming_it() {
            $crate::run::missing_path_is_an_error(&$suite);
        }

        #[test]
        fn conformance_serves_through_the_cache() {
            $crate::run::serves_through_the_cache(&$suite);
        }
    };
}
