//! Each way a checkpoint can disagree with its config is a typed error, from the hint and the
//! load alike, naming the file and the tensor; bad input never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{
    FILE, both_fail, diffusers, edit_config, edit_header, edit_json_file, invalid, options,
    single_file,
};
use modelcache_backend::{BackendError, BackendModel};
use modelcache_core::{CacheError, ModelCache, ModelPolicy};
use modelcache_ltx::{BACKEND, Component, LtxModel, LtxOptions};
use modelcache_testkit::LtxSpec;
use modelcache_testkit::ltx::{single_file_keys, single_file_metadata};
use serde_json::{Value, json};

#[test]
fn config_metadata_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_header(&file, |h| {
        h.remove("__metadata__");
    });
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!((path, tensor), (file.as_path(), None));
    assert!(reason.contains("no `config`"), "{reason}");
    assert!(err.to_string().contains(FILE), "{err}");
}

#[test]
fn config_metadata_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    for bad in ["{transformer: 1", "[1, 2]", "\"text\""] {
        edit_header(&file, |h| {
            h["__metadata__"]["config"] = Value::String(bad.into());
        });
        let err = both_fail(&file, &LtxOptions::default());
        let (path, _, reason) = invalid(&err);
        assert_eq!(path, file);
        assert!(
            reason.contains("__metadata__ `config` is not"),
            "{bad}: {reason}"
        );
    }
}

#[test]
fn config_entries_missing_or_ill_typed() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 6] = [
        (
            "no transformer",
            |c| drop(c.as_object_mut().unwrap().remove("transformer")),
            "no `transformer` entry",
        ),
        (
            "transformer not an object",
            |c| c["transformer"] = json!(5),
            "`transformer` is not a JSON object",
        ),
        (
            "no num_layers",
            |c| {
                drop(
                    c["transformer"]
                        .as_object_mut()
                        .unwrap()
                        .remove("num_layers"),
                )
            },
            "missing field `num_layers`",
        ),
        (
            "negative layers",
            |c| c["transformer"]["num_layers"] = json!(-1),
            "`num_layers` is -1; expected a non-negative integer",
        ),
        (
            "no latent_channels",
            |c| drop(c["vae"].as_object_mut().unwrap().remove("latent_channels")),
            "missing field `latent_channels`",
        ),
        (
            "bad block",
            |c| c["vae"]["blocks"] = json!([["res_x"]]),
            "blocks[0]",
        ),
    ];
    for (what, edit, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
        edit_config(&file, edit);
        let err = both_fail(&file, &LtxOptions::default());
        let (path, tensor, reason) = invalid(&err);
        assert_eq!((path, tensor), (file.as_path(), None), "{what}");
        assert!(reason.contains(says), "{what}: {reason}");
    }
}

#[test]
fn more_layers_in_the_config_than_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| c["transformer"]["num_layers"] = json!(3));
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!(path, file);
    assert_eq!(
        tensor,
        Some("model.diffusion_model.transformer_blocks.2.attn1.q_norm.weight")
    );
    assert!(
        reason.starts_with("missing")
            && reason.contains("num_layers is 3")
            && reason.contains("2 blocks"),
        "{reason}"
    );
    assert!(
        err.to_string()
            .contains("transformer_blocks.2.attn1.q_norm.weight")
    );
}

#[test]
fn fewer_layers_in_the_config_than_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| c["transformer"]["num_layers"] = json!(1));
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!(path, file);
    assert!(
        tensor
            .unwrap()
            .starts_with("model.diffusion_model.transformer_blocks.1."),
        "{tensor:?}"
    );
    assert!(
        reason.contains("beyond the config's num_layers = 1"),
        "{reason}"
    );
}

#[test]
fn a_width_that_disagrees_with_heads_times_head_dim() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| {
        c["transformer"]["num_attention_heads"] = json!(4)
    });
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!(path, file);
    assert_eq!(tensor, Some("model.diffusion_model.patchify_proj.weight"));
    assert!(
        reason.contains("[32, 8]") && reason.contains("[64, 8]"),
        "{reason}"
    );
    assert!(
        reason.contains("num_attention_heads 4 × attention_head_dim 16 = inner dim 64"),
        "{reason}"
    );

    // The cross-attention width too.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| {
        c["transformer"]["cross_attention_dim"] = json!(48)
    });
    let err = both_fail(&file, &LtxOptions::default());
    let (_, tensor, _) = invalid(&err);
    assert_eq!(
        tensor,
        Some("model.diffusion_model.transformer_blocks.0.attn2.to_k.weight")
    );
}

