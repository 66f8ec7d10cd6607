//! One T5-XXL for FLUX.1 and LTX-Video: real dimensions, as header-only sparse files. Each
//! pipeline with its own T5 against both taking one shared T5 entry: the plans with sharing sum
//! to exactly one T5-XXL less (9.52 GB in BF16). `-- --nocapture` prints the figures.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

use std::path::Path;

use modelcache_backend::{BackendExt, Component as Given, ModelSource};
use modelcache_flux::FluxOptions;
use modelcache_ltx::{LoadDtype, LtxOptions};
use modelcache_safetensors::SafetensorsOptions;
use modelcache_testkit::flux::{self, AeConfig, FluxConfig};
use modelcache_testkit::ltx::{self, LtxNaming, LtxTransformerConfig, LtxVaeConfig};
use modelcache_testkit::text_encoders::{ClipConfig, T5Config};
use modelcache_testkit::{Dtype, FluxSpec, KeyTable, LtxSpec, write_header_only, write_t5_encoder};
use serde_json::Value;

/// docs/checkpoint-layouts.md §4.3: the T5-XXL encoder, BF16 (FLUX.1's `text_encoder_2/` index
/// `total_size`), and the same in F32.
const T5_BF16: u64 = 9_524_621_312;
const T5_F32: u64 = 19_049_242_624;
/// FLUX.1 [schnell], every component as stored (BF16), with and without its T5.
const FLUX_OWN: u64 = 33_720_738_758;
const FLUX_SHARED: u64 = 24_196_117_446;
/// LTX-Video 2B 0.9.0 diffusers, every component, with and without its T5: as stored (F32),
/// and loaded with `dtype = "bf16"`.
const LTX_F32: (u64, u64) = (28_419_560_132, 9_370_317_508);
const LTX_BF16: (u64, u64) = (14_209_780_066, 4_685_158_754);

fn json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, value.to_string()).unwrap();
}

fn weights(path: &Path, keys: &KeyTable) {
    write_header_only(path, keys.tensors(), None).unwrap();
}

/// FLUX.1 [schnell]'s diffusers tree, every component, header-only.
fn flux_schnell(root: &Path) {
    let (t, ae) = (FluxConfig::schnell(), AeConfig::flux());
    json(&root.join("model_index.json"), &flux::model_index());
    json(
        &root.join("transformer/config.json"),
        &flux::transformer_config(&t),
    );
    let file = root.join("transformer/diffusion_pytorch_model.safetensors");
    weights(&file, &flux::diffusers_transformer_keys(&t));
    json(&root.join("vae/config.json"), &flux::vae_config(&ae));
    let file = root.join("vae/diffusion_pytorch_model.safetensors");
    weights(&file, &flux::diffusers_vae_keys(&ae));
    json(
        &root.join("text_encoder/config.json"),
        &ClipConfig::clip_l().config_json(),
    );
    let clip = ClipConfig::clip_l().keys(Dtype::BF16);
    weights(&root.join("text_encoder/model.safetensors"), &clip);
    t5_xxl(&root.join("text_encoder_2"), Dtype::BF16, "bfloat16");
}

/// LTX-Video 2B 0.9.0's diffusers tree, every component, header-only, F32 as the converter
/// writes it.
fn ltx_2b(root: &Path) {
    let (t, vae) = (LtxTransformerConfig::ltx_2b(), LtxVaeConfig::v0_9_0());
    json(&root.join("model_index.json"), &ltx::model_index());
    json(&root.join("transformer/config.json"), &t.diffusers_json());
    let keys = ltx::transformer_keys(&t, LtxNaming::Diffusers, Dtype::F32);
    weights(
        &root.join("transformer/diffusion_pytorch_model.safetensors"),
        &keys,
    );
    json(&root.join("vae/config.json"), &vae.diffusers_json());
    let keys = ltx::diffusers_vae_keys(&vae, Dtype::F32);
    weights(&root.join("vae/diffusion_pytorch_model.safetensors"), &keys);
    t5_xxl(&root.join("text_encoder"), Dtype::F32, "float32");
}

/// A T5-XXL encoder folder: `config.json` and a header-only `model.safetensors`.
fn t5_xxl(dir: &Path, dtype: Dtype, torch_dtype: &str) {
    json(
        &dir.join("config.json"),
        &T5Config::xxl().config_json(torch_dtype),
    );
    weights(&dir.join("model.safetensors"), &T5Config::xxl().keys(dtype));
}

fn given(path: &Path, role: &str) -> [Given; 1] {
    [Given {
        role: role.into(),
        id: "t5-xxl".into(),
        path: path.to_path_buf(),
        backend: "safetensors".into(),
    }]
}

