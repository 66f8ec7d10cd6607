//! Bad input: a typed error naming the file, the tensor or field, and what is wrong. No panics.
#![allow(clippy::unwrap_used)]

mod common;

use common::{both_fail, edit_config, edit_weights, fixture, hint, invalid, load, spec};
use modelcache_core::BackendError;
use modelcache_kokoro::{KokoroOptions, Voices};
use modelcache_testkit::{Dtype, TensorSpec, write_safetensors};
use modelcache_weights::WeightsError;

const WEIGHTS: &str = "kokoro-v1_0.safetensors";

#[test]
fn an_unknown_voice_lists_the_available_ones_and_names_the_folder() {
    let (dir, _) = fixture();
    let options = KokoroOptions::default().with_voices(["af_heart", "zz_nobody"]);
    let err = both_fail(dir.path(), &options);
    let BackendError::Missing { path, what } = &err else {
        panic!("expected Missing, got {err:?}");
    };
    assert_eq!(path, &dir.path().join("voices/zz_nobody.safetensors"));
    let folder = dir.path().join("voices").display().to_string();
    assert!(what.contains(&folder), "{what}");
    assert!(what.contains("af_heart, am_adam, bf_emma"), "{what}");
    assert!(what.contains("\"tts\""), "names the model: {what}");

    std::fs::remove_dir_all(dir.path().join("voices")).unwrap();
    let err = both_fail(dir.path(), &options).to_string();
    assert!(
        err.contains("af_heart.safetensors") && err.contains("none"),
        "{err}"
    );
    let err = both_fail(dir.path(), &KokoroOptions::default());
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path.ends_with("voices")),
        "{err:?}"
    );
}

#[test]
fn an_empty_voice_folder_is_an_error_under_all() {
    let (dir, _) = fixture();
    for v in ["af_heart", "am_adam", "bf_emma"] {
        std::fs::remove_file(dir.path().join(format!("voices/{v}.safetensors"))).unwrap();
    }
    let err = both_fail(dir.path(), &KokoroOptions::default()).to_string();
    assert!(
        err.contains("voices") && err.contains("none found"),
        "{err}"
    );
}

#[test]
fn bad_config_json_names_the_file_and_the_field() {
    type Damage = Box<dyn Fn(&std::path::Path)>;
    let cases: [(&str, Damage); 5] = [
        (
            "not valid JSON",
            Box::new(|d| std::fs::write(d.join("config.json"), "{\"n_token\": ").unwrap()),
        ),
        (
            "missing field `hidden_dim`",
            Box::new(|d| edit_config(d, |v| drop(v.as_object_mut().unwrap().remove("hidden_dim")))),
        ),
        (
            "`plbert.num_attention_heads`: invalid type",
            Box::new(|d| edit_config(d, |v| v["plbert"]["num_attention_heads"] = "two".into())),
        ),
        (
            "`istftnet.upsample_rates`",
            Box::new(|d| edit_config(d, |v| v["istftnet"]["upsample_rates"] = 2.into())),
        ),
        (
            "`quantization`",
            Box::new(|d| edit_config(d, |v| v["quantization"] = serde_json::json!({"bits": 4}))),
        ),
    ];
    for (says, damage) in cases {
        let (dir, _) = fixture();
        damage(dir.path());
        let err = both_fail(dir.path(), &KokoroOptions::default());
        assert!(err.to_string().contains("config.json"));
        let (path, tensor, reason) = invalid(err);
        assert_eq!(path, dir.path().join("config.json"));
        assert_eq!(tensor, None);
        assert!(reason.contains(says), "{says:?} not in {reason:?}");
    }
    let (dir, _) = fixture();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = both_fail(dir.path(), &KokoroOptions::default());
    assert!(
        matches!(&err, BackendError::Missing { path, .. } if path.ends_with("config.json")),
        "{err:?}"
    );
}

#[test]
fn absurd_config_values_are_errors_not_panics() {
    for (field, value) in [
        ("hidden_dim", serde_json::json!(1u64 << 62)),
        ("hidden_dim", serde_json::json!(0)),
        ("hidden_dim", serde_json::json!(17)),
        ("style_dim", serde_json::json!(u64::MAX)),
        ("n_layer", serde_json::json!(1u64 << 40)),
        ("n_token", serde_json::json!(-3)),
        ("max_dur", serde_json::json!(2.5)),
    ] {
        let (dir, _) = fixture();
        edit_config(dir.path(), |v| v[field] = value.clone());
        let err = both_fail(dir.path(), &KokoroOptions::default()).to_string();
        assert!(
            err.contains("config.json") || err.contains(WEIGHTS),
            "{field}={value}: {err}"
        );
    }
    let (dir, _) = fixture();
    edit_config(dir.path(), |v| {
        v["istftnet"]["upsample_rates"] = serde_json::json!([1u64 << 40, 1u64 << 40])
    });
    let err = both_fail(dir.path(), &KokoroOptions::default()).to_string();
    assert!(err.contains("noise_convs.0.weight"), "{err}");
}

