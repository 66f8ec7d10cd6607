//! The key tables are functions of the config: fed the REAL configs, they must reproduce the figures of
//! docs/checkpoint-layouts.md §4.3. Nothing is written; these run in milliseconds.
//!
//! Figures that equal a published file's size or its index's declared total are marked "published"; the rest are
//! computed from the architectures.
#![allow(clippy::unwrap_used)]

use modelcache_testkit::flux::{
    AeConfig, FluxConfig, MfluxSpec, ae_keys, bfl_transformer_keys, diffusers_transformer_keys,
    diffusers_vae_keys, mflux_transformer_keys, quantize,
};
use modelcache_testkit::kokoro::{KokoroConfig, kokoro_keys};
use modelcache_testkit::ltx::{
    LtxNaming, LtxTransformerConfig, LtxVaeConfig, diffusers_vae_keys as ltx_diffusers_vae,
    original_vae_keys, transformer_keys as ltx_transformer,
};
use modelcache_testkit::text_encoders::{ClipConfig, T5Config};
use modelcache_testkit::{Dtype, KeyTable, Metadata, encode_header};

fn params_by_prefix(k: &KeyTable, prefix: &str) -> u64 {
    k.tensors()
        .iter()
        .filter(|t| t.name.starts_with(prefix))
        .map(|t| t.numel())
        .sum()
}

#[test]
fn flux_schnell_transformer_bfl_calc_real() {
    let k = bfl_transformer_keys(&FluxConfig::schnell());
    assert_eq!(k.len(), 776);
    assert_eq!(k.numel(), 11_891_178_560);
    // Published: 2 × params = the diffusers index total_size and the BF16 payload of flux1-schnell.safetensors.
    assert_eq!(k.byte_len(), 23_782_357_120);
    // The bare header (the real file, 23,782,506,688 B, carries ~63 KB more header of unknown content; §2.5).
    let h = encode_header(k.tensors(), None).unwrap();
    assert_eq!(h.json.len(), 86_416);
    assert_eq!(h.file_len(), 23_782_443_544);
}

#[test]
fn flux_dev_transformer() {
    let k = bfl_transformer_keys(&FluxConfig::dev());
    assert_eq!(k.len(), 780);
    assert_eq!(k.numel(), 11_901_408_320);
    assert_eq!(k.byte_len(), 23_802_816_640);
    // dev − schnell = guidance_in = 256·H + H + H·H + H.
    assert_eq!(
        k.numel() - bfl_transformer_keys(&FluxConfig::schnell()).numel(),
        10_229_760
    );
}

#[test]
fn flux_diffusers_transformer() {
    let s = diffusers_transformer_keys(&FluxConfig::schnell());
    assert_eq!(s.len(), 1156);
    assert_eq!(s.byte_len(), 23_782_357_120);
    let d = diffusers_transformer_keys(&FluxConfig::dev());
    assert_eq!(d.len(), 1160);
    assert_eq!(d.numel(), 11_901_408_320);
    // diffusers' pipeline-test config: 62 tensors, 68,484 params.
    let t = FluxConfig {
        in_channels: 4,
        out_channels: 4,
        vec_in_dim: 32,
        context_in_dim: 32,
        hidden_size: 32,
        num_heads: 2,
        depth: 1,
        depth_single_blocks: 1,
        axes_dim: [4, 4, 8],
        ..FluxConfig::schnell()
    };
    let k = diffusers_transformer_keys(&t);
    assert_eq!((k.len(), k.numel()), (62, 68_484));
}

#[test]
fn flux_ae_calc_real() {
    let k = ae_keys(&AeConfig::flux());
    assert_eq!(k.len(), 244);
    assert_eq!(k.numel(), 83_819_683);
    assert_eq!(params_by_prefix(&k, "encoder."), 34_274_208);
    assert_eq!(params_by_prefix(&k, "decoder."), 49_545_475);
    // Published: the declared payload of the real ae.safetensors is 4 × params, so F32.
    assert_eq!(k.byte_len(), 335_278_732);
    assert!(k.tensors().iter().all(|t| t.dtype == Dtype::F32));
    // The bare header (the real file is 335,304,388 B: 472 B of unknown metadata more; §2.5).
    assert_eq!(
        encode_header(k.tensors(), None).unwrap().file_len(),
        335_303_916
    );
}

#[test]
fn flux_vae_diffusers() {
    let k = diffusers_vae_keys(&AeConfig::flux());
    assert_eq!(k.len(), 244);
    assert_eq!(k.numel(), 83_819_683);
    let pt = Metadata::from([("format".to_owned(), "pt".to_owned())]);
    // BF16 with {"format":"pt"}: 167,666,902 B, a size seen in a third-party VAE table.
    assert_eq!(
        encode_header(k.tensors(), Some(&pt)).unwrap().file_len(),
        167_666_902
    );
    assert_eq!(
        encode_header(k.tensors(), None).unwrap().file_len(),
        167_666_870
    );
}

