//! The dynamic plugin ABI, plugin side: [`declare_plugin!`](crate::declare_plugin) and the
//! plain data it exports. It lives in the contract crate so that a plugin depends on it alone;
//! the program loads plugins with `modelcache_registry::Backends::load_plugin`, which checks them
//! against the constants of this module.
//!
//! Nothing here is `unsafe`: the macro expands `#[unsafe(no_mangle)]` items in the plugin crate,
//! and reading a declaration (following its pointers) is the loader's job.
//!
//! # The rules
//!
//! Rust has no stable ABI. A plugin hands the program `Arc<dyn DynBackend>` values and the
//! models they load, so both sides must agree on the layout of every type that crosses:
//!
//! 1. **The same compiler.** Build the plugin with exactly the `rustc` that built the
//!    program (same version and commit). Checked: a mismatch is refused naming both versions.
//! 2. **The same contract** ([`CONTRACT_VERSION`](crate::CONTRACT_VERSION), this crate's
//!    version). Checked the same way; the cache's own version does not matter, since only
//!    this crate's types cross. Keep every other crate whose types cross the boundary (the model type's crate, `serde`, ...) at the same version and features
//!    too; that is not checked.
//! 3. **The same global allocator: the system's.** Memory allocated in the plugin is freed in
//!    the program and the other way round. Neither side may set a `#[global_allocator]`
//!    (each cdylib carries its own copy of it, so even the same allocator crate would be two
//!    heaps). This cannot be checked; breaking it corrupts the heap silently.
//! 4. **Model types the program can name.** `get::<T>` compares `TypeId`s, which differ
//!    between two builds of a crate with different features or dependencies. Types of `std`
//!    always match under rule 1; otherwise put the model type in a crate that both sides build
//!    identically, or have the program reach the model through a `std` type.
//! 5. **Libraries are never unloaded** while the process runs (thread-local destructors of an
//!    unloaded library crash at thread exit), so loading a plugin is for the process's life.
//! 6. **One `declare_plugin!` per library**: it exports fixed symbol names. A crate that is
//!    also linked statically next to other plugins should put it behind a cargo feature.
//!
//! Loading calls `modelcache_plugin_abi` (C ABI) first and refuses another [`ABI_VERSION`];
//! then `modelcache_plugin_declare` (C ABI, a [`PluginDeclaration`] of plain C data) and
//! refuses another contract or compiler version; only then `modelcache_plugin_register`, the one
//! Rust-ABI entry point (a [`RegisterFn`]), which hands over the backends.

use std::sync::{Arc, OnceLock};

use crate::DynBackend;

/// The version of this ABI: the exported symbols and the layout of [`PluginDeclaration`].
pub const ABI_VERSION: u32 = 2;

/// The version of the compiler that built this crate (`rustc --version`).
pub const RUSTC_VERSION: &str = env!("MODELCACHE_RUSTC_VERSION");

/// A string that lives as long as the plugin, passed as plain C data.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawStr {
    /// The first byte (UTF-8).
    pub ptr: *const u8,
    /// The length in bytes.
    pub len: usize,
}

