//! The ltx backend on a tiny generated checkpoint with one file overwritten by the fuzzer:
//! `open` and the load of its plan return Ok or a typed error naming a file of the
//! fixture, never panic, and agree on the size (see `modelcache_reliability::probe`).
//! Input: `[file, options, replacement...]` (`modelcache_reliability::Case`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelcache_reliability::{Case, Failure, Fixture, Plugin};

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::from_bytes(data) else {
        return;
    };
    // Written once per process under $TMPDIR (scripts/fuzz points it at a folder it removes).
    let fixture =
        FIXTURE.get_or_init(|| Fixture::tiny(Plugin::Ltx).expect("the fixture is written"));
    match fixture.check(&case) {
        Ok(_) => {}
        Err(Failure::Harness(e)) => panic!("harness: {e}"),
        Err(Failure::Violation(v)) => panic!("{v}"),
    }
});
