//! Text encoders from other cache entries: a given T5 or CLIP is left out of the plan and the
//! load (exactly its bytes, files and tensors), and its width is checked against the
//! transformer's input from headers, with errors naming both models.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::source;
use modelcache_backend::{Backend, BackendError, BackendExt, Component as Given, DynBackend};
use modelcache_backend::{ModelSource, NoProgress};
use modelcache_flux::{BACKEND, Component, FluxOptions, LayoutChoice};
use modelcache_testkit::{
    FluxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers, write_flux_mflux,
};

const T5_ID: &str = "t5-xxl";

fn all() -> FluxOptions {
    FluxOptions::default().with_components(Component::ALL)
}

fn t5(path: &Path) -> Given {
    Given {
        role: "text_encoder_2".into(),
        id: T5_ID.into(),
        path: path.to_path_buf(),
        backend: "safetensors".into(),
    }
}

/// A standalone T5 encoder folder `d_model` wide, in BF16, seed 0.
fn t5_folder(dir: &Path, d_model: u64) -> PathBuf {
    modelcache_testkit::write_tiny_t5(dir, d_model).unwrap()
}

fn open_with(
    path: &Path,
    options: &FluxOptions,
    given: &[Given],
) -> Result<modelcache_backend::Inspection, BackendError> {
    BACKEND.inspect(&source(path, options).with_components(given))
}

#[test]
fn a_given_t5_is_left_out_of_the_plan_and_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let flux = dir.path().join("flux");
    let own = open_with(&flux, &all(), &[]).unwrap();
    let given = [t5(&t5_folder(dir.path(), 32))];
    let shared = open_with(&flux, &all(), &given).unwrap();

    // Exactly the part's bytes, tensors and files go.
    let part = report.component("text_encoder_2").unwrap();
    assert_eq!(own.bytes - shared.bytes, part.tensor_bytes());
    assert_eq!(
        own.tensors.unwrap() - shared.tensors.unwrap(),
        part.tensor_count()
    );
    assert!(
        shared
            .files
            .iter()
            .all(|f| !f.starts_with(flux.join("text_encoder_2")))
    );
    assert!(
        shared
            .files
            .iter()
            .any(|f| f.starts_with(flux.join("text_encoder")))
    );

    // The load holds no T5 tensor, and the hint is what it holds.
    let model = BACKEND
        .open_and_load(&source(&flux, &all()).with_components(&given), &NoProgress)
        .unwrap();
    assert!(model.component(Component::TextEncoder2).is_none());
    assert!(model.component(Component::TextEncoder).is_some());
    assert_eq!(BACKEND.resident_bytes(&model), Some(shared.bytes));
    assert!(
        model
            .components()
            .iter()
            .all(|c| c.tensors().get("shared.weight").is_none())
    );
}

#[test]
fn the_safetensors_backend_opens_the_standalone_t5_at_the_bytes_flux_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let folder = t5_folder(dir.path(), 32);
    let options = modelcache_safetensors::SafetensorsOptions::default();
    let opened = modelcache_safetensors::BACKEND
        .inspect(&ModelSource::new(T5_ID, &folder, &options))
        .unwrap();
    let part = report.component("text_encoder_2").unwrap();
    assert_eq!(opened.bytes, part.tensor_bytes());
    assert_eq!(opened.tensors, Some(part.tensor_count()));
}

#[test]
fn a_t5_of_another_width_is_refused_naming_both_models() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let given = [t5(&t5_folder(dir.path(), 64))];
    let err = open_with(&dir.path().join("flux"), &all(), &given).unwrap_err();
    let text = err.to_string();
    let BackendError::Invalid { path, tensor, .. } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(tensor.as_deref(), Some("context_embedder.weight"));
    assert!(
        path.starts_with(dir.path().join("flux/transformer")),
        "{text}"
    );
    for needle in [
        "\"flux-test\"",
        "\"t5-xxl\"",
        "32 wide",
        "64 wide",
        "shared.weight",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(
        text.contains(&dir.path().join("t5").display().to_string()),
        "{text}"
    );
}

#[test]
fn the_transformer_is_checked_when_only_the_vae_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let flux = dir.path().join("flux");
    let vae = FluxOptions::default().with_components([Component::Vae]);
    let ok = open_with(&flux, &vae, &[t5(&t5_folder(dir.path(), 32))]).unwrap();
    assert_eq!(ok.bytes, report.component("vae").unwrap().tensor_bytes());
    assert!(ok.files.iter().all(|f| f.starts_with(flux.join("vae"))));

    let wide = tempfile::tempdir().unwrap();
    let err = open_with(&flux, &vae, &[t5(&t5_folder(wide.path(), 64))]).unwrap_err();
    assert!(err.to_string().contains("context_embedder.weight"), "{err}");
}

