//! `write_bundle`: the model folders, the marker, replacement of an old bundle, no leftovers.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::check_fixture;
use modelcache_testkit::{BUNDLE_MODELS, MARKER_FILE, bundle_is_current, write_bundle};
use serde_json::Value;

#[test]
fn writes_replaces_and_marks_a_bundle() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("fixtures");
    assert!(!bundle_is_current(&root, 3, None));

    let r = write_bundle(&root, 3, None).unwrap();
    assert_eq!(
        r.models.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        BUNDLE_MODELS
    );
    for (_, m) in &r.models {
        assert!(m.dir.starts_with(&root));
        check_fixture(m);
    }
    assert!(
        root.join("flux-schnell/flux1-schnell.safetensors")
            .is_file()
    );
    assert!(
        root.join("flux-schnell/transformer/diffusion_pytorch_model.safetensors.index.json")
            .is_file()
    );
    assert!(
        root.join("ltx-video/ltx-video-2b-v0.9.safetensors")
            .is_file()
    );
    assert!(root.join("kokoro/voices/af_heart.safetensors").is_file());
    assert!(
        root.join("flux-mflux-4bit/transformer/0.safetensors")
            .is_file()
    );
    assert!(root.join("ltx-diffusers/model_index.json").is_file());
    assert!(r.file_bytes() < 8 << 20, "{}", r.file_bytes());

    let marker: Value =
        serde_json::from_str(&fs::read_to_string(root.join(MARKER_FILE)).unwrap()).unwrap();
    assert_eq!(marker["seed"], 3);
    assert_eq!(marker["scale"], Value::Null);
    assert_eq!(
        marker["models"]["kokoro"]["file_bytes"],
        r.model("kokoro").unwrap().file_bytes
    );
    assert!(bundle_is_current(&root, 3, None));
    assert!(!bundle_is_current(&root, 4, None));
    assert!(!bundle_is_current(&root, 3, Some(1 << 30)));

    // Rewriting replaces the bundle in place and leaves no temporary or old folder behind.
    fs::write(root.join("stale-file"), b"x").unwrap();
    write_bundle(&root, 4, None).unwrap();
    assert!(bundle_is_current(&root, 4, None));
    assert!(!root.join("stale-file").exists());
    let names: Vec<String> = fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["fixtures"]);
}

#[test]
fn an_interrupted_bundle_is_not_current() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("fixtures");
    // A half-written bundle: folders but no marker.
    for m in BUNDLE_MODELS {
        fs::create_dir_all(root.join(m)).unwrap();
    }
    assert!(!bundle_is_current(&root, 0, None));
}
