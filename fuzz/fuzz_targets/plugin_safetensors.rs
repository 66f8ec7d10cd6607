//! The safetensors backend on its registered suite's fixtures with one file overwritten by the fuzzer
//! (`modelcache_reliability::fuzz_plugin`, the body every plugin target shares).
#![no_main]

use modelcache_reliability::{Plugin, fuzz_plugin};

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_plugin(Plugin::Safetensors, data));