fn flux_bytes(path: &Path, components: &[Given]) -> u64 {
    let options = FluxOptions::default().with_components(modelcache_flux::Component::ALL);
    let source = ModelSource::new("flux-schnell", path, &options).with_components(components);
    modelcache_flux::BACKEND.inspect(&source).unwrap().bytes
}

fn ltx_bytes(path: &Path, dtype: Option<LoadDtype>, components: &[Given]) -> u64 {
    use modelcache_ltx::Component as C;
    let options = LtxOptions {
        components: vec![C::Transformer, C::Vae, C::TextEncoder],
        dtype,
        ..LtxOptions::default()
    };
    let source = ModelSource::new("ltx-video", path, &options).with_components(components);
    modelcache_ltx::BACKEND.inspect(&source).unwrap().bytes
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

#[test]
fn one_shared_t5_xxl_saves_exactly_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (flux_dir, ltx_dir, t5_dir) = (
        dir.path().join("FLUX.1-schnell"),
        dir.path().join("LTX-Video"),
        dir.path().join("t5-xxl"),
    );
    flux_schnell(&flux_dir);
    ltx_2b(&ltx_dir);
    t5_xxl(&t5_dir, Dtype::BF16, "bfloat16");

    let t5_options = SafetensorsOptions::default();
    let t5 = modelcache_safetensors::BACKEND
        .inspect(&ModelSource::new("t5-xxl", &t5_dir, &t5_options))
        .unwrap()
        .bytes;
    assert_eq!(t5, T5_BF16);

    let flux_own = flux_bytes(&flux_dir, &[]);
    let flux_shared = flux_bytes(&flux_dir, &given(&t5_dir, "text_encoder_2"));
    let ltx_t5 = given(&t5_dir, "text_encoder");
    assert_eq!((flux_own, flux_shared), (FLUX_OWN, FLUX_SHARED));
    for (label, dtype, ltx_t5_bytes, pinned) in [
        ("LTX as stored (F32)", None, T5_F32, LTX_F32),
        ("LTX in BF16", Some(LoadDtype::Bf16), T5_BF16, LTX_BF16),
    ] {
        let ltx_own = ltx_bytes(&ltx_dir, dtype, &[]);
        let ltx_shared = ltx_bytes(&ltx_dir, dtype, &ltx_t5);
        let separate = flux_own + ltx_own;
        let shared = flux_shared + ltx_shared + t5;
        println!(
            "{label}: FLUX.1 schnell {flux_own} B with its T5, {flux_shared} B without; \
             LTX-Video {ltx_own} B with its T5, {ltx_shared} B without; shared T5-XXL entry \
             {t5} B; separate {separate} B ({:.3} GB), shared {shared} B ({:.3} GB), saved {} B \
             ({:.3} GB)",
            gb(separate),
            gb(shared),
            separate - shared,
            gb(separate - shared)
        );
        assert_eq!((ltx_own, ltx_shared), pinned, "{label}");
        assert_eq!(flux_own - flux_shared, T5_BF16);
        assert_eq!(ltx_own - ltx_shared, ltx_t5_bytes);
        assert_eq!(separate - shared, ltx_t5_bytes);
    }
}

#[test]
fn one_tiny_t5_folder_fits_both_tiny_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let (flux_dir, ltx_dir, t5_dir) = (
        dir.path().join("flux"),
        dir.path().join("ltx"),
        dir.path().join("t5"),
    );
    let flux_report =
        modelcache_testkit::write_flux_diffusers(&flux_dir, &FluxSpec::tiny()).unwrap();
    modelcache_testkit::write_ltx_diffusers(&ltx_dir, &LtxSpec::tiny()).unwrap();
    let t5 = write_t5_encoder(&t5_dir, &T5Config::tiny(), Dtype::BF16, 0).unwrap();
    // Seed 0 in BF16: the very tensors of the Flux fixture's text_encoder_2.
    let own = flux_report.component("text_encoder_2").unwrap();
    let standalone = t5.component("t5").unwrap();
    assert_eq!(standalone.tensors, own.tensors);
    assert_eq!(standalone.files.len(), own.files.len());
    for (a, b) in standalone.files.iter().zip(&own.files) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
    assert_eq!(
        flux_bytes(&flux_dir, &[]) - flux_bytes(&flux_dir, &given(&t5_dir, "text_encoder_2")),
        own.tensor_bytes()
    );
    let ltx_own = ltx_bytes(&ltx_dir, None, &[]);
    let ltx_shared = ltx_bytes(&ltx_dir, None, &given(&t5_dir, "text_encoder"));
    assert_eq!(
        ltx_own - ltx_shared,
        T5Config::tiny().keys(Dtype::F32).byte_len()
    );
}
