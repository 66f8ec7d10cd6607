//! FLUX.1 fixtures: BFL single files, the diffusers tree, both together as the Hub repos ship them, and mflux
//! quantized trees (docs/checkpoint-layouts.md §5).
//!
//! # Why these key tables look like the plugin's
//! `plugins/flux` holds the *validator's* tables (what a checkpoint must contain); these are the
//! *generator's* (what a fixture does contain). Both describe the same PyTorch modules, so their
//! helpers look alike (a resnet block is `norm1, conv1, norm2, conv2[, nin_shortcut]` in both),
//! but neither is built from the other, and the generator's are not trusted on their own:
//! `tests/reference_figures.rs` feeds them the real configs and pins tensor counts and parameter
//! totals to figures the published checkpoints give (file sizes, index `total_size`), so a
//! misreading shared by both sides fails there. The plugin's tables are held to these by its
//! real-size test (every expected tensor of a real-size header must be present with its shape).

mod ae;
mod bfl;
mod configs;
mod diffusers;
mod diffusers_keys;
mod mflux;
mod params;
mod repo;
mod spec;

pub use ae::ae_keys;
pub use bfl::{transformer_keys as bfl_transformer_keys, write_flux_bfl};
pub use configs::{model_index, scheduler_config, transformer_config, vae_config};
pub use diffusers::write_flux_diffusers;
pub use diffusers_keys::{
    transformer_keys as diffusers_transformer_keys, vae_keys as diffusers_vae_keys,
};
pub use mflux::{
    MfluxSpec, clip_keys as mflux_clip_keys, quantize, t5_keys as mflux_t5_keys,
    transformer_keys as mflux_transformer_keys, vae_keys as mflux_vae_keys, write_flux_mflux,
};
pub use params::{AeConfig, FluxConfig};
pub use repo::write_flux_repo;
pub use spec::FluxSpec;
