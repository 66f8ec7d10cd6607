//! The Rust key tables against an independent Python implementation's output for the same configs (`tests/golden/`,
//! made by `tests/golden/generate.py`; docs/checkpoint-layouts.md §10): every name and shape must match.
#![allow(clippy::unwrap_used)]

mod common;

use common::{golden, shapes};
use modelcache_testkit::flux::{
    AeConfig, FluxConfig, ae_keys, bfl_transformer_keys, diffusers_transformer_keys,
    diffusers_vae_keys,
};
use modelcache_testkit::kokoro::{KokoroConfig, kokoro_keys};
use modelcache_testkit::ltx::{
    LtxNaming, LtxTransformerConfig, LtxVaeConfig, diffusers_vae_keys as ltx_vae,
    transformer_keys as ltx_transformer,
};
use modelcache_testkit::text_encoders::{ClipConfig, T5Config};
use modelcache_testkit::{Dtype, KeyTable};

fn same(name: &str, k: &KeyTable) {
    assert_eq!(shapes(k.tensors()), golden(name), "{name}");
}

#[test]
fn flux_tables_match_the_scripts() {
    same(
        "flux_bfl_tiny_schnell",
        &bfl_transformer_keys(&FluxConfig::tiny()),
    );
    same(
        "flux_bfl_tiny_dev",
        &bfl_transformer_keys(&FluxConfig {
            guidance_embed: true,
            ..FluxConfig::tiny()
        }),
    );
    same(
        "flux_diffusers_tiny_schnell",
        &diffusers_transformer_keys(&FluxConfig::tiny()),
    );
    same("flux_ae_tiny", &ae_keys(&AeConfig::tiny()));
    same(
        "flux_vae_diffusers_tiny",
        &diffusers_vae_keys(&AeConfig::tiny()),
    );
}

#[test]
fn text_encoder_tables_match_the_scripts() {
    same("t5_tiny", &T5Config::tiny().keys(Dtype::BF16));
    same("clip_tiny", &ClipConfig::tiny().keys(Dtype::BF16));
}

#[test]
fn ltx_tables_match_the_scripts() {
    same(
        "ltx_transformer_tiny",
        &ltx_transformer(
            &LtxTransformerConfig::tiny(),
            LtxNaming::Diffusers,
            Dtype::BF16,
        ),
    );
    same(
        "ltx_vae_diffusers_tiny",
        &ltx_vae(&LtxVaeConfig::tiny(), Dtype::F32),
    );
}

#[test]
fn kokoro_table_matches_the_script() {
    same("kokoro_real", &kokoro_keys(&KokoroConfig::v1_0(), false));
}