#[test]
fn vae_disagreements() {
    // Latent channels: the encoder's output conv is the first tensor that disagrees.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| c["vae"]["latent_channels"] = json!(16));
    let o = options(&[Component::Vae]);
    let err = both_fail(&file, &o);
    assert_eq!(invalid(&err).1, Some("vae.encoder.conv_out.conv.weight"));

    // One block fewer in the config.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| c["vae"]["blocks"][0] = json!(["res_x", 2]));
    let err = both_fail(&file, &o);
    let (_, tensor, reason) = invalid(&err);
    assert_eq!(
        tensor,
        Some("vae.encoder.down_blocks.0.res_blocks.1.conv1.conv.weight")
    );
    assert!(reason.starts_with("missing"), "{reason}");

    // The latent statistics are required.
    let dir = tempfile::tempdir().unwrap();
    let spec = LtxSpec::tiny();
    let [(_, t), (_, mut v)] = single_file_keys(&spec);
    v.retain(|t| t.name != "vae.per_channel_statistics.std-of-means");
    let file = dir.path().join(FILE);
    let all: Vec<_> = t.into_iter().chain(v).collect();
    modelcache_testkit::write_safetensors(&file, &all, Some(&single_file_metadata(&spec)), 0)
        .unwrap();
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, _) = invalid(&err);
    assert_eq!(
        (path, tensor),
        (
            file.as_path(),
            Some("vae.per_channel_statistics.std-of-means")
        )
    );
    // ... and the transformer alone still loads.
    common::load(&file, &options(&[Component::Transformer])).unwrap();
}

#[test]
fn a_file_without_one_component() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LtxSpec::tiny();
    let [(_, t), _] = single_file_keys(&spec);
    let file = dir.path().join(FILE);
    modelcache_testkit::write_safetensors(&file, &t, Some(&single_file_metadata(&spec)), 0)
        .unwrap();
    let err = both_fail(&file, &LtxOptions::default());
    assert!(invalid(&err).2.contains("no `vae.*` tensor"), "{err}");
    common::load(&file, &options(&[Component::Transformer])).unwrap();
}

#[test]
fn components_that_do_not_belong_together() {
    // Each component matches its own config, but the transformer reads 16 latent channels
    // and the VAE makes 8.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = LtxSpec::tiny();
    spec.transformer.in_channels = 16;
    let (file, _) = single_file(dir.path(), &spec);
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!(
        (path, tensor),
        (
            file.as_path(),
            Some("model.diffusion_model.patchify_proj.weight")
        )
    );
    assert!(reason.contains("latent_channels is 8"), "{reason}");
    common::load(&file, &options(&[Component::Transformer])).unwrap();

    // The text encoder's width against the transformer's caption channels.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = LtxSpec::tiny();
    spec.t5.d_model = 64;
    diffusers(dir.path(), &spec);
    let all = options(&[Component::Transformer, Component::TextEncoder]);
    let err = both_fail(dir.path(), &all);
    let (path, tensor, reason) = invalid(&err);
    assert!(path.starts_with(dir.path().join("transformer")), "{path:?}");
    assert_eq!(tensor, Some("caption_projection.linear_1.weight"));
    assert!(reason.contains("d_model is 64"), "{reason}");
}

#[test]
fn diffusers_configs_are_checked_against_the_shards() {
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    let config = dir.path().join("transformer/config.json");
    edit_json_file(&config, |c| c["num_layers"] = json!(3));
    let err = both_fail(dir.path(), &LtxOptions::default());
    let (path, tensor, _) = invalid(&err);
    assert!(
        path.ends_with("transformer/diffusion_pytorch_model.safetensors.index.json"),
        "{path:?}"
    );
    assert_eq!(tensor, Some("transformer_blocks.2.attn1.norm_q.weight"));

    edit_json_file(&config, |c| {
        c["num_layers"] = json!(2);
        c["attention_head_dim"] = json!(8);
    });
    let err = both_fail(dir.path(), &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert!(
        path.to_string_lossy()
            .contains("transformer/diffusion_pytorch_model-0000"),
        "{path:?}"
    );
    assert_eq!(tensor, Some("proj_in.weight"));
    assert!(reason.contains("transformer/config.json"), "{reason}");

    std::fs::write(&config, "{not json").unwrap();
    let err = both_fail(dir.path(), &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!((path, tensor), (config.as_path(), None));
    assert!(reason.contains("not JSON"), "{reason}");

    std::fs::remove_file(&config).unwrap();
    let err = both_fail(dir.path(), &LtxOptions::default());
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if *path == config),
        "{err}"
    );

    // The VAE's config.
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    let vae = dir.path().join("vae/config.json");
    edit_json_file(&vae, |c| c["layers_per_block"] = json!([1, 2, 1, 1, 1]));
    let err = both_fail(dir.path(), &options(&[Component::Vae]));
    assert_eq!(
        invalid(&err).1,
        Some("encoder.down_blocks.1.resnets.1.conv1.conv.weight")
    );
    edit_json_file(&vae, |c| c["layers_per_block"] = json!([1, 1]));
    let err = both_fail(dir.path(), &options(&[Component::Vae]));
    assert!(invalid(&err).2.contains("layers_per_block"), "{err}");
}

