//! models.toml text from the fuzzer: `Config::parse` returns a config or an error naming the
//! file, never panics; a config that parses is built into a registry with the real backends
//! (their options deserialized and checked), which also never panics. Nothing is loaded and
//! no dynamic plugin is opened (`[plugins] paths` is cleared: opening arbitrary libraries
//! would run their code).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelcache_core::ModelCache;
use modelcache_registry::{Backends, Config, Registry};
use modelcache_reliability::known_bugs::models_toml_non_ascii_key;

const FILE: &str = "/fuzzed/models.toml";

/// Whether to skip inputs that hit the bugs in `modelcache_reliability::known_bugs` (set
/// MODELCACHE_FUZZ_KNOWN_BUGS to fuzz them too, for example to check a fix).
static SKIP_KNOWN: OnceLock<bool> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let skip_known =
        *SKIP_KNOWN.get_or_init(|| std::env::var_os("MODELCACHE_FUZZ_KNOWN_BUGS").is_none());
    if skip_known && models_toml_non_ascii_key(text) {
        return;
    }
    let mut config = match Config::parse(text, FILE) {
        Ok(config) => config,
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(FILE), "error names no file: {message}");
            return;
        }
    };
    config.plugins.paths.clear();
    for model in config.models.values() {
        let _ = config.policy(model);
    }
    let _ = config.budget_bytes(None);
    let backends = Backends::new()
        .with(modelcache_flux::BACKEND)
        .with(modelcache_ltx::BACKEND)
        .with(modelcache_kokoro::BACKEND);
    if let Err(e) = Registry::build_with(&backends, &config, ModelCache::builder(), None) {
        let message = e.to_string();
        assert!(message.contains(FILE), "error names no file: {message}");
    }
});