impl RawStr {
    /// Points at `s`.
    pub const fn new(s: &'static str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

/// What a plugin says about itself before anything Rust-specific crosses the boundary.
///
/// Plain C data, so that it can be read from a plugin built by any compiler.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginDeclaration {
    /// [`ABI_VERSION`] as the plugin knows it.
    pub abi_version: u32,
    /// The contract ([`CONTRACT_VERSION`](crate::CONTRACT_VERSION)) the plugin was built with.
    pub contract_version: RawStr,
    /// The compiler the plugin was built with ([`RUSTC_VERSION`] in the plugin).
    pub rustc_version: RawStr,
    /// How many backends the plugin provides.
    pub backend_count: usize,
    /// The name of backend `i` (`0..backend_count`).
    pub backend_name: extern "C" fn(usize) -> RawStr,
}

/// The Rust-ABI entry point: calls `add` once per backend. Only called after the checks.
pub type RegisterFn = fn(&mut dyn FnMut(Arc<dyn DynBackend>));

/// Declares this crate a dynamic plugin providing the given backends.
///
/// Write it once at the root of a crate built as a `cdylib`, listing an expression for each
/// backend (any [`Backend`](crate::Backend)) it provides:
///
/// ```
/// # use modelcache_backend::{Backend, BackendError, Inspection, LoadProgress, ModelSource, Opened};
/// # #[derive(Default)] struct MyBackend;
/// # impl Backend for MyBackend {
/// #     type Options = ();
/// #     type Model = ();
/// #     type Plan = ();
/// #     fn name(&self) -> &str { "mine" }
/// #     fn open(&self, _: &ModelSource<'_, ()>) -> Result<Opened<()>, BackendError> {
/// #         Ok(Opened::new((), Inspection::of_bytes(0)))
/// #     }
/// #     fn load(&self, _: (), _: u64, _: &dyn LoadProgress) -> Result<(), BackendError> { Ok(()) }
/// # }
/// modelcache_backend::declare_plugin!(MyBackend::default());
/// # fn main() {
/// assert_eq!(modelcache_plugin_abi(), modelcache_backend::plugin::ABI_VERSION);
/// assert_eq!(modelcache_plugin_declare().backend_count, 1);
/// # }
/// ```
///
/// It exports `modelcache_plugin_abi`, `modelcache_plugin_declare` and
/// `modelcache_plugin_register`. The backends are built once, on the first call. The exported
/// symbols are `#[unsafe(no_mangle)]`, which the `unsafe_code` lint counts: use
/// `#![deny(unsafe_code)]` rather than `forbid` in a plugin crate. See the
/// [`plugin`](crate::plugin) module for the rules a plugin must follow.
#[macro_export]
macro_rules! declare_plugin {
    ($($backend:expr),+ $(,)?) => {
        $crate::declare_plugin!(@contract_version $crate::CONTRACT_VERSION; $($backend),+);
    };
    // Hidden: declares another contract version, for tests of the loader's refusal.
    (@contract_version $contract:expr; $($backend:expr),+ $(,)?) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn modelcache_plugin_abi() -> u32 {
            $crate::plugin::ABI_VERSION
        }

        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn modelcache_plugin_declare() -> $crate::plugin::PluginDeclaration {
            $crate::plugin::declaration(__modelcache_plugin_backends, $contract)
        }

        #[doc(hidden)]
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub fn modelcache_plugin_register(
            add: &mut dyn FnMut(::std::sync::Arc<dyn $crate::DynBackend>),
        ) {
            $crate::plugin::register(__modelcache_plugin_backends, add)
        }

        fn __modelcache_plugin_backends()
            -> ::std::vec::Vec<::std::sync::Arc<dyn $crate::DynBackend>>
        {
            ::std::vec![$(
                ::std::sync::Arc::new($backend) as ::std::sync::Arc<dyn $crate::DynBackend>
            ),+]
        }
    };
}

/// The plugin's backends, built once. In a plugin this is the plugin's own copy of this crate.
static BACKENDS: OnceLock<Vec<Arc<dyn DynBackend>>> = OnceLock::new();

/// Used by [`declare_plugin!`](crate::declare_plugin): the declaration of this plugin.
#[doc(hidden)]
pub fn declaration(
    make: fn() -> Vec<Arc<dyn DynBackend>>,
    contract_version: &'static str,
) -> PluginDeclaration {
    PluginDeclaration {
        abi_version: ABI_VERSION,
        contract_version: RawStr::new(contract_version),
        rustc_version: RawStr::new(RUSTC_VERSION),
        // A panic must not cross this C-ABI call (it would abort the program): a plugin whose
        // backends cannot be built declares none, and the loader refuses it.
        backend_count: std::panic::catch_unwind(|| BACKENDS.get_or_init(make).len()).unwrap_or(0),
        backend_name,
    }
}

/// Used by [`declare_plugin!`](crate::declare_plugin): hands every backend to `add`.
#[doc(hidden)]
pub fn register(make: fn() -> Vec<Arc<dyn DynBackend>>, add: &mut dyn FnMut(Arc<dyn DynBackend>)) {
    for backend in BACKENDS.get_or_init(make) {
        add(Arc::clone(backend));
    }
}

extern "C" fn backend_name(i: usize) -> RawStr {
    match BACKENDS.get().and_then(|b| b.get(i)) {
        Some(b) => RawStr::new(b.name()),
        None => RawStr::new(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_compiler() {
        assert!(RUSTC_VERSION.starts_with("rustc "), "{RUSTC_VERSION}");
    }

    #[test]
    fn strings_point_at_their_text() {
        let s = RawStr::new("0.1.0");
        assert_eq!((s.ptr, s.len), ("0.1.0".as_ptr(), 5));
    }
}
