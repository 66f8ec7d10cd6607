//! The T5 encoder from another cache entry: left out of the plan and the load (exactly its
//! bytes, files and tensors), its `d_model` checked against the transformer's
//! `caption_channels` from headers, with errors naming both models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{diffusers, options, single_file};
use modelcache_backend::{
    Backend, BackendError, BackendExt, Component as Given, DynBackend, Inspection, ModelSource,
    NoProgress,
};
use modelcache_ltx::{BACKEND, Component, LtxOptions};
use modelcache_testkit::LtxSpec;

const ALL: [Component; 3] = [
    Component::Transformer,
    Component::Vae,
    Component::TextEncoder,
];

fn t5(path: &Path) -> Given {
    Given {
        role: "text_encoder".into(),
        id: "t5-xxl".into(),
        path: path.to_path_buf(),
        backend: "safetensors".into(),
    }
}

/// A standalone T5 encoder folder `d_model` wide, in BF16, seed 0.
fn t5_folder(dir: &Path, d_model: u64) -> PathBuf {
    modelcache_testkit::write_tiny_t5(dir, d_model).unwrap()
}

fn source<'a>(
    path: &'a Path,
    o: &'a LtxOptions,
    given: &'a [Given],
) -> ModelSource<'a, LtxOptions> {
    ModelSource::new("ltx-test", path, o).with_components(given)
}

fn inspect(path: &Path, o: &LtxOptions, given: &[Given]) -> Result<Inspection, BackendError> {
    BACKEND.inspect(&source(path, o, given))
}

#[test]
fn a_given_t5_is_left_out_of_the_plan_and_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ltx");
    let report = diffusers(&tree, &LtxSpec::tiny());
    let all = options(&ALL);
    let own = inspect(&tree, &all, &[]).unwrap();
    let given = [t5(&t5_folder(dir.path(), 32))];
    let shared = inspect(&tree, &all, &given).unwrap();

    let part = report.component("text_encoder").unwrap();
    assert_eq!(own.bytes - shared.bytes, part.tensor_bytes());
    assert_eq!(
        own.tensors.unwrap() - shared.tensors.unwrap(),
        part.tensor_count()
    );
    assert!(
        shared
            .files
            .iter()
            .all(|f| !f.starts_with(tree.join("text_encoder")))
    );

    let model = BACKEND
        .open_and_load(&source(&tree, &all, &given), &NoProgress)
        .unwrap();
    assert!(model.component(Component::TextEncoder).is_none());
    assert!(model.config().text_encoder().is_none());
    assert!(model.config().transformer().is_some());
    assert_eq!(model.resident_bytes(), shared.bytes);
}

#[test]
fn a_t5_of_another_width_is_refused_naming_both_models() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ltx");
    diffusers(&tree, &LtxSpec::tiny());
    let given = [t5(&t5_folder(dir.path(), 64))];
    let err = inspect(&tree, &options(&ALL), &given).unwrap_err();
    let text = err.to_string();
    let BackendError::Invalid { path, tensor, .. } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        tensor.as_deref(),
        Some("caption_projection.linear_1.weight")
    );
    assert!(path.starts_with(tree.join("transformer")), "{text}");
    for needle in [
        "\"ltx-test\"",
        "\"t5-xxl\"",
        "32 wide",
        "64 wide",
        "d_model",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn a_single_file_takes_a_t5_checked_against_its_transformer() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(&dir.path().join("single"), &LtxSpec::tiny());
    // `text_encoder` listed: the single file has none, and the given one stands in.
    let listed = options(&ALL);
    let own = inspect(&file, &LtxOptions::default(), &[]).unwrap();
    let given = [t5(&t5_folder(dir.path(), 32))];
    assert_eq!(inspect(&file, &listed, &given).unwrap().bytes, own.bytes);

    let wide = tempfile::tempdir().unwrap();
    let given = [t5(&t5_folder(wide.path(), 64))];
    let err = inspect(&file, &LtxOptions::default(), &given).unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { tensor: Some(t), .. }
            if t == "model.diffusion_model.caption_projection.linear_1.weight"),
        "{err}"
    );

    // Only the VAE loaded: the transformer is still read for the check, and not counted.
    let vae = options(&[Component::Vae]);
    let err = inspect(&file, &vae, &given).unwrap_err();
    assert!(err.to_string().contains("\"t5-xxl\""), "{err}");
    let fits = [t5(&t5_folder(dir.path(), 32))];
    let only_vae = inspect(&file, &vae, &fits).unwrap();
    assert_eq!(only_vae.bytes, inspect(&file, &vae, &[]).unwrap().bytes);
    assert_eq!(only_vae.tensors, inspect(&file, &vae, &[]).unwrap().tensors);
}

#[test]
fn a_missing_t5_folder_is_refused_naming_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ltx");
    diffusers(&tree, &LtxSpec::tiny());
    let err = inspect(&tree, &options(&ALL), &[t5(&dir.path().join("gone"))]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Missing { .. }), "{text}");
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("gone"),
        "{text}"
    );

    // A folder without weights.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let text = inspect(&tree, &options(&ALL), &[t5(&empty)])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("empty"),
        "{text}"
    );
}

#[test]
fn giving_the_only_listed_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("ltx");
    diffusers(&tree, &LtxSpec::tiny());
    let given = [t5(&t5_folder(dir.path(), 32))];
    let err = inspect(&tree, &options(&[Component::TextEncoder]), &given).unwrap_err();
    assert!(matches!(err, BackendError::Options { .. }), "{err}");
}

#[test]
fn a_role_ltx_does_not_take_is_refused() {
    assert_eq!(Backend::components(&BACKEND), ["text_encoder"]);
    let wrong = Given {
        role: "text_encoder_2".into(),
        ..t5(Path::new("/nowhere"))
    };
    let err = Arc::new(BACKEND)
        .prepare_using("ltx-test", Path::new("/nowhere"), vec![wrong.clone()], None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("\"text_encoder_2\""), "{err}");
    let err = inspect(Path::new("/nowhere"), &LtxOptions::default(), &[wrong]).unwrap_err();
    assert!(matches!(err, BackendError::Options { .. }), "{err}");
}
