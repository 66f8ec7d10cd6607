//! What a load holds: the fixture's tensors, counted exactly, in the dtype asked for, for the
//! components asked for; and which layout a path resolves to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{FILE, diffusers, hint, load, options, single_file};
use modelcache_backend::{Backend, BackendError, BackendExt, LoadProgress, ModelSource};
use modelcache_ltx::{
    BACKEND, Component, Layout, LayoutChoice, LoadDtype, LtxModel, LtxOptions, Naming,
    VaeBlockLayout,
};
use modelcache_testkit::{ComponentReport, LtxSpec, TensorSpec};
use modelcache_weights::Dtype;

/// name -> (dtype, shape), as the fixture wrote them (prefix included).
fn expected(report: &ComponentReport) -> BTreeMap<String, (String, Vec<usize>)> {
    report
        .tensors
        .iter()
        .map(|t: &TensorSpec| {
            let shape = t.shape.iter().map(|&d| d as usize).collect();
            (t.name.clone(), (t.dtype.as_str().to_owned(), shape))
        })
        .collect()
}

/// name -> (dtype, shape), as loaded (prefix put back).
fn loaded(model: &LtxModel, component: Component) -> BTreeMap<String, (String, Vec<usize>)> {
    let weights = model.component(component).expect("component loaded");
    weights
        .iter()
        .map(|(name, t)| {
            let dtype = Dtype::from(t.dtype()).as_str().to_owned();
            (
                format!("{}{name}", weights.prefix()),
                (dtype, t.dims().to_vec()),
            )
        })
        .collect()
}

#[test]
fn single_file_loads_the_fixture_tensors_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = single_file(dir.path(), &LtxSpec::tiny());
    let model = load(&file, &LtxOptions::default()).unwrap();
    assert_eq!(model.layout(), &Layout::SingleFile { file: file.clone() });
    for (component, name) in [
        (Component::Transformer, "transformer"),
        (Component::Vae, "vae"),
    ] {
        let want = expected(report.component(name).unwrap());
        assert_eq!(loaded(&model, component), want, "{name}");
        assert_eq!(
            model.component(component).unwrap().naming(),
            Naming::Original
        );
    }
    assert!(model.text_encoder().is_none());
    let t = model.transformer().unwrap();
    assert_eq!(t.prefix(), "model.diffusion_model.");
    assert!(t.get("adaln_single.linear.weight").is_some());
    assert!(
        t.get("model.diffusion_model.adaln_single.linear.weight")
            .is_none()
    );
    let c = model.config().transformer().unwrap();
    assert_eq!(
        (
            c.num_layers(),
            c.inner_dim(),
            c.in_channels(),
            c.caption_channels()
        ),
        (2, 32, 8, 32)
    );
    let vae = model.config().vae().unwrap();
    assert_eq!(vae.latent_channels(), 8);
    assert!(
        matches!(vae.block_layout(), VaeBlockLayout::Flat { blocks, .. } if blocks.len() == 10)
    );
}

#[test]
fn mixed_bf16_transformer_and_f32_vae_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = single_file(dir.path(), &LtxSpec::tiny());
    let t = report.component("transformer").unwrap();
    let v = report.component("vae").unwrap();
    assert!(t.tensors.iter().all(|t| t.dtype.as_str() == "BF16"));
    assert!(v.tensors.iter().all(|t| t.dtype.as_str() == "F32"));
    let stored = t.tensor_bytes() + v.tensor_bytes();

    let h = hint(&file, &LtxOptions::default()).unwrap();
    let model = load(&file, &LtxOptions::default()).unwrap();
    assert_eq!(h, stored);
    assert_eq!(model.resident_bytes(), stored);
    assert_eq!(BACKEND.resident_bytes(&model), Some(stored));
    assert_eq!(
        model.transformer().unwrap().resident_bytes(),
        t.tensor_bytes()
    );
    assert_eq!(model.vae().unwrap().resident_bytes(), v.tensor_bytes());
}

#[test]
fn dtype_conversion_is_in_the_hint_and_the_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = single_file(dir.path(), &LtxSpec::tiny());
    let numel = |name: &str| -> u64 {
        report
            .component(name)
            .unwrap()
            .tensors
            .iter()
            .map(TensorSpec::numel)
            .sum()
    };
    let all = numel("transformer") + numel("vae");
    for (dtype, size, candle) in [
        (LoadDtype::F32, 4, Dtype::F32),
        (LoadDtype::Bf16, 2, Dtype::BF16),
        (LoadDtype::F16, 2, Dtype::F16),
    ] {
        let options = LtxOptions {
            dtype: Some(dtype),
            ..LtxOptions::default()
        };
        let h = hint(&file, &options).unwrap();
        let model = load(&file, &options).unwrap();
        assert_eq!(h, all * size, "{dtype:?}");
        assert_eq!(model.resident_bytes(), h, "{dtype:?}");
        for weights in model.components() {
            assert!(
                weights
                    .iter()
                    .all(|(_, t)| Dtype::from(t.dtype()) == candle)
            );
        }
    }
}

