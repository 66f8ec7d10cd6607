//! Loading every layout: tensors equal the fixture's, one layout per folder, exact hints.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::sync::atomic::Ordering;

use common::{Recorder, fixture_table, hint, load, loaded_table, source};
use modelcache_backend::{Backend, BackendError, BackendExt};
use modelcache_flux::{
    BACKEND, Component, FluxOptions, Layout, LayoutChoice, LoadDtype, Quantization,
};
use modelcache_testkit::flux::FluxConfig as SpecConfig;
use modelcache_testkit::{
    FixtureReport, FluxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers, write_flux_mflux,
    write_flux_repo,
};

fn all() -> FluxOptions {
    FluxOptions::default().with_components(Component::ALL)
}

/// Each loaded component equals the fixture's component `fixture_name`: names, dtypes, shapes.
fn assert_matches(
    report: &FixtureReport,
    model: &modelcache_flux::FluxModel,
    pairs: &[(Component, &str)],
) {
    assert_eq!(model.components().len(), pairs.len());
    for &(component, fixture_name) in pairs {
        let loaded = model.component(component).unwrap();
        let written = report.component(fixture_name).unwrap();
        assert_eq!(loaded_table(loaded), fixture_table(written), "{component}");
    }
}

#[test]
fn bfl_tensors_equal_the_fixture_and_config_is_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    let model = load(dir.path(), &FluxOptions::default()).unwrap();
    assert_eq!(model.layout(), Layout::Bfl);
    assert_matches(
        &report,
        &model,
        &[
            (Component::Transformer, "transformer"),
            (Component::Vae, "ae"),
        ],
    );
    let c = model.config().unwrap();
    let spec = SpecConfig::tiny();
    assert_eq!(
        (
            c.hidden_size,
            c.num_heads,
            c.depth,
            c.depth_single_blocks,
            c.mlp_hidden
        ),
        (
            spec.hidden_size,
            spec.num_heads,
            spec.depth,
            spec.depth_single_blocks,
            spec.mlp_hidden()
        )
    );
    assert_eq!(
        (c.in_channels, c.vec_in_dim, c.context_in_dim),
        (64, 32, 32)
    );
    assert!(!c.guidance_embed);
    assert_eq!(
        model.component(Component::Transformer).unwrap().prefix(),
        ""
    );
    assert_eq!(BACKEND.resident_bytes(&model), Some(report.tensor_bytes()));
}

#[test]
fn bfl_prefixed_file_with_metadata_keeps_its_names() {
    let dir = tempfile::tempdir().unwrap();
    let spec = FluxSpec {
        transformer: SpecConfig {
            guidance_embed: true,
            ..SpecConfig::tiny()
        },
        prefix: true,
        bfl_metadata: Some(FluxSpec::example_bfl_metadata()),
        ..FluxSpec::tiny()
    };
    let report = write_flux_bfl(dir.path(), &spec).unwrap();
    let file = dir.path().join("flux1-dev.safetensors");
    let model = load(&file, &FluxOptions::default()).unwrap();
    assert_matches(
        &report,
        &model,
        &[
            (Component::Transformer, "transformer"),
            (Component::Vae, "ae"),
        ],
    );
    let t = model.component(Component::Transformer).unwrap();
    assert_eq!(t.prefix(), "model.diffusion_model.");
    assert!(
        t.tensors()
            .get("model.diffusion_model.guidance_in.in_layer.weight")
            .is_some()
    );
    assert!(model.config().unwrap().guidance_embed);
    // The folder finds the same file.
    assert_eq!(
        hint(dir.path(), &FluxOptions::default()).unwrap(),
        report.tensor_bytes()
    );
}

#[test]
fn diffusers_tensors_equal_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let model = load(dir.path(), &all()).unwrap();
    assert_eq!(model.layout(), Layout::Diffusers);
    let pairs: Vec<(Component, &str)> = Component::ALL.iter().map(|&c| (c, c.as_str())).collect();
    assert_matches(&report, &model, &pairs);
    assert_eq!(model.resident_bytes(), report.tensor_bytes());
    assert_eq!(model.config().unwrap().depth, SpecConfig::tiny().depth);

    // Transformer and VAE only (the default): the text encoders are neither read nor counted.
    let default = FluxOptions::default();
    let two = ["transformer", "vae"].map(|n| report.component(n).unwrap().tensor_bytes());
    assert_eq!(hint(dir.path(), &default).unwrap(), two.iter().sum::<u64>());
    let vae_only = FluxOptions::default().with_components([Component::Vae]);
    let model = load(dir.path(), &vae_only).unwrap();
    assert!(model.config().is_none());
    assert_eq!(model.resident_bytes(), two[1]);
}