#[test]
fn a_voice_of_the_wrong_shape_names_the_voice_file() {
    for shape in [
        vec![30, 1, 12],
        vec![29, 1, 16],
        vec![30, 16],
        vec![30, 2, 16],
    ] {
        let (dir, _) = fixture();
        let file = dir.path().join("voices/am_adam.safetensors");
        write_safetensors(
            &file,
            &[TensorSpec::new("voice", Dtype::F32, shape.clone())],
            None,
            1,
        )
        .unwrap();
        for options in [
            KokoroOptions::default(),
            KokoroOptions::default().with_voices(["am_adam"]),
        ] {
            let err = both_fail(dir.path(), &options);
            let (path, tensor, reason) = invalid(err);
            assert_eq!(path, file, "{shape:?}");
            assert_eq!(tensor.as_deref(), Some("voice"));
            assert!(
                reason.contains("2 x style_dim 8") && reason.contains(">= 30"),
                "{reason}"
            );
        }
        // Voices that are not selected are not read.
        let options = KokoroOptions::default().with_voices(["af_heart"]);
        assert!(hint(dir.path(), &options).is_ok());
    }
    let (dir, _) = fixture();
    let file = dir.path().join("voices/am_adam.safetensors");
    write_safetensors(
        &file,
        &[TensorSpec::new("style", Dtype::F32, [30, 1, 16])],
        None,
        1,
    )
    .unwrap();
    let err = both_fail(dir.path(), &KokoroOptions::default());
    assert_eq!(invalid(err).1.as_deref(), Some("voice"));
    write_safetensors(
        &file,
        &[TensorSpec::new("voice", Dtype::U32, [30, 1, 16])],
        None,
        1,
    )
    .unwrap();
    assert!(
        invalid(both_fail(dir.path(), &KokoroOptions::default()))
            .2
            .contains("U32")
    );
}

#[test]
fn a_missing_tensor_names_the_file_and_the_tensor() {
    let gone = "predictor.F0.1.pool.weight_v";
    let (dir, _) = fixture();
    edit_weights(dir.path(), |t| t.retain(|t| t.name != gone));
    let err = both_fail(dir.path(), &KokoroOptions::default());
    let text = err.to_string();
    assert!(text.contains(WEIGHTS) && text.contains(gone), "{text}");
    let (path, tensor, reason) = invalid(err);
    assert_eq!(path, dir.path().join(WEIGHTS));
    assert_eq!(tensor.as_deref(), Some(gone));
    assert!(
        reason.starts_with("missing") && reason.contains("[16, 1, 3]"),
        "{reason}"
    );

    // A tensor a width is read from.
    let (dir, _) = fixture();
    edit_weights(dir.path(), |t| {
        t.retain(|t| t.name != "decoder.asr_res.0.weight_v")
    });
    let err = both_fail(dir.path(), &KokoroOptions::default());
    assert_eq!(
        invalid(err).1.as_deref(),
        Some("decoder.asr_res.0.weight_v")
    );
}

#[test]
fn a_wrong_width_names_the_tensor_and_the_rule() {
    let (dir, _) = fixture();
    edit_weights(dir.path(), |t| {
        spec(t, "predictor.lstm.weight_ih_l0").shape = vec![32, 25]
    });
    let err = both_fail(dir.path(), &KokoroOptions::default());
    let (path, tensor, reason) = invalid(err);
    assert_eq!(path, dir.path().join(WEIGHTS));
    assert_eq!(tensor.as_deref(), Some("predictor.lstm.weight_ih_l0"));
    assert!(
        reason.contains("[32, 25]") && reason.contains("[32, 24]"),
        "{reason}"
    );
    assert!(reason.contains("hidden_dim + style_dim = 24"), "{reason}");

    // config.json disagreeing with the weights.
    let (dir, _) = fixture();
    edit_config(dir.path(), |v| v["n_token"] = 40.into());
    let err = both_fail(dir.path(), &KokoroOptions::default());
    let (_, tensor, reason) = invalid(err);
    assert_eq!(
        tensor.as_deref(),
        Some("bert.embeddings.word_embeddings.weight")
    );
    assert!(reason.contains("n_token 40"), "{reason}");

    // A derived width is checked against every tensor that depends on it.
    let (dir, _) = fixture();
    edit_weights(dir.path(), |t| {
        spec(t, "decoder.encode.conv1.weight_v").shape = vec![33, 18, 3]
    });
    let (_, tensor, reason) = invalid(both_fail(dir.path(), &KokoroOptions::default()));
    assert_eq!(tensor.as_deref(), Some("decoder.encode.conv1.weight_g"));
    assert!(reason.contains("decoder width 33"), "{reason}");

    // A float is expected.
    let (dir, _) = fixture();
    edit_weights(dir.path(), |t| {
        spec(t, "bert.pooler.bias").dtype = Dtype::U32
    });
    let (_, tensor, reason) = invalid(both_fail(dir.path(), &KokoroOptions::default()));
    assert_eq!(tensor.as_deref(), Some("bert.pooler.bias"));
    assert!(reason.contains("U32"), "{reason}");
}

