//! The conformance suite every backend passes, on Kokoro fixtures.

use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite};
use modelcache_kokoro::{KokoroBackend, KokoroOptions, LoadDtype, WEIGHTS_FILE};
use modelcache_testkit::{KokoroSpec, write_kokoro_mlx};

fn tiny(dir: &Path) -> std::io::Result<PathBuf> {
    write_kokoro_mlx(dir, &KokoroSpec::tiny())?;
    Ok(dir.to_path_buf())
}

/// The weights file and the named voices: what a load with those voices reads.
fn files(voices: &'static [&'static str]) -> impl Fn(&Path) -> Vec<PathBuf> + Send + Sync {
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

fn suite() -> Suite<KokoroBackend> {
    Suite::new(KokoroBackend)
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

modelcache_conformance::conformance_tests!(suite());

/// The same suite through `load_mlx` (weights and voice packs), plus an F16 conversion,
/// compared with the candle load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::MlxHooks;
    use modelcache_kokoro::{KokoroBackend, KokoroOptions, LoadDtype, VOICE_TENSOR};

    fn suite() -> super::Suite<KokoroBackend> {
        super::suite().case(
            Case::new("all-voices-as-f16", super::tiny)
                .options(|| KokoroOptions::default().with_dtype(LoadDtype::F16))
                .used_files(super::files(&[])),
        )
    }

    fn hooks() -> MlxHooks<KokoroBackend> {
        MlxHooks {
            load: |backend, plan, limit, progress| {
                let loaded = backend.load_mlx(plan, limit, progress)?;
                let voices = loaded
                    .voices
                    .into_iter()
                    .map(|(n, v)| (format!("voices/{n}"), v));
                Ok(std::iter::once(("weights".to_owned(), loaded.weights))
                    .chain(voices)
                    .collect())
            },
            candle: |model| {
                let weights = model.tensors().map(|(n, t)| (n.to_owned(), t.clone()));
                let voices = model.voice_names().map(|n| {
                    let voice = model.voice(n).map(|t| (VOICE_TENSOR.to_owned(), t.clone()));
                    (format!("voices/{n}"), voice.into_iter().collect())
                });
                std::iter::once(("weights".to_owned(), weights.collect()))
                    .chain(voices)
                    .collect()
            },
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