#[test]
fn bfl_files_take_a_t5_checked_against_txt_in() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(&dir.path().join("bfl"), &FluxSpec::tiny()).unwrap();
    let bfl = dir.path().join("bfl");
    let options = FluxOptions::default().with_layout(LayoutChoice::Bfl);
    let own = open_with(&bfl, &options, &[]).unwrap();
    let given = open_with(&bfl, &options, &[t5(&t5_folder(dir.path(), 32))]).unwrap();
    // BFL files hold no text encoder: nothing to leave out.
    assert_eq!(own.bytes, given.bytes);

    let wide = tempfile::tempdir().unwrap();
    let err = open_with(&bfl, &options, &[t5(&t5_folder(wide.path(), 64))]).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, BackendError::Invalid { tensor: Some(t), .. } if t == "txt_in.weight"),
        "{text}"
    );
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("\"flux-test\""),
        "{text}"
    );
}

#[test]
fn an_mflux_tree_takes_a_t5_checked_against_its_quantized_context_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_mflux(&dir.path().join("mflux"), &MfluxSpec::tiny()).unwrap();
    let mflux = dir.path().join("mflux");
    let own = open_with(&mflux, &all(), &[]).unwrap();
    let shared = open_with(&mflux, &all(), &[t5(&t5_folder(dir.path(), 32))]).unwrap();
    assert_eq!(shared.layout.as_deref(), Some("mflux"));
    let part = report.component("text_encoder_2").unwrap();
    assert_eq!(own.bytes - shared.bytes, part.tensor_bytes());

    let wide = tempfile::tempdir().unwrap();
    let err = open_with(&mflux, &all(), &[t5(&t5_folder(wide.path(), 64))]).unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { tensor: Some(t), .. } if t == "context_embedder.weight"),
        "{err}"
    );
}

#[test]
fn a_given_clip_is_checked_against_the_pooled_input() {
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let flux = dir.path().join("flux");
    // Another tree's CLIP folder is a Hugging Face CLIPTextModel folder.
    let other = tempfile::tempdir().unwrap();
    write_flux_diffusers(other.path(), &FluxSpec::tiny().with_seed(3)).unwrap();
    let clip = Given {
        role: "text_encoder".into(),
        id: "clip-l".into(),
        path: other.path().join("text_encoder"),
        backend: "safetensors".into(),
    };
    let own = open_with(&flux, &all(), &[]).unwrap();
    let shared = open_with(&flux, &all(), std::slice::from_ref(&clip)).unwrap();
    let part = report.component("text_encoder").unwrap();
    assert_eq!(own.bytes - shared.bytes, part.tensor_bytes());

    // A T5 folder given as the CLIP is no CLIP.
    let wrong = Given {
        path: t5_folder(dir.path(), 32),
        ..clip
    };
    let err = open_with(&flux, &all(), &[wrong]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"clip-l\"") && text.contains("CLIP"),
        "{text}"
    );
}

#[test]
fn a_missing_or_malformed_t5_folder_is_refused_naming_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let flux = dir.path().join("flux");
    let missing = dir.path().join("no-such-t5");
    let err = open_with(&flux, &all(), &[t5(&missing)]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Missing { .. }), "{text}");
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("no-such-t5"),
        "{text}"
    );

    // A config.json that disagrees with the weights.
    let folder = t5_folder(dir.path(), 32);
    let config = folder.join("config.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    json["d_model"] = 64.into();
    std::fs::write(&config, json.to_string()).unwrap();
    let text = open_with(&flux, &all(), &[t5(&folder)])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("config.json"),
        "{text}"
    );
    assert!(text.contains("d_model is 64"), "{text}");

    // A header that is not safetensors.
    std::fs::write(&config, "{}").unwrap();
    let shard = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap();
    std::fs::write(&shard, b"\xff\xff\xff\xff\xff\xff\xff\xffnot a header").unwrap();
    let err = open_with(&flux, &all(), &[t5(&folder)]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"t5-xxl\""), "{text}");
}

#[test]
fn giving_every_listed_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(&dir.path().join("flux"), &FluxSpec::tiny()).unwrap();
    let only_t5 = FluxOptions::default().with_components([Component::TextEncoder2]);
    let given = [t5(&t5_folder(dir.path(), 32))];
    let err = open_with(&dir.path().join("flux"), &only_t5, &given).unwrap_err();
    assert!(matches!(err, BackendError::Options { .. }), "{err}");
}

#[test]
fn a_role_flux_does_not_take_is_refused() {
    assert_eq!(
        Backend::components(&BACKEND),
        ["text_encoder", "text_encoder_2"]
    );
    let vae = Given {
        role: "vae".into(),
        ..t5(Path::new("/nowhere"))
    };
    let err = Arc::new(BACKEND)
        .prepare_using("flux-test", Path::new("/nowhere"), vec![vae.clone()], None)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("\"vae\"") && text.contains("text_encoder_2"),
        "{text}"
    );
    // Opened directly, the backend says the same.
    let err = open_with(Path::new("/nowhere"), &all(), &[vae]).unwrap_err();
    assert!(matches!(err, BackendError::Options { .. }), "{err}");
}
