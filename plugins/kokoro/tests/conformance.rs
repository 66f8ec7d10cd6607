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
