//! Loading the dynamic plugins a config names: the facade's only `unsafe`.

use modelcache_registry::{Backends, Config, RegistryError};

/// The built-in backends plus those of the plugins in the config's `[plugins] paths`.
///
/// Loading a plugin runs its code in this process: configure only libraries you trust, built
/// by the same compiler against the same contract, `modelcache-backend` (the registry checks both
/// and refuses a mismatch; see `modelcache_registry::plugin`).
///
/// # Errors
/// When a plugin cannot be opened or is refused.
pub fn backends_for(config: &Config) -> Result<Backends, RegistryError> {
    let mut backends = crate::backends();
    if !config.plugins.paths.is_empty() {
        #[allow(unsafe_code)]
        // SAFETY: the libraries are the ones the user configured in models.toml, which is the
        // user's statement that they are trusted modelcache plugins; the registry checks their
        // ABI, core and rustc versions before calling anything else, and never unloads them.
        unsafe {
            backends.load_plugins(config)?;
        }
    }
    Ok(backends)
}
