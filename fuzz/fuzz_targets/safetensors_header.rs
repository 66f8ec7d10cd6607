//! `FileInventory::parse` on arbitrary bytes (the whole input is the file): an error names the
//! file; a header that parses keeps the inventory's guarantees, and the file then loads, as
//! stored and converted to F32, to exactly the bytes the inventory counts.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelcache_reliability::inventory::{check_inventory, check_load, names_file};
use modelcache_weights::FileInventory;

/// Where parsed inputs are written to be loaded (under $TMPDIR; scripts/fuzz removes it).
static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let name = Path::new("fuzzed.safetensors");
    let len = data.len() as u64;
    let inv = match FileInventory::parse(name, data, len) {
        Ok(inv) => inv,
        Err(e) => {
            if let Err(v) = names_file(&e, name) {
                panic!("{v}");
            }
            return;
        }
    };
    if let Err(v) = check_inventory(&inv, len) {
        panic!("{v}");
    }
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"));
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, data).expect("the input is written");
    if let Err(v) = check_load(&path) {
        panic!("{v}");
    }
});
