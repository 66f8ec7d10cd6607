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
