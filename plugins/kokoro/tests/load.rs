//! What a load holds, and how the size hint predicts it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{fixture, hint, load};
use modelcache_backend::{DynBackend, LoadProgress, erased_serde};
use modelcache_kokoro::{BACKEND, KokoroOptions, LoadDtype, Widths};
use modelcache_weights::candle_core::DType;

#[test]
fn loaded_names_shapes_and_dtypes_are_the_fixtures() {
    let (dir, report) = fixture();
    let model = load(dir.path(), &KokoroOptions::default()).unwrap();
    let weights = report.component("kokoro").unwrap();
    assert_eq!(model.tensors().len(), weights.tensor_count());
    for t in &weights.tensors {
        let loaded = model
            .tensor(&t.name)
            .unwrap_or_else(|| panic!("{} not loaded", t.name));
        let dims: Vec<u64> = loaded.dims().iter().map(|&d| d as u64).collect();
        assert_eq!(dims, t.shape, "{}", t.name);
        assert_eq!(loaded.dtype(), DType::F32, "{}", t.name);
    }
    let voices: Vec<&str> = report
        .components
        .iter()
        .filter_map(|c| c.name.strip_prefix("voice:"))
        .collect();
    assert_eq!(model.voice_names().collect::<Vec<_>>(), voices);
    for name in voices {
        let want = &report.component(&format!("voice:{name}")).unwrap().tensors[0];
        let voice = model.voice(name).unwrap();
        let dims: Vec<u64> = voice.dims().iter().map(|&d| d as u64).collect();
        assert_eq!(dims, want.shape);
        assert_eq!(voice.dtype(), DType::F32);
    }
    let tiny = modelcache_testkit::kokoro::KokoroConfig::tiny();
    let w = model.widths();
    assert_eq!(
        (
            w.albert_embedding_size,
            w.decoder_dim,
            w.asr_res_dim,
            w.harmonic_num
        ),
        (8, 32, 8, 8)
    );
    assert_ne!(w, Widths::V1_0);
    assert_eq!(model.config().hidden_dim as u64, tiny.hidden_dim);
    assert_eq!(model.config().vocab.len(), 17);
}

#[test]
fn the_hint_is_exact_and_grows_by_each_selected_voice() {
    let (dir, report) = fixture();
    let bytes = |c: &str| report.component(c).unwrap().tensor_bytes();
    let base = bytes("kokoro");
    let cases: [(&[&str], u64); 3] = [
        (&["af_heart"], bytes("voice:af_heart")),
        (
            &["af_heart", "am_adam"],
            bytes("voice:af_heart") + bytes("voice:am_adam"),
        ),
        (&["bf_emma"], bytes("voice:bf_emma")),
    ];
    for (voices, voice_bytes) in cases {
        let options = KokoroOptions::default().with_voices(voices.iter().copied());
        let h = hint(dir.path(), &options).unwrap();
        assert_eq!(h, base + voice_bytes, "{voices:?}");
        assert_eq!(
            load(dir.path(), &options).unwrap().resident_bytes(),
            h,
            "{voices:?}"
        );
    }
    let all = hint(dir.path(), &KokoroOptions::default()).unwrap();
    assert_eq!(all, report.tensor_bytes());
    let model = load(dir.path(), &KokoroOptions::default()).unwrap();
    assert_eq!(model.resident_bytes(), all);
    assert_eq!(
        modelcache_backend::Backend::resident_bytes(&BACKEND, &model).unwrap_or(0),
        all
    );
}

#[test]
fn a_dtype_conversion_is_in_the_hint() {
    let (dir, report) = fixture();
    for (dtype, candle, bytes) in [
        (LoadDtype::Bf16, DType::BF16, report.tensor_bytes() / 2),
        (LoadDtype::F16, DType::F16, report.tensor_bytes() / 2),
        (LoadDtype::F32, DType::F32, report.tensor_bytes()),
    ] {
        let options = KokoroOptions::default().with_dtype(dtype);
        assert_eq!(hint(dir.path(), &options).unwrap(), bytes);
        let model = load(dir.path(), &options).unwrap();
        assert_eq!(model.resident_bytes(), bytes);
        assert!(model.tensors().all(|(_, t)| t.dtype() == candle));
        assert_eq!(model.voice("am_adam").unwrap().dtype(), candle);
    }
}

