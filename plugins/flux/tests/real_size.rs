//! Real FLUX.1 [schnell] dimensions, as header-only sparse files: the hint is the exact byte count
//! of docs/checkpoint-layouts.md §4.3, and it reads headers only.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::path::Path;

use common::hint;
use modelcache_flux::{Component, FluxOptions};
use modelcache_testkit::flux::{
    FluxConfig as SpecConfig, ae_keys, bfl_transformer_keys, diffusers_transformer_keys,
    model_index, transformer_config,
};
use modelcache_testkit::{FluxSpec, Metadata, MfluxSpec, TensorSpec, write_header_only};

/// docs/checkpoint-layouts.md §4.3: FLUX.1 [schnell] transformer, BF16 tensor bytes.
const SCHNELL: u64 = 23_782_357_120;
/// docs/checkpoint-layouts.md §4.3: dev adds the guidance embedder.
const DEV: u64 = 23_802_816_640;
/// docs/checkpoint-layouts.md §4.3: `ae.safetensors`, F32 (4 × 83,819,683 params).
const AE: u64 = 335_278_732;

/// Writes the header of `tensors` and extends the file to its full length without writing data
/// (a sparse file). Returns the header's size on disk.
fn sparse(path: &Path, tensors: &[TensorSpec], metadata: Option<&Metadata>) -> u64 {
    write_header_only(path, tensors, metadata).unwrap()
}

fn rchar() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The hint, and checks that computing it read at most `allowed` bytes (plus slack for folder
/// listings) on this thread, where Linux reports it.
fn hint_reading_at_most(path: &Path, options: &FluxOptions, allowed: u64) -> u64 {
    let before = rchar();
    let h = hint(path, options).unwrap();
    if let (Some(before), Some(after)) = (before, rchar()) {
        let read = after - before;
        assert!(
            read <= allowed + 64 * 1024,
            "read {read} bytes, headers are {allowed}"
        );
    }
    h
}

#[test]
fn bfl_schnell_and_dev_give_the_reference_bytes() {
    let spec = FluxSpec::real_schnell();
    let dir = tempfile::tempdir().unwrap();
    let meta = FluxSpec::example_bfl_metadata();
    let keys = bfl_transformer_keys(&spec.transformer).into_tensors();
    assert_eq!(keys.len(), 776);
    let t = sparse(
        &dir.path().join("flux1-schnell.safetensors"),
        &keys,
        Some(&meta),
    );
    let a = sparse(
        &dir.path().join("ae.safetensors"),
        &ae_keys(&spec.ae).into_tensors(),
        None,
    );
    let transformer = FluxOptions::default().with_components([Component::Transformer]);
    assert_eq!(hint_reading_at_most(dir.path(), &transformer, t), SCHNELL);
    assert_eq!(
        hint_reading_at_most(dir.path(), &FluxOptions::default(), t + a),
        SCHNELL + AE
    );

    let dev = tempfile::tempdir().unwrap();
    let keys = bfl_transformer_keys(&SpecConfig::dev()).with_prefix("model.diffusion_model.");
    let file = dev.path().join("flux1-dev.safetensors");
    let t = sparse(&file, keys.tensors(), None);
    assert_eq!(hint_reading_at_most(&file, &transformer, t), DEV);
}

#[test]
fn diffusers_schnell_transformer_gives_the_reference_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let schnell = SpecConfig::schnell();
    std::fs::write(
        dir.path().join("model_index.json"),
        model_index().to_string(),
    )
    .unwrap();
    let config = dir.path().join("transformer/config.json");
    let keys = diffusers_transformer_keys(&schnell).into_tensors();
    assert_eq!(keys.len(), 1156);
    let file = dir
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors");
    let t = sparse(&file, &keys, None);
    std::fs::write(&config, transformer_config(&schnell).to_string()).unwrap();
    let small = [dir.path().join("model_index.json"), config]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum::<u64>();
    let transformer = FluxOptions::default().with_components([Component::Transformer]);
    assert_eq!(
        hint_reading_at_most(dir.path(), &transformer, t + small),
        SCHNELL
    );
}

#[test]
fn mflux_schnell_transformer_gives_the_reference_bytes() {
    // docs/checkpoint-layouts.md §4.3: 4-bit and 8-bit transformer tensor bytes.
    for (bits, bytes) in [(4, 6_693_214_336u64), (8, 12_637_264_000)] {
        let spec = MfluxSpec::real_schnell(bits);
        let (_, tensors) = spec.components().unwrap().swap_remove(0);
        let dir = tempfile::tempdir().unwrap();
        let t = sparse(
            &dir.path().join("transformer/0.safetensors"),
            &tensors,
            Some(&spec.metadata()),
        );
        let transformer = FluxOptions::default().with_components([Component::Transformer]);
        assert_eq!(
            hint_reading_at_most(dir.path(), &transformer, t),
            bytes,
            "{bits} bits"
        );
    }
}
