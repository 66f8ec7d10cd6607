//! The shared conformance suite, run against the Flux backend on every layout it reads (the
//! cases are in `suite/`, the backend's one registration for tests).

mod suite;

use suite::suite;

modelcache_conformance::conformance_tests!(suite());

/// The same suite through `load_mlx`, plus the F16 and F32 conversions the fixtures do not store,
/// compared with the candle load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::{MlxHooks, named};
    use modelcache_flux::{FluxBackend, FluxOptions, LoadDtype};
    use modelcache_testkit::{MfluxSpec, write_flux_mflux};

    fn suite() -> modelcache_conformance::Suite<FluxBackend> {
        super::suite()
            .case(
                Case::new("diffusers-all-components-as-f16", super::suite::diffusers)
                    .options(|| super::suite::all_components().with_dtype(LoadDtype::F16)),
            )
            .case(
                Case::new("mflux-4bit-as-f32", |dir| {
                    write_flux_mflux(dir, &MfluxSpec::tiny())?;
                    Ok(dir.to_path_buf())
                })
                .options(|| FluxOptions::default().with_dtype(LoadDtype::F32))
                .used_files(|root| {
                    super::suite::safetensors_in(&[root.join("transformer"), root.join("vae")])
                }),
            )
    }

    fn hooks() -> MlxHooks<FluxBackend> {
        MlxHooks {
            load: |backend, plan, limit, progress| named(backend.load_mlx(plan, limit, progress)),
            candle: super::suite::parts,
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
