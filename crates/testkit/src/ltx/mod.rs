//! LTX-Video fixtures: the single-file checkpoint and the diffusers tree (docs/checkpoint-layouts.md §7).

mod config;
mod diffusers;
mod single_file;
mod spec;
mod transformer;
mod vae;

pub use config::{
    LtxTransformerConfig, LtxVaeConfig, VaeBlock, diffusers_scheduler_json, model_index,
    original_scheduler_json,
};
pub use diffusers::write_ltx_diffusers;
pub use single_file::{single_file_keys, single_file_metadata, write_ltx_single_file};
pub use spec::LtxSpec;
pub use transformer::{LtxNaming, transformer_keys};
pub use vae::{diffusers_vae_keys, original_vae_keys};
