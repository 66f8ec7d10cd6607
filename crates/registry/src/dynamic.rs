//! Loading dynamic plugins: the only module with `unsafe` code.
//!
//! The order of the checks is the point: the C-ABI version first, then the plain-C declaration
//! (contract and compiler versions), and only then the Rust-ABI entry point that hands over
//! backends. The plugin side of each step is `modelcache_backend::plugin`; the host checks against
//! the constants of the same module, as compiled into this program. Libraries are leaked, never
//! unloaded.
#![allow(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use libloading::{Library, Symbol};
use modelcache_backend::DynBackend;
use modelcache_backend::plugin::{
    ABI_VERSION, PluginDeclaration, RUSTC_VERSION, RawStr, RegisterFn,
};

use crate::backends::Backends;
use crate::config::Config;
use crate::error::{PluginError, RegistryError};
use crate::plugin::PluginInfo;

// The symbols `modelcache_backend::declare_plugin!` exports.
const ABI_SYMBOL: &str = "modelcache_plugin_abi";
const DECLARE_SYMBOL: &str = "modelcache_plugin_declare";
const REGISTER_SYMBOL: &str = "modelcache_plugin_register";

/// Longest string a declaration may hold; anything longer is a garbled declaration.
const MAX_STR: usize = 4096;

impl Backends {
    /// Loads the dynamic plugin at `path` and adds its backends.
    ///
    /// Refused, with nothing added: a library that is not a plugin, another plugin ABI version,
    /// another contract (modelcache-backend) or compiler version (the error names both), or a backend name
    /// that is already taken. The library stays loaded for the life of the process, even when
    /// refused.
    ///
    /// # Safety
    ///
    /// Loading a library runs its initialization code, and the checks cannot see everything a
    /// plugin must get right. The caller vouches that `path` is a plugin made with
    /// [`declare_plugin!`](modelcache_backend::declare_plugin) that follows
    /// [the rules](modelcache_backend::plugin#the-rules): in particular the same global allocator (neither side
    /// sets one) and no other library exporting the plugin symbols with other types.
    ///
    /// # Errors
    /// See [`PluginError`].
    pub unsafe fn load_plugin(&mut self, path: &Path) -> Result<PluginInfo, PluginError> {
        // SAFETY: forwarded to our caller, who vouches for the library.
        let (info, backends) = unsafe { open(path)? };
        self.add_plugin(path, backends)?;
        tracing::info!(
            target: "modelcache",
            plugin = %path.display(),
            backends = ?info.backends,
            "plugin loaded"
        );
        Ok(info)
    }

    /// Loads every plugin of `config`'s `[plugins] paths`, in order.
    ///
    /// # Safety
    /// As [`load_plugin`](Self::load_plugin), for every path listed.
    ///
    /// # Errors
    /// The first plugin refused, with where it is listed.
    pub unsafe fn load_plugins(
        &mut self,
        config: &Config,
    ) -> Result<Vec<PluginInfo>, RegistryError> {
        let mut loaded = Vec::with_capacity(config.plugins.paths.len());
        for plugin in &config.plugins.paths {
            // SAFETY: forwarded to our caller, who vouches for every listed library.
            let info = unsafe { self.load_plugin(&plugin.path) }.map_err(|source| {
                RegistryError::Plugin {
                    at: plugin.at.clone(),
                    source: Box::new(source),
                }
            })?;
            loaded.push(info);
        }
        Ok(loaded)
    }
}

