//! The shared conformance suite, run against the LTX-Video backend on both layouts (the cases
//! are in `suite/`, the backend's one registration for tests).

mod suite;

use suite::suite;

modelcache_conformance::conformance_tests!(suite());

/// The same suite through `load_mlx`, plus a BF16 and an F16 conversion, compared with the candle
/// load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::{MlxHooks, named};
    use modelcache_ltx::{LoadDtype, LtxBackend, LtxOptions};
    use modelcache_testkit::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};

    fn suite() -> modelcache_conformance::Suite<LtxBackend> {
        super::suite()
            .case(
                Case::new("single-file-as-f16", |dir| {
                    let spec = LtxSpec::tiny();
                    write_ltx_single_file(dir, &spec)?;
                    Ok(dir.join(&spec.file_name))
                })
                .options(|| LtxOptions {
                    dtype: Some(LoadDtype::F16),
                    ..LtxOptions::default()
                }),
            )
            .case(
                Case::new("diffusers-as-bf16", |dir| {
                    write_ltx_diffusers(dir, &LtxSpec::tiny())?;
                    Ok(dir.to_path_buf())
                })
                .options(|| LtxOptions {
                    dtype: Some(LoadDtype::Bf16),
                    ..LtxOptions::default()
                })
                .used_files(|root| super::suite::files_in(root, &["transformer", "vae"])),
            )
    }

    fn hooks() -> MlxHooks<LtxBackend> {
        MlxHooks {
            load: |backend, plan, limit, progress| named(backend.load_mlx(plan, limit, progress)),
            candle: super::suite::parts,
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
