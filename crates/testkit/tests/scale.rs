//! The `scale` option reaches its target within a few percent, and the grown fixtures are still valid.
#![allow(clippy::unwrap_used)]

mod common;

use common::check_fixture;
use modelcache_testkit::{
    FixtureReport, FluxSpec, KokoroSpec, LtxSpec, MfluxSpec, write_flux_bfl, write_flux_mflux,
    write_flux_repo, write_kokoro_mlx, write_ltx_diffusers, write_ltx_single_file,
};

const TARGET: u64 = 8 << 20;

fn near(name: &str, r: &FixtureReport) {
    check_fixture(r);
    let off = r.file_bytes.abs_diff(TARGET) as f64 / TARGET as f64;
    assert!(
        off < 0.03,
        "{name}: {} bytes for a target of {TARGET} ({:.1}% off)",
        r.file_bytes,
        off * 100.0
    );
}

#[test]
fn flux_layouts_reach_8_mib() {
    let d = tempfile::tempdir().unwrap();
    near(
        "bfl",
        &write_flux_bfl(&d.path().join("bfl"), &FluxSpec::tiny().with_scale(TARGET)).unwrap(),
    );
    near(
        "repo",
        &write_flux_repo(&d.path().join("repo"), &FluxSpec::tiny().with_scale(TARGET)).unwrap(),
    );
    let r = write_flux_mflux(
        &d.path().join("mflux"),
        &MfluxSpec::tiny().with_scale(TARGET),
    )
    .unwrap();
    near("mflux", &r);
    // Widths stay multiples of the group size: the scaled tree still quantizes.
    assert!(r.component("transformer").unwrap().tensor_count() > 300);
}

#[test]
fn ltx_and_kokoro_reach_8_mib() {
    let d = tempfile::tempdir().unwrap();
    near(
        "ltx",
        &write_ltx_single_file(&d.path().join("ltx"), &LtxSpec::tiny().with_scale(TARGET)).unwrap(),
    );
    near(
        "ltx-diffusers",
        &write_ltx_diffusers(&d.path().join("ltxd"), &LtxSpec::tiny().with_scale(TARGET)).unwrap(),
    );
    near(
        "kokoro",
        &write_kokoro_mlx(
            &d.path().join("kokoro"),
            &KokoroSpec::tiny().with_scale(TARGET),
        )
        .unwrap(),
    );
}

#[test]
fn a_target_below_the_tiny_preset_gives_the_smallest_fixture() {
    let d = tempfile::tempdir().unwrap();
    let r = write_kokoro_mlx(d.path(), &KokoroSpec::tiny().with_scale(1)).unwrap();
    check_fixture(&r);
    assert_eq!(r.component("kokoro").unwrap().tensor_count(), 548);
}
