//! What the safetensors backend promises beyond the suite: exact sizes with every option, the
//! names it hands over, and clear errors for what it refuses.
#![allow(clippy::unwrap_used)]

mod common;

use common::{load, source};
use modelcache_backend::{BackendError, BackendExt};
use modelcache_safetensors::{BACKEND, LoadDtype, SafetensorsOptions};
use modelcache_testkit::{BertSpec, write_bert};
use modelcache_weights::candle_core::DType;

#[test]
fn every_dtype_is_charged_exactly_and_integer_buffers_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BertSpec::tiny().with_position_ids();
    write_bert(dir.path(), &spec).unwrap();
    let keys = spec.keys();
    let params: u64 = keys
        .tensors()
        .iter()
        .filter(|t| t.name != "embeddings.position_ids")
        .map(|t| t.numel())
        .sum();
    let ids = spec.max_position_embeddings * 8;
    for (dtype, bytes, candle) in [
        (None, 4, DType::F32),
        (Some(LoadDtype::F32), 4, DType::F32),
        (Some(LoadDtype::Bf16), 2, DType::BF16),
        (Some(LoadDtype::F16), 2, DType::F16),
    ] {
        let options = match dtype {
            Some(d) => SafetensorsOptions::default().with_dtype(d),
            None => SafetensorsOptions::default(),
        };
        let (hint, model) = load(dir.path(), &options).unwrap();
        assert_eq!(hint, params * bytes + ids, "{dtype:?}");
        assert_eq!(model.resident_bytes(), hint, "{dtype:?}");
        assert_eq!(model.len(), keys.len());
        let ids = model.tensor("embeddings.position_ids").unwrap();
        assert_eq!(ids.dtype(), DType::I64);
        let w = model.tensor("encoder.layer.1.output.dense.weight").unwrap();
        assert_eq!(w.dtype(), candle);
        assert_eq!(w.dims(), [32, 64]);
    }
}

#[test]
fn shards_an_index_and_a_single_file_hold_the_same_tensors() {
    let single = tempfile::tempdir().unwrap();
    write_bert(single.path(), &BertSpec::tiny()).unwrap();
    let sharded = tempfile::tempdir().unwrap();
    let report = write_bert(sharded.path(), &BertSpec::tiny().sharded(64 * 1024)).unwrap();
    let shards = report.component("bert").unwrap().files.len();
    assert!(shards >= 2, "{shards} shard(s)");
    let options = SafetensorsOptions::default();
    let opened = BACKEND.inspect(&source(sharded.path(), &options)).unwrap();
    assert_eq!(opened.files.len(), shards);
    let layout = opened.layout.unwrap();
    assert!(layout.contains("sharded"), "{layout}");

    let (_, a) = load(single.path(), &options).unwrap();
    let index = sharded.path().join("model.safetensors.index.json");
    let (_, b) = load(&index, &options).unwrap();
    assert_eq!(a.len(), b.len());
    for (name, t) in a.tensors() {
        let u = b.tensor(name).unwrap();
        let d = (t - u).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "{name}");
    }
}

#[test]
fn prefix_and_skip_select_and_rename_before_anything_is_charged() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BertSpec::tiny();
    write_bert(dir.path(), &spec).unwrap();
    let options = SafetensorsOptions::default()
        .with_prefix("encoder.layer.0.")
        .skipping(["encoder.layer.0.intermediate."]);
    let (hint, model) = load(dir.path(), &options).unwrap();
    let want: u64 = spec
        .keys()
        .tensors()
        .iter()
        .filter(|t| t.name.starts_with("encoder.layer.0.") && !t.name.contains("intermediate"))
        .map(|t| t.byte_len())
        .sum();
    assert_eq!(hint, want);
    assert!(model.tensor("attention.self.query.weight").is_some());
    assert!(
        model
            .tensor("encoder.layer.0.attention.self.query.weight")
            .is_none()
    );
    assert!(model.tensor("intermediate.dense.weight").is_none());
    assert!(model.tensors().all(|(n, _)| !n.starts_with("encoder.")));

    let options = SafetensorsOptions::default().with_prefix("bert.");
    let err = BACKEND.inspect(&source(dir.path(), &options)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(
        text.contains("\"bert.\"") && text.contains("embeddings."),
        "{text}"
    );
}

#[test]
fn a_pickle_only_folder_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"PK\x03\x04").unwrap();
    let options = SafetensorsOptions::default();
    let err = BACKEND.inspect(&source(dir.path(), &options)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Missing { .. }), "{err:?}");
    assert!(
        text.contains("pytorch_model.bin") && text.contains("pickle"),
        "{text}"
    );
    std::fs::remove_file(dir.path().join("pytorch_model.bin")).unwrap();
    let text = BACKEND
        .inspect(&source(dir.path(), &options))
        .unwrap_err()
        .to_string();
    assert!(text.contains("model.safetensors.index.json"), "{text}");
}

#[test]
fn a_bad_config_json_names_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    write_bert(dir.path(), &BertSpec::tiny()).unwrap();
    let config = dir.path().join("config.json");
    let options = SafetensorsOptions::default();
    std::fs::write(&config, "[1, 2]").unwrap();
    let text = BACKEND
        .inspect(&source(dir.path(), &options))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("config.json") && text.contains("an array"),
        "{text}"
    );
    std::fs::write(&config, "{\n  \"hidden_size\": 32,\n  oops\n}").unwrap();
    let text = BACKEND
        .inspect(&source(dir.path(), &options))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("config.json") && text.contains("line 3"),
        "{text}"
    );
    // Without one, the model loads and says it has none.
    std::fs::remove_file(&config).unwrap();
    let (_, model) = load(dir.path(), &options).unwrap();
    assert!(model.config().is_none());
}

#[test]
fn the_config_is_handed_over_and_parses_into_model_code_types() {
    #[derive(serde::Deserialize)]
    struct Bert {
        hidden_size: usize,
        num_hidden_layers: usize,
    }
    let dir = tempfile::tempdir().unwrap();
    write_bert(dir.path(), &BertSpec::tiny()).unwrap();
    let (_, model) = load(dir.path(), &SafetensorsOptions::default()).unwrap();
    let c: Bert = model.config_as().unwrap();
    assert_eq!((c.hidden_size, c.num_hidden_layers), (32, 2));
    let map = model.tensor_map();
    assert_eq!(map.len(), model.len());
}

#[test]
fn options_that_select_nothing_by_accident_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_bert(dir.path(), &BertSpec::tiny()).unwrap();
    for options in [
        SafetensorsOptions::default().with_prefix(""),
        SafetensorsOptions::default().skipping([""]),
    ] {
        let err = BACKEND.inspect(&source(dir.path(), &options)).unwrap_err();
        assert!(matches!(err, BackendError::Options { .. }), "{err:?}");
    }
    let options = SafetensorsOptions::default().skipping(["embeddings.", "encoder.", "pooler."]);
    let text = BACKEND
        .inspect(&source(dir.path(), &options))
        .unwrap_err()
        .to_string();
    assert!(text.contains("`skip`"), "{text}");
}
