//! The one body of the plugin fuzz targets (`fuzz/fuzz_targets/plugin_*.rs`, one line each).

use std::sync::OnceLock;

use crate::fixture::{Case, Fixture};
use crate::probe::Failure;
use crate::suites::Plugin;

/// Runs one fuzzer input (`[file, options, replacement...]`, see [`Case`]) against `plugin`'s
/// fixture, written once per process under `$TMPDIR` (`scripts/fuzz` points it at a folder
/// it removes): `open` and the load of its plan return Ok or a typed error naming a file of
/// the fixture, never panic, and agree on the size (see [`crate::probe`]).
///
/// # Panics
/// On a broken promise (what the fuzzer reports), or when the fixture cannot be written.
pub fn fuzz_plugin(plugin: Plugin, data: &[u8]) {
    static FIXTURES: [OnceLock<Fixture>; Plugin::ALL.len()] =
        [const { OnceLock::new() }; Plugin::ALL.len()];
    let Some(case) = Case::from_bytes(data) else {
        return;
    };
    let slot = Plugin::ALL.iter().position(|&p| p == plugin).unwrap_or(0);
    let fixture = FIXTURES[slot].get_or_init(|| match Fixture::tiny(plugin) {
        Ok(fixture) => fixture,
        Err(e) => panic!("writing the {} fixture: {e}", plugin.name()),
    });
    match fixture.check(&case) {
        Ok(_) => {}
        Err(Failure::Harness(e)) => panic!("harness: {e}"),
        Err(Failure::Violation(v)) => panic!("{v}"),
    }
}