#[test]
fn diffusers_tree_problems() {
    // Weights gone from a component folder: the error says which files it expected.
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    std::fs::remove_file(dir.path().join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let err = both_fail(dir.path(), &LtxOptions::default());
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path.ends_with("vae")),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("diffusion_pytorch_model.safetensors"),
        "{err}"
    );

    // Not an LTX pipeline.
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    edit_json_file(&dir.path().join("model_index.json"), |c| {
        c["_class_name"] = json!("FluxPipeline")
    });
    let err = both_fail(dir.path(), &LtxOptions::default());
    assert!(
        err.to_string().contains("FluxPipeline") && err.to_string().contains("model_index.json"),
        "{err}"
    );

    // A component model_index.json does not list.
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    edit_json_file(&dir.path().join("model_index.json"), |c| {
        c.as_object_mut().unwrap().remove("text_encoder");
    });
    let err = both_fail(dir.path(), &options(&[Component::TextEncoder]));
    assert!(
        matches!(&err, BackendError::Checkpoint { .. }) && err.to_string().contains("text_encoder"),
        "{err}"
    );
}

#[test]
fn weights_errors_stay_typed_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 1).unwrap();
    let err = both_fail(&file, &LtxOptions::default());
    let BackendError::Checkpoint { path, source } = &err else {
        panic!("expected Checkpoint, got {err:?}");
    };
    assert_eq!(path, &file);
    let weights = source
        .downcast_ref::<modelcache_weights::WeightsError>()
        .expect("a WeightsError inside");
    assert!(
        matches!(weights, modelcache_weights::WeightsError::Truncated { .. }),
        "{weights}"
    );
}

#[test]
fn a_dtype_candle_cannot_hold_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LtxSpec {
        extra_statistics: true,
        ..LtxSpec::tiny()
    };
    let (file, _) = single_file(dir.path(), &spec);
    // `channel` is F32 [8] (32 bytes): the same bytes as I8 [32].
    edit_header(&file, |h| {
        let t = &mut h["vae.per_channel_statistics.channel"];
        t["dtype"] = json!("I8");
        t["shape"] = json!([32]);
    });
    let err = both_fail(&file, &LtxOptions::default());
    let (path, tensor, reason) = invalid(&err);
    assert_eq!(
        (path, tensor),
        (file.as_path(), Some("vae.per_channel_statistics.channel"))
    );
    assert!(reason.contains("I8"), "{reason}");
}

#[test]
fn absurd_configs_fail_fast_without_panicking() {
    let edits: [fn(&mut Value); 6] = [
        |c| c["transformer"]["num_layers"] = json!(u64::MAX),
        |c| c["transformer"]["num_attention_heads"] = json!(u64::MAX),
        |c| c["transformer"]["in_channels"] = json!(u64::MAX),
        |c| c["vae"]["blocks"] = json!([["res_x", u64::MAX], ["res_x_y", 1]]),
        |c| c["vae"]["blocks"] = json!(vec![json!(["res_x_y", 1]); 200]),
        |c| c["vae"]["patch_size"] = json!(u64::MAX),
    ];
    for edit in edits {
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
        edit_config(&file, edit);
        let err = both_fail(&file, &LtxOptions::default());
        assert!(err.to_string().contains(FILE), "{err}");
    }
}

#[test]
fn through_the_cache_the_error_names_the_model_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = single_file(dir.path(), &LtxSpec::tiny());
    edit_config(&file, |c| c["transformer"]["num_layers"] = json!(3));
    let cache = ModelCache::new(1 << 30);
    let loader = BackendModel::new(Arc::new(BACKEND), "ltx-2b", &file, LtxOptions::default());
    cache
        .register("ltx-2b", Arc::new(loader), ModelPolicy::default())
        .unwrap();
    let err = cache.get::<LtxModel>("ltx-2b").map(|_| ()).unwrap_err();
    assert!(matches!(err, CacheError::Load { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        "\"ltx-2b\"",
        FILE,
        "transformer_blocks.2",
        "num_layers is 3",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
}

#[test]
fn options_as_written_in_models_toml() {
    use modelcache_backend::DynBackend;
    let table: toml::Table = toml::from_str(
        r#"options = { components = ["transformer", "vae", "text_encoder"], layout = "diffusers", dtype = "bf16" }"#,
    )
    .unwrap();
    let options = toml::Value::Table(table["options"].as_table().unwrap().clone());
    let mut de = <dyn modelcache_backend::erased_serde::Deserializer>::erase(options);
    let dir = tempfile::tempdir().unwrap();
    diffusers(dir.path(), &LtxSpec::tiny());
    let loader = Arc::new(BACKEND)
        .prepare("m", dir.path(), Some(&mut de))
        .unwrap();
    assert!(loader.memory_hint().unwrap() > 0);

    for bad in [
        r#"options = { layout = "diffusers", file = "a.safetensors" }"#,
        r#"options = { components = ["text_encoder"], layout = "single_file" }"#,
        r#"options = { components = [] }"#,
        r#"options = { dtype = "int8" }"#,
        r#"options = { typo = 1 }"#,
    ] {
        let table: toml::Table = toml::from_str(bad).unwrap();
        let options = toml::Value::Table(table["options"].as_table().unwrap().clone());
        let mut de = <dyn modelcache_backend::erased_serde::Deserializer>::erase(options);
        let err = Arc::new(BACKEND)
            .prepare("m", dir.path(), Some(&mut de))
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, BackendError::Options { .. }), "{bad}: {err}");
    }
}
