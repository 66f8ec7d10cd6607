//! The Flux backend's one registration for tests: its conformance cases and how a fuzzer picks
//! its options. `tests/conformance.rs` mounts the suite on it; modelcache-reliability's probes,
//! property tests and fuzz targets include this file and run the same backend on the same
//! fixtures.

use std::io;
use std::path::{Path, PathBuf};

use modelcache_conformance::{Case, Suite, TensorParts};
use modelcache_flux::{Component, FluxBackend, FluxModel, FluxOptions, LayoutChoice, LoadDtype};
use modelcache_testkit::flux::FluxConfig;
use modelcache_testkit::{
    FluxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers, write_flux_mflux, write_flux_repo,
};

/// Every layout the backend reads, with the options that select it.
/// A model's components, each with its tensors (what the suite compares value by value).
pub fn parts(model: &FluxModel) -> TensorParts {
    model
        .components()
        .iter()
        .map(|c| {
            let tensors = c.tensors().iter();
            let tensors = tensors.map(|(n, t)| (n.to_owned(), t.clone())).collect();
            (c.component().to_string(), tensors)
        })
        .collect()
}

pub fn suite() -> Suite<FluxBackend> {
    Suite::new(FluxBackend)
        .options_selector(options)
        .parts(parts)
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

pub fn diffusers(dir: &Path) -> io::Result<PathBuf> {
    write_flux_diffusers(dir, &FluxSpec::tiny())?;
    Ok(dir.to_path_buf())
}

fn repo(dir: &Path) -> io::Result<PathBuf> {
    write_flux_repo(dir, &FluxSpec::tiny())?;
    Ok(dir.to_path_buf())
}

pub fn all_components() -> FluxOptions {
    FluxOptions::default().with_components(Component::ALL)
}

fn parent(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `.safetensors` files directly in `dirs`, sorted (the suite indexes them across fixtures).
pub fn safetensors_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    out.sort();
    out
}

/// Options from a fuzzer's byte: bits 0-1 the components, 2-3 the layout, 4-5 the dtype.
fn options(selector: u8) -> FluxOptions {
    use Component::{Transformer, Vae};
    let components = match selector & 3 {
        0 => vec![Transformer, Vae],
        1 => vec![Transformer],
        2 => vec![Vae],
        _ => Component::ALL.to_vec(),
    };
    let layout = match (selector >> 2) & 3 {
        0 => LayoutChoice::Auto,
        1 => LayoutChoice::Bfl,
        2 => LayoutChoice::Diffusers,
        _ => LayoutChoice::Mflux,
    };
    let options = FluxOptions::default()
        .with_components(components)
        .with_layout(layout);
    match (selector >> 4) & 3 {
        1 => options.with_dtype(LoadDtype::F32),
        2 => options.with_dtype(LoadDtype::Bf16),
        3 => options.with_dtype(LoadDtype::F16),
        _ => options,
    }
}