#[test]
fn only_the_selected_components_are_counted_and_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (file, report) = single_file(dir.path(), &LtxSpec::tiny());
    let vae_bytes = report.component("vae").unwrap().tensor_bytes();
    let o = options(&[Component::Vae]);
    assert_eq!(hint(&file, &o).unwrap(), vae_bytes);
    let model = load(&file, &o).unwrap();
    assert!(model.transformer().is_none() && model.config().transformer().is_none());
    assert_eq!(model.resident_bytes(), vae_bytes);

    let dir = tempfile::tempdir().unwrap();
    let report = diffusers(dir.path(), &LtxSpec::tiny());
    let bytes = |names: &[&str]| -> u64 {
        names
            .iter()
            .map(|n| report.component(n).unwrap().tensor_bytes())
            .sum()
    };
    for (components, names) in [
        (&[Component::TextEncoder][..], &["text_encoder"][..]),
        (
            &[Component::Transformer, Component::Vae],
            &["transformer", "vae"],
        ),
        (
            &[
                Component::Vae,
                Component::TextEncoder,
                Component::Transformer,
            ],
            &["transformer", "vae", "text_encoder"],
        ),
    ] {
        let o = options(components);
        assert_eq!(hint(dir.path(), &o).unwrap(), bytes(names), "{names:?}");
        let model = load(dir.path(), &o).unwrap();
        assert_eq!(model.resident_bytes(), bytes(names), "{names:?}");
        let got: Vec<Component> = model.components().map(|c| c.component()).collect();
        let mut want = components.to_vec();
        want.sort();
        assert_eq!(got, want);
    }
}

#[test]
fn diffusers_tree_loads_the_fixture_tensors_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let report = diffusers(dir.path(), &LtxSpec::tiny());
    let o = options(&[
        Component::Transformer,
        Component::Vae,
        Component::TextEncoder,
    ]);
    let model = load(dir.path(), &o).unwrap();
    assert_eq!(
        model.layout(),
        &Layout::Diffusers {
            root: dir.path().to_path_buf()
        }
    );
    for (component, name) in [
        (Component::Transformer, "transformer"),
        (Component::Vae, "vae"),
        (Component::TextEncoder, "text_encoder"),
    ] {
        assert_eq!(
            loaded(&model, component),
            expected(report.component(name).unwrap())
        );
        assert_eq!(
            model.component(component).unwrap().naming(),
            Naming::Diffusers
        );
    }
    assert!(model.transformer().unwrap().get("proj_in.weight").is_some());
    assert_eq!(model.config().text_encoder().unwrap().d_model(), 32);
    assert!(matches!(
        model.config().vae().unwrap().block_layout(),
        VaeBlockLayout::Levels { .. }
    ));
}

