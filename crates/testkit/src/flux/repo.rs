//! A FLUX.1 Hub repository as it ships: the BFL single files and the diffusers tree side by side.

use std::io;
use std::path::Path;

use crate::out::Out;
use crate::report::FixtureReport;

use super::{FluxSpec, bfl, diffusers};

/// Writes `flux1-schnell.safetensors` + `ae.safetensors` at the root of `dir` and the diffusers tree beside them,
/// as `black-forest-labs/FLUX.1-schnell` ships. Component names in the report: `bfl_transformer` and `ae` for the BFL
/// files, then `transformer`, `vae`, `text_encoder`, `text_encoder_2` for the diffusers tree.
///
/// # Errors
///
/// Any I/O error.
pub fn write_flux_repo(dir: &Path, spec: &FluxSpec) -> io::Result<FixtureReport> {
    let spec = spec.scaled(32, |s| bfl::layout_size(s) + diffusers::layout_size(s));
    let mut out = Out::new(dir, spec.seed)?;
    bfl::write_into(&mut out, &spec, "bfl_transformer")?;
    diffusers::write_into(&mut out, &spec)?;
    Ok(out.finish())
}
