//! The shared conformance suite, run against the Flux backend on every layout it reads.

use std::io;
use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite};
use modelcache_flux::{Component, FluxBackend, FluxOptions, LayoutChoice};
use modelcache_testkit::flux::FluxConfig;
use modelcache_testkit::{
    FluxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers, write_flux_mflux, write_flux_repo,
};

modelcache_conformance::conformance_tests!(suite());

fn suite() -> Suite<FluxBackend> {
    Suite::new(FluxBackend)
        .case(Case::new("bfl-folder", |dir| {
            write_flux_bfl(dir, &FluxSpec::tiny())?;
            Ok(dir.to_path_buf())
        }))
        .case(
            Case::new("bfl-dev-file-prefixed-with-metadata", |dir| {
                write_flux_bfl(dir, &prefixed_dev())?;
                Ok(dir.join("flux1-dev.safetensors"))
            })
            .used_files(|model| safetensors_in(&[parent(model)])),
        )
        .case(
            Case::new("diffusers-transformer-vae", diffusers)
                .used_files(|root| safetensors_in(&[root.join("transformer"), root.join("vae")])),
        )
        .case(Case::new("diffusers-all-components", diffusers).options(all_components))
        .case(
            Case::new("repo-both-layouts-reads-diffusers", repo)
                .used_files(|root| safetensors_in(&[root.join("transformer"), root.join("vae")])),
        )
        .case(
            Case::new("repo-both-layouts-bfl-chosen", repo)
                .options(|| FluxOptions::default().with_layout(LayoutChoice::Bfl))
                .used_files(|root| {
                    vec![
                        root.join("ae.safetensors"),
                        root.join("flux1-schnell.safetensors"),
                    ]
                }),
        )
        .case(
            Case::new("mflux-4bit-transformer-vae", |dir| {
                write_flux_mflux(dir, &MfluxSpec::tiny())?;
                Ok(dir.to_path_buf())
            })
            .used_files(|root| safetensors_in(&[root.join("transformer"), root.join("vae")])),
        )
        .case(
            Case::new("mflux-8bit-all-components", |dir| {
                let spec = MfluxSpec {
                    bits: 8,
                    ..MfluxSpec::tiny()
                };
                write_flux_mflux(dir, &spec)?;
                Ok(dir.to_path_buf())
            })
            .options(all_components),
        )
}

fn prefixed_dev() -> FluxSpec {
    FluxSpec {
        transformer: FluxConfig {
            guidance_embed: true,
            ..FluxConfig::tiny()
        },
        prefix: true,
        bfl_metadata: Some(FluxSpec::example_bfl_metadata()),
        ..FluxSpec::tiny()
    }
}

fn diffusers(dir: &Path) -> io::Result<PathBuf> {
    write_flux_diffusers(dir, &FluxSpec::tiny())?;
    Ok(dir.to_path_buf())
}

fn repo(dir: &Path) -> io::Result<PathBuf> {
    write_flux_repo(dir, &FluxSpec::tiny())?;
    Ok(dir.to_path_buf())
}

fn all_components() -> FluxOptions {
    FluxOptions::default().with_components(Component::ALL)
}

fn parent(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `.safetensors` files directly in `dirs`, sorted (the suite indexes them across fixtures).
fn safetensors_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    out.sort();
    out
}

/// The same suite through `load_mlx`, plus the F16 and F32 conversions the fixtures do not store,
/// compared with the candle load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::{MlxHooks, named};
    use modelcache_flux::{FluxBackend, FluxOptions, LoadDtype};
    use modelcache_testkit::{MfluxSpec, write_flux_mflux};

    fn suite() -> super::Suite<FluxBackend> {
        super::suite()
            .case(
                Case::new("diffusers-all-components-as-f16", super::diffusers)
                    .options(|| super::all_components().with_dtype(LoadDtype::F16)),
            )
            .case(
                Case::new("mflux-4bit-as-f32", |dir| {
                    write_flux_mflux(dir, &MfluxSpec::tiny())?;
                    Ok(dir.to_path_buf())
                })
                .options(|| FluxOptions::default().with_dtype(LoadDtype::F32))
                .used_files(|root| {
                    super::safetensors_in(&[root.join("transformer"), root.join("vae")])
                }),
            )
    }

    fn hooks() -> MlxHooks<FluxBackend> {
        MlxHooks {
            load: |backend, plan, limit, progress| named(backend.load_mlx(plan, limit, progress)),
            candle: |model| {
                model
                    .components()
                    .iter()
                    .map(|c| {
                        let tensors = c.tensors().iter();
                        let tensors = tensors.map(|(n, t)| (n.to_owned(), t.clone())).collect();
                        (c.component().to_string(), tensors)
                    })
                    .collect()
            },
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