#[test]
fn progress_adds_up_to_the_bytes_read() {
    #[derive(Default)]
    struct Count {
        total: AtomicU64,
        advanced: AtomicU64,
        finished: AtomicU64,
    }
    impl LoadProgress for Count {
        fn start(&self, total: u64) {
            self.total.store(total, Ordering::Relaxed);
        }
        fn advance(&self, bytes: u64) {
            self.advanced.fetch_add(bytes, Ordering::Relaxed);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let report = diffusers(dir.path(), &LtxSpec::tiny());
    let count = Count::default();
    let o = LtxOptions {
        dtype: Some(LoadDtype::Bf16),
        ..LtxOptions::default()
    };
    let source = ModelSource::new("m", dir.path(), &o);
    BACKEND.open_and_load(&source, &count).unwrap();
    let read = report.component("transformer").unwrap().tensor_bytes()
        + report.component("vae").unwrap().tensor_bytes();
    assert_eq!(count.total.load(Ordering::Relaxed), read);
    assert_eq!(count.advanced.load(Ordering::Relaxed), read);
    assert_eq!(count.finished.load(Ordering::Relaxed), 1);
}

#[test]
fn auto_layout_rule() {
    // A folder with both: model_index.json wins; `file` or `layout` picks the single file.
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    let layout = |o: &LtxOptions| load(dir.path(), o).unwrap().layout().clone();
    assert_eq!(
        layout(&LtxOptions::default()),
        Layout::Diffusers {
            root: dir.path().to_path_buf()
        }
    );
    let single = Layout::SingleFile { file: file.clone() };
    let named = LtxOptions {
        file: Some(FILE.into()),
        ..LtxOptions::default()
    };
    assert_eq!(layout(&named), single);
    let forced = LtxOptions {
        layout: LayoutChoice::SingleFile,
        ..LtxOptions::default()
    };
    assert_eq!(layout(&forced), single);

    // Several versions side by side: an error listing them, until one is named.
    let dir = tempfile::tempdir().unwrap();
    single_file(dir.path(), &LtxSpec::tiny());
    let v091 = LtxSpec {
        file_name: "ltx-video-2b-v0.9.1.safetensors".into(),
        ..LtxSpec::tiny()
    };
    single_file(dir.path(), &v091);
    let err = common::both_fail(dir.path(), &LtxOptions::default());
    let text = err.to_string();
    assert!(
        text.contains(FILE) && text.contains("v0.9.1.safetensors") && text.contains("`file`"),
        "{text}"
    );
    let pick = LtxOptions {
        file: Some(v091.file_name.clone()),
        ..LtxOptions::default()
    };
    assert_eq!(
        load(dir.path(), &pick).unwrap().layout(),
        &Layout::SingleFile {
            file: dir.path().join(&v091.file_name)
        }
    );

    // One LTX file among other safetensors files is found by its header.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    let data = [0u8; 4];
    modelcache_weights::write_safetensors(
        &dir.path().join("other.safetensors"),
        [modelcache_weights::TensorData::new(
            "w",
            Dtype::F32,
            &[1],
            &data,
        )],
        None,
    )
    .unwrap();
    assert_eq!(
        load(dir.path(), &LtxOptions::default()).unwrap().layout(),
        &Layout::SingleFile { file }
    );
}

#[test]
fn layout_mismatches_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());

    // layout = "diffusers" without model_index.json.
    let o = LtxOptions {
        layout: LayoutChoice::Diffusers,
        ..LtxOptions::default()
    };
    let err = common::both_fail(dir.path(), &o);
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path.ends_with("model_index.json")),
        "{err}"
    );
    let err = common::both_fail(&file, &o);
    assert!(err.to_string().contains(FILE), "{err}");

    // `file` on a file path; a file that does not exist.
    let o = LtxOptions {
        file: Some("x.safetensors".into()),
        ..LtxOptions::default()
    };
    assert!(common::both_fail(&file, &o).to_string().contains(FILE));
    let err = common::both_fail(dir.path(), &o);
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path.ends_with("x.safetensors")),
        "{err}"
    );

    // The text encoder is not in a single file.
    let o = options(&[Component::TextEncoder]);
    let err = common::both_fail(&file, &o);
    assert!(
        matches!(&err, BackendError::Missing { .. }) && err.to_string().contains("text encoder"),
        "{err}"
    );

    // Not a safetensors file; an empty folder.
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hi").unwrap();
    assert!(
        common::both_fail(&other, &LtxOptions::default())
            .to_string()
            .contains("notes.txt")
    );
    let empty = tempfile::tempdir().unwrap();
    let err = common::both_fail(empty.path(), &LtxOptions::default());
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path == empty.path()),
        "{err}"
    );
}

#[test]
fn the_backend_is_shareable_and_named_ltx() {
    assert!(BACKEND.shareable());
    assert_eq!(BACKEND.name(), "ltx");
}

#[test]
fn other_dimensions_validate_in_both_layouts() {
    use modelcache_testkit::ltx::LtxVaeConfig;
    let mut varied = LtxSpec::tiny().with_seed(3);
    varied.transformer.attention_bias = false;
    varied.transformer.num_layers = 3;
    varied.transformer.cross_attention_dim = 24;
    varied.vae = LtxVaeConfig {
        block_out_channels: vec![4, 4, 8, 16],
        layers_per_block: vec![2, 1, 0, 1, 2],
        spatio_temporal_scaling: vec![true, false, true, false],
        ..LtxVaeConfig::tiny()
    };
    // Scaling grows the transformer (heads and layers) to about 3 MiB.
    for spec in [varied, LtxSpec::tiny().with_scale(3 << 20)] {
        let dir = tempfile::tempdir().unwrap();
        let (file, report) = single_file(dir.path(), &spec);
        let model = load(&file, &LtxOptions::default()).unwrap();
        assert_eq!(model.resident_bytes(), report.tensor_bytes());
        assert_eq!(
            hint(&file, &LtxOptions::default()).unwrap(),
            report.tensor_bytes()
        );

        let dir = tempfile::tempdir().unwrap();
        let report = diffusers(dir.path(), &spec);
        let o = options(&[
            Component::Transformer,
            Component::Vae,
            Component::TextEncoder,
        ]);
        let model = load(dir.path(), &o).unwrap();
        assert_eq!(model.resident_bytes(), report.tensor_bytes());
        assert_eq!(hint(dir.path(), &o).unwrap(), report.tensor_bytes());
    }
}