/// Opens, checks and registers one library.
///
/// # Safety
/// As [`Backends::load_plugin`].
unsafe fn open(path: &Path) -> Result<(PluginInfo, Vec<Arc<dyn DynBackend>>), PluginError> {
    let err = |reason: String| PluginError::Declaration {
        path: path.to_owned(),
        reason,
    };
    // The dynamic loader opens the path itself and would wait forever on a FIFO. (A path that
    // is not there is left to it: it reports that, and searches for bare names.)
    match modelcache_files::kind(path) {
        Ok(None | Some(modelcache_files::FileKind::File)) => {}
        Ok(Some(kind)) => {
            return Err(PluginError::File(modelcache_files::FileError::NotRegular {
                path: path.to_owned(),
                kind,
            }));
        }
        Err(e) => return Err(PluginError::File(e)),
    }
    // SAFETY: running the library's initializers is what our caller vouched for.
    let library = unsafe { Library::new(path) }.map_err(|source| PluginError::Open {
        path: path.to_owned(),
        source,
    })?;
    // Never unloaded: its code backs every backend and model it hands out, and unloading runs
    // thread-local destructors that crash at thread exit.
    let library: &'static Library = Box::leak(Box::new(library));

    // SAFETY: a plugin exports `modelcache_plugin_abi` as `extern "C" fn() -> u32` in every ABI
    // version; that symbol name is ours (the caller vouched that no other library uses it).
    let abi: Symbol<'static, extern "C" fn() -> u32> =
        unsafe { symbol(library, path, ABI_SYMBOL)? };
    let plugin_abi = abi();
    if plugin_abi != ABI_VERSION {
        return Err(PluginError::Abi {
            path: path.to_owned(),
            plugin: plugin_abi,
            host: ABI_VERSION,
        });
    }
    // SAFETY: ABI version 2 exports `modelcache_plugin_declare` with this C signature.
    let declare: Symbol<'static, extern "C" fn() -> PluginDeclaration> =
        unsafe { symbol(library, path, DECLARE_SYMBOL)? };
    let decl = declare();
    if decl.abi_version != ABI_VERSION {
        return Err(PluginError::Abi {
            path: path.to_owned(),
            plugin: decl.abi_version,
            host: ABI_VERSION,
        });
    }
    // SAFETY: ABI version 2 declares strings that point at the plugin's static data, which
    // stays mapped because the library is never unloaded.
    let contract_version = unsafe { read_str(decl.contract_version) }
        .map_err(|e| err(format!("contract version: {e}")))?;
    // SAFETY: as above.
    let rustc_version =
        unsafe { read_str(decl.rustc_version) }.map_err(|e| err(format!("rustc version: {e}")))?;
    for (component, plugin, host) in [
        (
            "modelcache-backend",
            &contract_version,
            modelcache_backend::CONTRACT_VERSION,
        ),
        ("rustc", &rustc_version, RUSTC_VERSION),
    ] {
        if plugin != host {
            return Err(PluginError::Version {
                path: path.to_owned(),
                component,
                plugin: plugin.clone(),
                host: host.to_owned(),
            });
        }
    }
    if decl.backend_count == 0 || decl.backend_count > MAX_STR {
        return Err(err(format!(
            "declares {} backends (0 when building them panicked)",
            decl.backend_count
        )));
    }
    let mut declared = Vec::with_capacity(decl.backend_count);
    for i in 0..decl.backend_count {
        // SAFETY: as above; `backend_name` is a C function of ABI version 2.
        let name = unsafe { read_str((decl.backend_name)(i)) }
            .map_err(|e| err(format!("backend {i}: {e}")))?;
        declared.push(name);
    }

    // SAFETY: the plugin was built by this compiler against this contract (checked
    // above), so the Rust-ABI signature and the layout of `Arc<dyn DynBackend>` agree.
    let register: Symbol<'static, RegisterFn> = unsafe { symbol(library, path, REGISTER_SYMBOL)? };
    let mut backends: Vec<Arc<dyn DynBackend>> = Vec::new();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        register(&mut |b| backends.push(b));
    }))
    .map_err(|_| err("panicked while registering its backends".to_owned()))?;
    let mut registered: Vec<String> = backends.iter().map(|b| b.name().to_owned()).collect();
    registered.sort();
    let mut expected = declared.clone();
    expected.sort();
    if registered != expected {
        return Err(err(format!(
            "declares backends {declared:?} but registers {registered:?}"
        )));
    }
    let info = PluginInfo {
        path: path.to_owned(),
        contract_version,
        rustc_version,
        backends: declared,
    };
    Ok((info, backends))
}

/// Looks `name` up in `library`.
///
/// # Safety
/// `T` must be the type of the symbol `name`.
unsafe fn symbol<T>(
    library: &'static Library,
    path: &Path,
    name: &'static str,
) -> Result<Symbol<'static, T>, PluginError> {
    // SAFETY: the type is our caller's promise.
    unsafe { library.get(name.as_bytes()) }.map_err(|_| PluginError::NotAPlugin {
        path: path.to_owned(),
        symbol: name,
    })
}

/// Copies a declared string.
///
/// # Safety
/// A non-null `raw.ptr` must point at `raw.len` readable bytes that stay valid during the call.
unsafe fn read_str(raw: RawStr) -> Result<String, String> {
    if raw.ptr.is_null() {
        return Err("null string".to_owned());
    }
    if raw.len > MAX_STR {
        return Err(format!("a string of {} bytes", raw.len));
    }
    // SAFETY: non-null, bounded, and readable by our caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) };
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| format!("not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_declared_strings() {
        // SAFETY: points at a static string.
        assert_eq!(
            unsafe { read_str(RawStr::new("0.1.0")) },
            Ok("0.1.0".to_owned())
        );
        let null = RawStr {
            ptr: std::ptr::null(),
            len: 3,
        };
        // SAFETY: null is checked before any read.
        assert!(unsafe { read_str(null) }.is_err());
        let long = RawStr {
            ptr: "x".as_ptr(),
            len: MAX_STR + 1,
        };
        // SAFETY: the length is checked before any read.
        assert!(unsafe { read_str(long) }.is_err());
    }

    #[test]
    fn a_library_that_is_not_there_is_an_open_error() {
        let mut backends = Backends::new();
        // SAFETY: the file does not exist, so nothing is loaded.
        let e = unsafe { backends.load_plugin(Path::new("/nonexistent/libnothing.so")) };
        assert!(matches!(e, Err(PluginError::Open { .. })), "{e:?}");
    }
}
