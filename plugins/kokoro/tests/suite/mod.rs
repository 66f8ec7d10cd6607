//! The Kokoro backend's one registration for tests: its conformance cases and how a fuzzer picks
//! its options. `tests/conformance.rs` mounts the suite on it; modelcache-reliability's probes,
//! property tests and fuzz targets include this file and run the same backend on the same
//! fixtures.

use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite, TensorParts};
use modelcache_kokoro::{
    KokoroBackend, KokoroModel, KokoroOptions, LoadDtype, VOICE_TENSOR, WEIGHTS_FILE,
};
use modelcache_testkit::{KokoroSpec, write_kokoro_mlx};

/// The tiny mlx-community folder.
pub fn tiny(dir: &Path) -> std::io::Result<PathBuf> {
    write_kokoro_mlx(dir, &KokoroSpec::tiny())?;
    Ok(dir.to_path_buf())
}

/// The weights file and the named voices: what a load with those voices reads.
pub fn files(voices: &'static [&'static str]) -> impl Fn(&Path) -> Vec<PathBuf> + Send + Sync {
    move |model: &Path| {
        let mut files = vec![model.join(WEIGHTS_FILE)];
        files.extend(
            voices
                .iter()
                .map(|v| model.join(format!("voices/{v}.safetensors"))),
        );
        files
    }
}

/// A model's weights, then each voice pack it loaded (what the suite compares value by value).
pub fn parts(model: &KokoroModel) -> TensorParts {
    let weights = model.tensors().map(|(n, t)| (n.to_owned(), t.clone()));
    let voices = model.voice_names().map(|n| {
        let voice = model.voice(n).map(|t| (VOICE_TENSOR.to_owned(), t.clone()));
        (format!("voices/{n}"), voice.into_iter().collect())
    });
    std::iter::once(("weights".to_owned(), weights.collect()))
        .chain(voices)
        .collect()
}

/// Every voice selection, with the options that select it.
pub fn suite() -> Suite<KokoroBackend> {
    Suite::new(KokoroBackend)
        .options_selector(options)
        .parts(parts)
        // With `voices = "all"` a deleted voice pack is not an error (it is simply not there), so
        // the suite's corruptions apply to the weights file here; the cases below corrupt voice
        // packs, and tests/errors.rs checks the other corruptions of a voice under "all".
        .case(Case::new("all-voices", tiny).used_files(files(&[])))
        .case(
            Case::new("two-voices", tiny)
                .options(|| KokoroOptions::default().with_voices(["af_heart", "bf_emma"]))
                .used_files(files(&["af_heart", "bf_emma"])),
        )
        .case(
            Case::new("one-voice-bf16", tiny)
                .options(|| {
                    KokoroOptions::default()
                        .with_voices(["am_adam"])
                        .with_dtype(LoadDtype::Bf16)
                })
                .used_files(files(&["am_adam"])),
        )
}

/// Options from a fuzzer's byte: bits 0-1 the voices, 2-3 the dtype.
fn options(selector: u8) -> KokoroOptions {
    let options = match selector & 3 {
        0 => KokoroOptions::default(),
        1 => KokoroOptions::default().with_voices(["af_heart"]),
        2 => KokoroOptions::default().with_voices(["am_adam", "bf_emma"]),
        _ => KokoroOptions::default().with_voices(["bf_emma"]),
    };
    match (selector >> 2) & 3 {
        1 => options.with_dtype(LoadDtype::F32),
        2 => options.with_dtype(LoadDtype::Bf16),
        3 => options.with_dtype(LoadDtype::F16),
        _ => options,
    }
}
