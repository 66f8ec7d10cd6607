//! The LTX-Video backend's one registration for tests: its conformance cases and how a fuzzer
//! picks its options. `tests/conformance.rs` mounts the suite on it; modelcache-reliability's
//! probes, property tests and fuzz targets include this file and run the same backend on the
//! same fixtures.

use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite, TensorParts};
use modelcache_ltx::{Component, LayoutChoice, LoadDtype, LtxBackend, LtxModel, LtxOptions};
use modelcache_testkit::{LtxSpec, write_ltx_diffusers, write_ltx_single_file};

/// A model's components, each with its tensors under their stored names, prefix included, as
/// `load_mlx` keys them (what the suite compares value by value).
pub fn parts(model: &LtxModel) -> TensorParts {
    model
        .components()
        .map(|c| {
            let tensors = c
                .iter()
                .map(|(n, t)| (format!("{}{n}", c.prefix()), t.clone()));
            (c.component().to_string(), tensors.collect())
        })
        .collect()
}

/// Both layouts, with the options that select their components.
pub fn suite() -> Suite<LtxBackend> {
    Suite::new(LtxBackend)
        .options_selector(options)
        .parts(parts)
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
pub fn files_in(root: &Path, components: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = components
        .iter()
        .filter_map(|c| std::fs::read_dir(root.join(c)).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

/// Options from a fuzzer's byte: bits 0-1 the components, 2-3 the layout, 4-5 the dtype.
fn options(selector: u8) -> LtxOptions {
    use Component::{TextEncoder, Transformer, Vae};
    LtxOptions {
        components: match selector & 3 {
            0 => vec![Transformer, Vae],
            1 => vec![Transformer],
            2 => vec![Vae],
            _ => vec![Transformer, Vae, TextEncoder],
        },
        layout: match (selector >> 2) & 3 {
            1 => LayoutChoice::SingleFile,
            2 => LayoutChoice::Diffusers,
            _ => LayoutChoice::Auto,
        },
        file: None,
        dtype: match (selector >> 4) & 3 {
            1 => Some(LoadDtype::F32),
            2 => Some(LoadDtype::Bf16),
            3 => Some(LoadDtype::F16),
            _ => None,
        },
    }
}