#[test]
fn text_encoders() {
    let t5 = T5Config::xxl().keys(Dtype::BF16);
    assert_eq!(t5.len(), 219);
    assert_eq!(t5.numel(), 4_762_310_656);
    // Published: the T5-XXL encoder index total_size.
    assert_eq!(t5.byte_len(), 9_524_621_312);
    assert_eq!(T5Config::xxl().keys(Dtype::F32).byte_len(), 19_049_242_624);
    let clip = ClipConfig::clip_l().keys(Dtype::BF16);
    assert_eq!(
        (clip.len(), clip.numel(), clip.byte_len()),
        (196, 123_060_480, 246_120_960)
    );
}

#[test]
fn mflux_schnell_estimates() {
    // §5.10: Linear weights quantized with group 64, everything else BF16.
    for (bits, bytes) in [(4, 6_693_214_336u64), (8, 12_637_264_000)] {
        let q = quantize(mflux_transformer_keys(&FluxConfig::schnell()), bits, 64).unwrap();
        assert_eq!(
            q.iter().map(|t| t.byte_len()).sum::<u64>(),
            bytes,
            "{bits}-bit"
        );
    }
    // The whole real tree quantizes (every input width a multiple of 64, T5 heads included).
    assert_eq!(MfluxSpec::real_schnell(4).components().unwrap().len(), 4);
}

#[test]
fn ltx_video_2b() {
    let t = ltx_transformer(
        &LtxTransformerConfig::ltx_2b(),
        LtxNaming::Diffusers,
        Dtype::BF16,
    );
    assert_eq!((t.len(), t.numel()), (715, 1_923_385_472));
    assert_eq!(t.byte_len(), 3_846_770_944);
    let o = ltx_transformer(
        &LtxTransformerConfig::ltx_2b(),
        LtxNaming::Original,
        Dtype::BF16,
    );
    assert_eq!((o.len(), o.numel()), (715, 1_923_385_472));
    assert!(
        o.names()
            .contains(&"transformer_blocks.27.scale_shift_table")
    );
    assert!(o.names().contains(&"patchify_proj.weight"));
    let big = LtxTransformerConfig {
        attention_head_dim: 128,
        cross_attention_dim: 4096,
        num_layers: 48,
        ..LtxTransformerConfig::ltx_2b()
    };
    assert_eq!(
        ltx_transformer(&big, LtxNaming::Diffusers, Dtype::BF16).numel(),
        13_042_569_344
    );
}

#[test]
fn ltx_vae_0_9_0_both_namings() {
    let d = ltx_diffusers_vae(&LtxVaeConfig::v0_9_0(), Dtype::F32);
    assert_eq!((d.len(), d.numel()), (190, 419_193_905));
    assert_eq!(params_by_prefix(&d, "encoder."), 180_404_353);
    assert_eq!(params_by_prefix(&d, "decoder."), 238_789_296);
    assert_eq!(d.byte_len(), 1_676_775_620);
    let o = original_vae_keys(&LtxVaeConfig::v0_9_0(), Dtype::F32, false);
    assert_eq!((o.len(), o.numel()), (190, 419_193_905));
    // The detection key of 0.9.0 single files.
    assert!(
        o.names()
            .contains(&"decoder.up_blocks.9.res_blocks.0.conv1.conv.weight")
    );
    let blocks = serde_json::to_string(&LtxVaeConfig::v0_9_0().original_json()["blocks"]).unwrap();
    assert_eq!(
        blocks,
        r#"[["res_x",4],["compress_all",1],["res_x_y",1],["res_x",3],["compress_all",1],["res_x_y",1],["res_x",3],["compress_all",1],["res_x",3],["res_x",4]]"#
    );
}

#[test]
fn kokoro_calc_real_byte_exact() {
    let k = kokoro_keys(&KokoroConfig::v1_0(), false);
    assert_eq!(k.len(), 548);
    assert_eq!(k.numel(), 81_763_410);
    for (prefix, n) in [
        ("bert.", 6_292_480),
        ("bert_encoder.", 393_728),
        ("predictor.", 16_194_612),
        ("text_encoder.", 5_606_400),
        ("decoder.", 53_276_190),
    ] {
        assert_eq!(params_by_prefix(&k, prefix), n, "{prefix}");
    }
    // Published: mlx-community kokoro-v1_0.safetensors is 327,115,152 B: header 61,504 (61,499 padded), data
    // 327,053,640, no __metadata__.
    let h = encode_header(k.tensors(), None).unwrap();
    assert_eq!(h.json.len(), 61_504);
    assert_eq!(h.data_len, 327_053_640);
    assert_eq!(h.file_len(), 327_115_152);
    assert_eq!(kokoro_keys(&KokoroConfig::v1_0(), true).len(), 549);
}

#[test]
fn bert_mini_lm_l6() {
    // sentence-transformers/all-MiniLM-L6-v2: the 22.7M parameters its model card gives, 101
    // tensors (5 embedding tensors, 16 per layer, the pooler's 2).
    let k = modelcache_testkit::BertSpec::mini_lm_l6().keys();
    assert_eq!(k.len(), 5 + 6 * 16 + 2);
    assert_eq!(k.numel(), 22_713_216);
    assert_eq!(k.byte_len(), 90_852_864);
}