#[test]
fn mflux_tensors_load_as_stored_with_their_quantization() {
    for bits in [4u8, 8] {
        let dir = tempfile::tempdir().unwrap();
        let spec = MfluxSpec {
            bits,
            ..MfluxSpec::tiny()
        };
        let report = write_flux_mflux(dir.path(), &spec).unwrap();
        let model = load(dir.path(), &all()).unwrap();
        assert_eq!(model.layout(), Layout::Mflux);
        let pairs: Vec<(Component, &str)> =
            Component::ALL.iter().map(|&c| (c, c.as_str())).collect();
        assert_matches(&report, &model, &pairs);
        for c in model.components() {
            assert_eq!(
                c.quantization(),
                Some(Quantization {
                    bits,
                    group_size: 32
                }),
                "{}",
                c.component()
            );
        }
        assert_eq!(model.config().unwrap().hidden_size, 32);
        assert_eq!(hint(dir.path(), &all()).unwrap(), report.tensor_bytes());
    }
}

#[test]
fn mflux_conversion_keeps_packed_codes_and_the_hint_follows() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_mflux(dir.path(), &MfluxSpec::tiny()).unwrap();
    let f32 = FluxOptions::default().with_dtype(LoadDtype::F32);
    let model = load(dir.path(), &f32).unwrap();
    let t = model.component(Component::Transformer).unwrap().tensors();
    let q = t.get("transformer_blocks.0.attn.to_q.weight").unwrap();
    assert_eq!(q.dtype(), modelcache_weights::candle_core::DType::U32);
    let s = t.get("transformer_blocks.0.attn.to_q.scales").unwrap();
    assert_eq!(s.dtype(), modelcache_weights::candle_core::DType::F32);
    assert_eq!(hint(dir.path(), &f32).unwrap(), model.resident_bytes());
    assert!(model.resident_bytes() > hint(dir.path(), &FluxOptions::default()).unwrap());
}

#[test]
fn a_repo_folder_counts_one_layout_not_both() {
    let spec = FluxSpec::tiny();
    let (repo, diffusers, bfl) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let report = write_flux_repo(repo.path(), &spec).unwrap();
    write_flux_diffusers(diffusers.path(), &spec).unwrap();
    write_flux_bfl(bfl.path(), &spec).unwrap();
    let bfl_layout = FluxOptions::default().with_layout(LayoutChoice::Bfl);
    for options in [FluxOptions::default(), all(), bfl_layout] {
        let single = if options.layout == LayoutChoice::Bfl {
            bfl.path()
        } else {
            diffusers.path()
        };
        let h = hint(repo.path(), &options).unwrap();
        assert_eq!(h, hint(single, &options).unwrap(), "{options:?}");
        assert_eq!(load(repo.path(), &options).unwrap().resident_bytes(), h);
    }
    // Each layout counted once, where a directory sum counts both.
    let diffusers_all = hint(repo.path(), &all()).unwrap();
    let bfl_both = report.component("bfl_transformer").unwrap().tensor_bytes()
        + report.component("ae").unwrap().tensor_bytes();
    assert_eq!(diffusers_all + bfl_both, report.tensor_bytes());

    // The BFL files are not even opened when the diffusers tree is read.
    std::fs::write(
        repo.path().join("flux1-schnell.safetensors"),
        b"not a checkpoint",
    )
    .unwrap();
    assert_eq!(hint(repo.path(), &all()).unwrap(), diffusers_all);
    assert_eq!(
        load(repo.path(), &all()).unwrap().layout(),
        Layout::Diffusers
    );
}