#[derive(Default)]
struct Counter {
    total: std::sync::atomic::AtomicU64,
    read: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicBool,
}

impl LoadProgress for Counter {
    fn start(&self, total: u64) {
        self.total
            .store(total, std::sync::atomic::Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.read
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
    fn finish(&self) {
        self.finished
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn progress_counts_every_byte_read() {
    use std::sync::atomic::Ordering::Relaxed;
    let (dir, report) = fixture();
    let options = KokoroOptions::default().with_dtype(LoadDtype::Bf16);
    let progress = Counter::default();
    let source = modelcache_backend::ModelSource::new("tts", dir.path(), &options);
    modelcache_backend::BackendExt::open_and_load(&BACKEND, &source, &progress).unwrap();
    assert_eq!(progress.total.load(Relaxed), report.tensor_bytes());
    assert_eq!(progress.read.load(Relaxed), report.tensor_bytes());
    assert!(progress.finished.load(Relaxed));
}

/// The options as models.toml gives them, through the type-erased registration path.
#[test]
fn options_parse_and_are_checked_when_registered() {
    let (dir, report) = fixture();
    let prepare = |json: &str| {
        let mut de = serde_json::Deserializer::from_str(json);
        let mut de = <dyn erased_serde::Deserializer>::erase(&mut de);
        Arc::new(BACKEND).prepare("tts", dir.path(), Some(&mut de))
    };
    let loader = prepare(r#"{"voices": ["am_adam"], "dtype": "f16"}"#).unwrap();
    let base = report.component("kokoro").unwrap().tensor_bytes();
    let voice = report.component("voice:am_adam").unwrap().tensor_bytes();
    assert_eq!(loader.memory_hint().unwrap(), (base + voice) / 2);
    assert_eq!(
        modelcache_backend::open_and_load(&*loader, &modelcache_core::NoProgress)
            .unwrap()
            .bytes(),
        (base + voice) / 2
    );
    assert!(prepare(r#"{"voices": "all"}"#).is_ok());
    for (json, says) in [
        (r#"{"voices": []}"#, "empty"),
        (r#"{"voices": ["am_adam", "am_adam"]}"#, "twice"),
        (r#"{"voices": ["../config"]}"#, "not a voice name"),
        (r#"{"voices": "am_adam"}"#, r#"["am_adam"]"#),
        (r#"{"dtype": "f64"}"#, "f64"),
        (r#"{"voice": ["am_adam"]}"#, "unknown field"),
    ] {
        let err = prepare(json)
            .err()
            .unwrap_or_else(|| panic!("{json} accepted"));
        assert!(
            matches!(err, modelcache_core::BackendError::Options { .. }),
            "{json}: {err:?}"
        );
        assert!(err.to_string().contains(says), "{json}: {err}");
    }
}

#[test]
fn one_model_serves_many_threads() {
    let (dir, _report) = fixture();
    let model = load(dir.path(), &KokoroOptions::default()).unwrap();
    assert!(modelcache_backend::Backend::shareable(&BACKEND));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let v = model.voice("af_heart").unwrap();
                v.sum_all().unwrap().to_scalar::<f32>().unwrap()
            });
        }
    });
}

/// The real dimensions: 548 tensors, 81,763,410 parameters, 54-voice-sized packs.
#[test]
#[ignore = "writes and loads about 330 MB"]
fn the_real_dimensions_load_and_the_hint_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let report =
        modelcache_testkit::write_kokoro_mlx(dir.path(), &modelcache_testkit::KokoroSpec::real())
            .unwrap();
    let weights = report.component("kokoro").unwrap();
    assert_eq!(weights.tensor_bytes(), 327_053_640);
    for options in [
        KokoroOptions::default(),
        KokoroOptions::default()
            .with_voices(["af_heart"])
            .with_dtype(LoadDtype::Bf16),
    ] {
        let h = hint(dir.path(), &options).unwrap();
        let model = load(dir.path(), &options).unwrap();
        assert_eq!(model.widths(), Widths::V1_0);
        let measured = model.resident_bytes();
        eprintln!(
            "{options:?}: hint {h}, measured {measured}, ratio {}",
            h as f64 / measured as f64
        );
        assert_eq!(h, measured);
    }
}