#[test]
fn block_counts_must_match_the_config() {
    let (dir, _) = fixture();
    edit_config(dir.path(), |v| v["n_layer"] = 2.into());
    let (_, tensor, reason) = invalid(both_fail(dir.path(), &KokoroOptions::default()));
    assert!(
        tensor.as_deref().unwrap().contains(".4.") || tensor.as_deref().unwrap().contains(".2."),
        "{tensor:?}"
    );
    assert!(reason.contains("n_layer"), "{reason}");

    let (dir, _) = fixture();
    edit_config(dir.path(), |v| v["n_layer"] = 4.into());
    let (_, tensor, reason) = invalid(both_fail(dir.path(), &KokoroOptions::default()));
    assert_eq!(
        tensor.as_deref(),
        Some("predictor.text_encoder.lstms.6.weight_ih_l0")
    );
    assert!(reason.contains("block 3 of n_layer 4"), "{reason}");

    let (dir, _) = fixture();
    edit_config(dir.path(), |v| {
        v["istftnet"]["resblock_kernel_sizes"] = serde_json::json!([3, 7])
    });
    edit_config(dir.path(), |v| {
        v["istftnet"]["resblock_dilation_sizes"] = serde_json::json!([[1], [1]])
    });
    let (_, tensor, _) = invalid(both_fail(dir.path(), &KokoroOptions::default()));
    assert!(
        tensor
            .as_deref()
            .unwrap()
            .starts_with("decoder.generator.resblocks."),
        "{tensor:?}"
    );
}

#[test]
fn weights_errors_keep_their_kind_and_name_the_file() {
    let (dir, _) = fixture();
    let file = dir.path().join(WEIGHTS);
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let err = both_fail(dir.path(), &KokoroOptions::default());
    let BackendError::Checkpoint { path, source } = &err else {
        panic!("expected Checkpoint, got {err:?}");
    };
    assert_eq!(path, &file);
    let weights = source.downcast_ref::<WeightsError>().unwrap();
    assert!(
        matches!(weights, WeightsError::Truncated { .. }),
        "{weights:?}"
    );
}

/// Under `voices = "all"`, a damaged voice pack is an error like any file; a deleted one is
/// simply not one of "all" (the conformance cases corrupt voice packs only when named).
#[test]
fn under_all_a_damaged_voice_is_an_error_and_a_deleted_one_is_absent() {
    use modelcache_conformance::Corruption;
    for corruption in Corruption::ALL {
        let (dir, _) = fixture();
        let file = dir.path().join("voices/am_adam.safetensors");
        corruption.apply(&file).unwrap();
        if corruption == Corruption::Deleted {
            let model = load(dir.path(), &KokoroOptions::default()).unwrap();
            assert_eq!(
                model.voice_names().collect::<Vec<_>>(),
                ["af_heart", "bf_emma"]
            );
            continue;
        }
        let err = both_fail(dir.path(), &KokoroOptions::default()).to_string();
        assert!(err.contains("am_adam.safetensors"), "{corruption:?}: {err}");
    }
}

#[test]
fn a_path_that_is_not_a_kokoro_folder_is_explained() {
    let (dir, _) = fixture();
    let file = dir.path().join(WEIGHTS);
    let err = both_fail(&file, &KokoroOptions::default());
    let (path, _, reason) = invalid(err);
    assert_eq!(path, file);
    assert!(
        reason.contains("not a folder") && reason.contains("config.json"),
        "{reason}"
    );

    std::fs::rename(&file, dir.path().join("kokoro-v1_0.pth")).unwrap();
    let err = both_fail(dir.path(), &KokoroOptions::default()).to_string();
    assert!(
        err.contains(WEIGHTS) && err.contains("PyTorch layout"),
        "{err}"
    );
}

#[test]
fn options_are_checked_by_hint_and_load_too() {
    let (dir, _) = fixture();
    let options = KokoroOptions::default().with_voices(Vec::<String>::new());
    assert_eq!(options.voices, Voices::Only(vec![]));
    let err = both_fail(dir.path(), &options);
    assert!(matches!(err, BackendError::Options { .. }), "{err:?}");
}