#[test]
fn dtype_conversion_doubles_bf16_in_hint_and_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let transformer = FluxOptions::default().with_components([Component::Transformer]);
    let stored = report.component("transformer").unwrap().tensor_bytes();
    assert_eq!(hint(dir.path(), &transformer).unwrap(), stored);
    let f32 = transformer.clone().with_dtype(LoadDtype::F32);
    assert_eq!(hint(dir.path(), &f32).unwrap(), 2 * stored);
    assert_eq!(load(dir.path(), &f32).unwrap().resident_bytes(), 2 * stored);
    let f16 = transformer.with_dtype(LoadDtype::F16);
    assert_eq!(load(dir.path(), &f16).unwrap().resident_bytes(), stored);

    // BFL's F32 autoencoder halves in BF16.
    let bfl = tempfile::tempdir().unwrap();
    let report = write_flux_bfl(bfl.path(), &FluxSpec::tiny()).unwrap();
    let ae = report.component("ae").unwrap().tensor_bytes();
    let vae_bf16 = FluxOptions::default()
        .with_components([Component::Vae])
        .with_dtype(LoadDtype::Bf16);
    assert_eq!(hint(bfl.path(), &vae_bf16).unwrap(), ae / 2);
    assert_eq!(
        load(bfl.path(), &vae_bf16).unwrap().resident_bytes(),
        ae / 2
    );
}

#[test]
fn progress_adds_up_to_the_bytes_read() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let options = all().with_dtype(LoadDtype::F32);
    let progress = Recorder::default();
    BACKEND
        .open_and_load(&source(dir.path(), &options), &progress)
        .unwrap();
    assert_eq!(
        progress.total.load(Ordering::Relaxed),
        report.tensor_bytes()
    );
    assert_eq!(
        progress.advanced.load(Ordering::Relaxed),
        report.tensor_bytes()
    );
}

#[test]
fn bfl_folder_needs_exactly_one_transformer_and_its_autoencoder() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    let ae = dir.path().join("ae.safetensors");
    std::fs::copy(
        dir.path().join("flux1-schnell.safetensors"),
        dir.path().join("flux1-dev.safetensors"),
    )
    .unwrap();
    let err = hint(dir.path(), &FluxOptions::default()).unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("flux1-dev.safetensors, flux1-schnell.safetensors"),
        "{err}"
    );
    // Naming the file resolves it.
    let file = dir.path().join("flux1-dev.safetensors");
    assert!(hint(&file, &FluxOptions::default()).is_ok());

    std::fs::remove_file(&ae).unwrap();
    let err = load(&file, &FluxOptions::default()).unwrap_err();
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if *path == ae),
        "{err}"
    );
    // Without the VAE, the autoencoder is not needed.
    let transformer = FluxOptions::default().with_components([Component::Transformer]);
    assert!(load(&file, &transformer).is_ok());
}

#[test]
fn text_encoders_need_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    let t5 =
        FluxOptions::default().with_components([Component::Transformer, Component::TextEncoder2]);
    let err = hint(dir.path(), &t5).unwrap_err();
    assert!(matches!(err, BackendError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("text_encoder_2"), "{err}");
    let forced = t5.with_layout(LayoutChoice::Bfl);
    assert!(matches!(
        BACKEND.check_options(&forced),
        Err(BackendError::Options { .. })
    ));
    assert!(matches!(
        hint(dir.path(), &forced),
        Err(BackendError::Options { .. })
    ));
}

#[test]
fn forced_layouts_read_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_repo(dir.path(), &FluxSpec::tiny()).unwrap();
    let diffusers = FluxOptions::default().with_layout(LayoutChoice::Diffusers);
    assert_eq!(
        load(dir.path(), &diffusers).unwrap().layout(),
        Layout::Diffusers
    );
    let file = dir.path().join("flux1-schnell.safetensors");
    let err = hint(&file, &diffusers).unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err}");
    // mflux forced on a diffusers tree: its transformer lacks mflux's names.
    let mflux = FluxOptions::default().with_layout(LayoutChoice::Mflux);
    let err = hint(dir.path(), &mflux).unwrap_err();
    assert!(err.to_string().contains("ff.linear1"), "{err}");
}

#[test]
fn a_text_encoder_first_in_a_diffusers_tree_is_not_mistaken_for_mflux() {
    // text_encoder_2/ holds model.safetensors.index.json, the name mflux also uses.
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let options =
        FluxOptions::default().with_components([Component::TextEncoder2, Component::Transformer]);
    let model = load(dir.path(), &options).unwrap();
    assert_eq!(model.layout(), Layout::Diffusers);
    assert_matches(
        &report,
        &model,
        &[
            (Component::TextEncoder2, "text_encoder_2"),
            (Component::Transformer, "transformer"),
        ],
    );
    assert_eq!(hint(dir.path(), &options).unwrap(), model.resident_bytes());
}
