//! The shared conformance suite, run against the LTX-Video backend on both layouts.

use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite};
use modelcache_ltx::{Component, LtxBackend, LtxOptions};
use modelcache_testkit::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};

modelcache_conformance::conformance_tests!(suite());

fn suite() -> Suite<LtxBackend> {
    Suite::new(LtxBackend)
        .case(Case::new("single-file", |dir| {
            let spec = LtxSpec::tiny();
            write_ltx_single_file(dir, &spec)?;
            Ok(dir.join(&spec.file_name))
        }))
        .case(
            Case::new("single-file-in-folder", |dir| {
                write_ltx_single_file(dir, &LtxSpec::tiny())?;
                Ok(dir.to_path_buf())
            })
            // Named rather than discovered: see `Deleted` in the report on the suite.
            .options(|| LtxOptions {
                file: Some(LtxSpec::tiny().file_name),
                ..LtxOptions::default()
            }),
        )
        .case(
            Case::new("diffusers", |dir| {
                write_ltx_diffusers(dir, &LtxSpec::tiny())?;
                Ok(dir.to_path_buf())
            })
            // The text encoder is not selected, so its files are not read.
            .used_files(|root| files_in(root, &["transformer", "vae"])),
        )
        .case(
            Case::new("diffusers-with-text-encoder", |dir| {
                write_ltx_diffusers(dir, &LtxSpec::tiny())?;
                Ok(dir.to_path_buf())
            })
            .options(|| LtxOptions {
                components: vec![
                    Component::Transformer,
                    Component::Vae,
                    Component::TextEncoder,
                ],
                ..LtxOptions::default()
            })
            .used_files(|root| files_in(root, &["transformer", "vae", "text_encoder"])),
        )
}

/// The `.safetensors` files of the named component folders.
fn files_in(root: &Path, components: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = components
        .iter()
        .filter_map(|c| std::fs::read_dir(root.join(c)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

/// The same suite through `load_mlx`, plus a BF16 and an F16 conversion, compared with the candle
/// load value by value.
#[cfg(all(feature = "mlx", any(target_os = "macos", mlx_linux)))]
mod mlx {
    use modelcache_conformance::Case;
    use modelcache_conformance::mlx::{MlxHooks, named};
    use modelcache_ltx::{LoadDtype, LtxBackend, LtxOptions};
    use modelcache_testkit::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};

    fn suite() -> super::Suite<LtxBackend> {
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
                .used_files(|root| super::files_in(root, &["transformer", "vae"])),
            )
    }

    fn hooks() -> MlxHooks<LtxBackend> {
        MlxHooks {
            load: |backend, plan, limit, progress| named(backend.load_mlx(plan, limit, progress)),
            // Stored names, prefix included, as `load_mlx` keys them.
            candle: |model| {
                model
                    .components()
                    .map(|c| {
                        let tensors = c
                            .iter()
                            .map(|(n, t)| (format!("{}{n}", c.prefix()), t.clone()));
                        (c.component().to_string(), tensors.collect())
                    })
                    .collect()
            },
        }
    }

    modelcache_conformance::mlx_conformance_tests!(suite(), hooks());
}
