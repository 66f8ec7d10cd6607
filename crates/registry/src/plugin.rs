//! Dynamic plugins, as seen by the program that loads them.
//!
//! The plugin side of the ABI (the [`declare_plugin!`](crate::declare_plugin) macro, the plain
//! data it exports, [`ABI_VERSION`] and [`RUSTC_VERSION`]) lives in
//! [`modelcache_backend::plugin`], so that a plugin depends on the contract crate alone; it is
//! re-exported here. Loading is [`Backends::load_plugin`](crate::Backends::load_plugin), which
//! compares a plugin's declaration with the contract's constants.
//!
//! # The rules
//!
//! Both sides follow [the rules of `modelcache_backend::plugin`](modelcache_backend::plugin#the-rules):
//! the same compiler and the same contract, modelcache-backend (both checked), the system's global allocator
//! on both sides, model types the program can name, libraries never unloaded, and one
//! `declare_plugin!` per library.

use std::path::PathBuf;

pub use modelcache_backend::plugin::{
    ABI_VERSION, PluginDeclaration, RUSTC_VERSION, RawStr, RegisterFn,
};

/// A plugin that was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// The library.
    pub path: PathBuf,
    /// The contract (modelcache-backend) version it was built with.
    pub contract_version: String,
    /// The compiler it was built with.
    pub rustc_version: String,
    /// The backends it provides.
    pub backends: Vec<String>,
}

/// The file name a cdylib called `name` has on this platform (`libname.so`, `name.dll`, ...).
pub fn library_file_name(name: &str) -> std::ffi::OsString {
    let mut file = std::ffi::OsStr::new(std::env::consts::DLL_PREFIX).to_owned();
    file.push(name);
    file.push(std::env::consts::DLL_SUFFIX);
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_libraries_per_platform() {
        let name = library_file_name("example").to_string_lossy().into_owned();
        #[cfg(target_os = "linux")]
        assert_eq!(name, "libexample.so");
        assert!(name.contains("example"));
    }
}
