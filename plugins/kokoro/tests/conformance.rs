//! The conformance suite every backend passes, on Kokoro fixtures (the cases are in `suite/`,
//! the backend's one registration for tests).

mod suite;

use suite::suite;

modelcache_conformance::conformance_tests!(suite());

/// The same suite through `load_mlx` (weights and voice packs), plus an F16 conversion,
/// compared with the candle load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::MlxHooks;
    use modelcache_kokoro::{KokoroBackend, KokoroOptions, LoadDtype};

    fn suite() -> modelcache_conformance::Suite<KokoroBackend> {
        super::suite().case(
            Case::new("all-voices-as-f16", super::suite::tiny)
                .options(|| KokoroOptions::default().with_dtype(LoadDtype::F16))
                .used_files(super::suite::files(&[])),
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
            candle: super::suite::parts,
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
