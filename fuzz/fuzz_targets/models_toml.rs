//! models.toml text from the fuzzer: `Config::parse` returns a config or an error naming the
//! file, never panics; a config that parses is built into a registry with the real backends
//! (their options deserialized and checked), which also never panics. Nothing is loaded and
//! no dynamic plugin is opened (`[plugins] paths` is cleared: opening arbitrary libraries
//! would run their code).
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelcache_core::ModelCache;
use modelcache_registry::{Backends, Config, Registry};

const FILE: &str = "/fuzzed/models.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
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
