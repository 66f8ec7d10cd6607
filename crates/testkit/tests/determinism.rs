//! Same seed, byte-identical files; another seed, other contents but the same layout.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use modelcache_testkit::{
    FixtureReport, FluxSpec, KokoroSpec, LtxSpec, MfluxSpec, write_flux_mflux, write_flux_repo,
    write_kokoro_mlx, write_ltx_single_file,
};

type Writer = fn(&Path, u64) -> FixtureReport;

const WRITERS: [(&str, Writer); 4] = [
    ("flux repo", |d, s| {
        write_flux_repo(d, &FluxSpec::tiny().with_seed(s)).unwrap()
    }),
    ("mflux", |d, s| {
        write_flux_mflux(d, &MfluxSpec::tiny().with_seed(s)).unwrap()
    }),
    ("ltx", |d, s| {
        write_ltx_single_file(d, &LtxSpec::tiny().with_seed(s)).unwrap()
    }),
    ("kokoro", |d, s| {
        write_kokoro_mlx(d, &KokoroSpec::tiny().with_seed(s)).unwrap()
    }),
];

fn contents(r: &FixtureReport) -> Vec<(String, Vec<u8>)> {
    r.files
        .iter()
        .map(|f| {
            (
                f.strip_prefix(&r.dir).unwrap().display().to_string(),
                fs::read(f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_bytes() {
    for (name, write) in WRITERS {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ra, rb) = (write(a.path(), 42), write(b.path(), 42));
        assert_eq!(contents(&ra), contents(&rb), "{name}");
    }
}

#[test]
fn another_seed_changes_data_not_layout() {
    for (name, write) in WRITERS {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ra, rb) = (write(a.path(), 1), write(b.path(), 2));
        assert_eq!(
            ra.components,
            rb.components
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    for f in &mut c.files {
                        *f = a.path().join(f.strip_prefix(b.path()).unwrap());
                    }
                    c
                })
                .collect::<Vec<_>>(),
            "{name}"
        );
        let (ca, cb) = (contents(&ra), contents(&rb));
        let weights = |c: &[(String, Vec<u8>)]| {
            c.iter()
                .filter(|(n, _)| n.ends_with(".safetensors"))
                .cloned()
                .collect::<Vec<_>>()
        };
        for ((n, x), (_, y)) in weights(&ca).iter().zip(weights(&cb).iter()) {
            assert_ne!(x, y, "{name}: {n} did not change with the seed");
            assert_eq!(x.len(), y.len(), "{name}: {n}");
        }
    }
}
