//! Every generator's tiny output: valid safetensors, the reported keys, the real file names and config fields.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{check_fixture, read_header};
use modelcache_testkit::flux::FluxConfig;
use modelcache_testkit::{
    FluxSpec, KokoroSpec, LtxSpec, MfluxSpec, write_flux_bfl, write_flux_diffusers,
    write_flux_mflux, write_flux_repo, write_kokoro_mlx, write_ltx_diffusers,
    write_ltx_single_file,
};
use serde_json::{Value, json};

fn json_file(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn rel_files(dir: &Path, files: &[std::path::PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn flux_bfl_plain_prefixed_and_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    check_fixture(&r);
    assert_eq!(
        rel_files(dir.path(), &r.files),
        ["ae.safetensors", "flux1-schnell.safetensors"]
    );
    let t = r.component("transformer").unwrap();
    assert_eq!(t.tensor_count(), 96);
    assert!(
        t.keys()
            .contains("double_blocks.1.img_attn.norm.key_norm.scale")
    );
    assert!(
        read_header(&dir.path().join("flux1-schnell.safetensors"))
            .metadata
            .is_none()
    );
    assert!(
        r.component("ae")
            .unwrap()
            .tensors
            .iter()
            .all(|t| t.dtype == modelcache_testkit::Dtype::F32)
    );

    let dir = tempfile::tempdir().unwrap();
    let spec = FluxSpec {
        transformer: FluxConfig {
            guidance_embed: true,
            ..FluxConfig::tiny()
        },
        prefix: true,
        bfl_metadata: Some(FluxSpec::example_bfl_metadata()),
        ..FluxSpec::tiny()
    };
    let r = write_flux_bfl(dir.path(), &spec).unwrap();
    check_fixture(&r);
    let keys = r.component("transformer").unwrap().keys();
    assert!(keys.contains("model.diffusion_model.double_blocks.0.img_attn.norm.key_norm.scale"));
    assert!(keys.contains("model.diffusion_model.guidance_in.in_layer.bias"));
    let h = read_header(&dir.path().join("flux1-dev.safetensors"));
    assert_eq!(
        h.metadata.unwrap(),
        FluxSpec::example_bfl_metadata().into_iter().collect()
    );
}

#[test]
fn flux_diffusers_tree() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    check_fixture(&r);
    let d = dir.path();
    assert_eq!(
        fs::read_to_string(d.join("model_index.json")).unwrap(),
        "{\n  \"_class_name\": \"FluxPipeline\",\n  \"_diffusers_version\": \"0.30.0.dev0\",\n  \"scheduler\": [\n    \"diffusers\",\n    \"FlowMatchEulerDiscreteScheduler\"\n  ],\n  \"text_encoder\": [\n    \"transformers\",\n    \"CLIPTextModel\"\n  ],\n  \"text_encoder_2\": [\n    \"transformers\",\n    \"T5EncoderModel\"\n  ],\n  \"tokenizer\": [\n    \"transformers\",\n    \"CLIPTokenizer\"\n  ],\n  \"tokenizer_2\": [\n    \"transformers\",\n    \"T5TokenizerFast\"\n  ],\n  \"transformer\": [\n    \"diffusers\",\n    \"FluxTransformer2DModel\"\n  ],\n  \"vae\": [\n    \"diffusers\",\n    \"AutoencoderKL\"\n  ]\n}\n"
    );
    let files = rel_files(d, &r.files);
    for f in [
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "text_encoder_2/config.json",
        "text_encoder_2/model-00001-of-00002.safetensors",
        "text_encoder_2/model-00002-of-00002.safetensors",
        "text_encoder_2/model.safetensors.index.json",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "tokenizer_2/special_tokens_map.json",
        "tokenizer_2/spiece.model",
        "tokenizer_2/tokenizer.json",
        "tokenizer_2/tokenizer_config.json",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model-00001-of-00003.safetensors",
        "transformer/diffusion_pytorch_model-00003-of-00003.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ] {
        assert!(files.contains(&f.to_owned()), "{f} missing from {files:?}");
    }
    for f in r
        .files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "safetensors"))
    {
        assert_eq!(
            read_header(f).metadata,
            Some([("format".to_owned(), "pt".to_owned())].into()),
            "{}",
            f.display()
        );
    }
    let cfg = json_file(&d.join("transformer/config.json"));
    assert_eq!(cfg["attention_head_dim"], json!(16));
    assert_eq!(cfg["num_attention_heads"], json!(2));
    assert_eq!(cfg["guidance_embeds"], json!(false));
    assert_eq!(cfg["axes_dims_rope"], json!([4, 6, 6]));
    let vae = json_file(&d.join("vae/config.json"));
    assert_eq!(vae["block_out_channels"], json!([32, 32]));
    assert_eq!(vae["latent_channels"], json!(16));
    assert_eq!(r.component("transformer").unwrap().tensor_count(), 136);
}

#[test]
fn flux_real_repo_has_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_flux_repo(dir.path(), &FluxSpec::tiny()).unwrap();
    check_fixture(&r);
    for f in [
        "flux1-schnell.safetensors",
        "ae.safetensors",
        "model_index.json",
        "transformer/config.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let names: Vec<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bfl_transformer",
            "ae",
            "transformer",
            "vae",
            "text_encoder",
            "text_encoder_2"
        ]
    );
    // Same model twice: the two transformer layouts hold the same parameter count.
    let n = |c: &str| {
        r.component(c)
            .unwrap()
            .tensors
            .iter()
            .map(|t| t.numel())
            .sum::<u64>()
    };
    assert_eq!(n("bfl_transformer"), n("transformer"));
    assert_eq!(n("ae"), n("vae"));
    assert!(r.file_bytes < 3 << 20, "{}", r.file_bytes);
}

#[test]
fn flux_mflux_tree() {
    let dir = tempfile::tempdir().unwrap();
    let spec = MfluxSpec::tiny();
    let r = write_flux_mflux(dir.path(), &spec).unwrap();
    check_fixture(&r);
    let d = dir.path();
    for c in ["transformer", "vae", "text_encoder", "text_encoder_2"] {
        assert!(d.join(c).join("0.safetensors").is_file(), "{c}");
        let idx = json_file(&d.join(c).join("model.safetensors.index.json"));
        assert_eq!(
            idx["metadata"],
            json!({"quantization_level": "4", "mflux_version": "0.13.0"})
        );
        let h = read_header(&d.join(c).join("0.safetensors"));
        assert_eq!(h.metadata.unwrap()["quantization_level"], "4");
    }
    assert!(
        d.join("transformer/2.safetensors").is_file(),
        "the transformer is sharded"
    );
    assert!(
        d.join("tokenizer/vocab.json").is_file() && d.join("tokenizer_2/spiece.model").is_file()
    );
    let t = r.component("transformer").unwrap();
    let get = |n: &str| t.tensors.iter().find(|x| x.name == n).unwrap().clone();
    let w = get("transformer_blocks.0.ff.linear1.weight");
    assert_eq!(
        (w.dtype, w.shape.clone()),
        (modelcache_testkit::Dtype::U32, vec![128, 32 * 4 / 32])
    );
    assert_eq!(
        get("transformer_blocks.0.ff.linear1.scales").shape,
        [128, 1]
    );
    assert_eq!(
        get("transformer_blocks.0.ff.linear1.biases").dtype,
        modelcache_testkit::Dtype::BF16
    );
    assert_eq!(get("transformer_blocks.0.ff.linear1.bias").shape, [128]);
    assert!(!t.keys().iter().any(|k| k.contains(".net.")));
    let vae = r.component("vae").unwrap();
    let conv = vae
        .tensors
        .iter()
        .find(|x| x.name == "decoder.conv_in.conv2d.weight")
        .unwrap();
    assert_eq!(conv.shape, [32, 3, 3, 16], "MLX conv layout [O, kH, kW, I]");
    assert!(vae.keys().contains("encoder.conv_norm_out.norm.weight"));
    assert!(
        vae.keys()
            .contains("decoder.mid_block.attentions.0.to_q.scales")
    );
    let t5 = r.component("text_encoder_2").unwrap().keys();
    assert!(t5.contains("t5_blocks.1.attention.SelfAttention.relative_attention_bias.scales"));
    assert!(
        t5.contains("t5_blocks.0.ff.DenseReluDense.wi_0.weight")
            && t5.contains("final_layer_norm.weight")
    );
    assert!(t5.contains("shared.scales"));
    assert!(
        r.component("text_encoder")
            .unwrap()
            .keys()
            .contains("text_model.embeddings.token_embedding.biases")
    );
}

#[test]
fn mflux_rejects_widths_that_do_not_divide() {
    let dir = tempfile::tempdir().unwrap();
    let spec = MfluxSpec {
        group_size: 64,
        ..MfluxSpec::tiny()
    };
    let e = write_flux_mflux(dir.path(), &spec).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn ltx_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = LtxSpec {
        extra_statistics: true,
        ..LtxSpec::tiny()
    };
    let r = write_ltx_single_file(dir.path(), &spec).unwrap();
    check_fixture(&r);
    let path = dir.path().join("ltx-video-2b-v0.9.safetensors");
    assert_eq!(r.files, std::slice::from_ref(&path));
    let h = read_header(&path);
    let meta = h.metadata.unwrap();
    assert_eq!(meta.keys().collect::<Vec<_>>(), ["config"]);
    let cfg: Value = serde_json::from_str(&meta["config"]).unwrap();
    assert_eq!(cfg["transformer"]["_class_name"], "Transformer3DModel");
    assert_eq!(cfg["transformer"]["num_layers"], 2);
    assert_eq!(cfg["vae"]["_class_name"], "CausalVideoAutoencoder");
    assert_eq!(cfg["vae"]["encoder_base_channels"], 4);
    assert_eq!(cfg["scheduler"]["_class_name"], "RectifiedFlowScheduler");
    let dtype = |n: &str| {
        h.entries
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .dtype
            .clone()
    };
    assert_eq!(dtype("model.diffusion_model.patchify_proj.weight"), "BF16");
    assert_eq!(
        dtype("model.diffusion_model.adaln_single.linear.weight"),
        "BF16"
    );
    assert_eq!(
        dtype("model.diffusion_model.transformer_blocks.1.attn2.k_norm.weight"),
        "BF16"
    );
    assert_eq!(dtype("vae.per_channel_statistics.std-of-means"), "F32");
    assert_eq!(
        dtype("vae.decoder.up_blocks.9.res_blocks.0.conv1.conv.weight"),
        "F32"
    );
    assert_eq!(dtype("vae.encoder.down_blocks.2.norm3.norm.weight"), "F32");
    assert_eq!(dtype("vae.decoder.up_blocks.2.conv.conv.weight"), "F32");
    assert_eq!(r.component("vae").unwrap().tensor_count(), 94 + 2);
    assert!(r.file_bytes < 1 << 20, "{}", r.file_bytes);
}

#[test]
fn ltx_diffusers_tree() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_ltx_diffusers(dir.path(), &LtxSpec::tiny()).unwrap();
    check_fixture(&r);
    let d = dir.path();
    assert_eq!(
        json_file(&d.join("model_index.json"))["transformer"],
        json!(["diffusers", "LTXVideoTransformer3DModel"])
    );
    assert_eq!(
        json_file(&d.join("vae/config.json"))["block_out_channels"],
        json!([4, 8, 16, 16])
    );
    assert_eq!(
        json_file(&d.join("transformer/config.json"))["qk_norm"],
        "rms_norm_across_heads"
    );
    assert_eq!(
        json_file(&d.join("scheduler/scheduler_config.json"))["shift_terminal"],
        json!(0.1)
    );
    for f in [
        "tokenizer/spiece.model",
        "tokenizer/added_tokens.json",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors.index.json",
    ] {
        assert!(d.join(f).is_file(), "{f}");
    }
    let vae = r.component("vae").unwrap().keys();
    assert!(
        vae.contains("latents_std")
            && vae.contains("decoder.up_blocks.1.upsamplers.0.conv.conv.weight")
    );
    assert!(
        r.component("transformer")
            .unwrap()
            .keys()
            .contains("proj_in.weight")
    );
}

#[test]
fn kokoro_mlx() {
    let dir = tempfile::tempdir().unwrap();
    let r = write_kokoro_mlx(dir.path(), &KokoroSpec::tiny()).unwrap();
    check_fixture(&r);
    let d = dir.path();
    assert_eq!(
        rel_files(d, &r.files),
        [
            "config.json",
            "kokoro-v1_0.safetensors",
            "voices/af_heart.safetensors",
            "voices/am_adam.safetensors",
            "voices/bf_emma.safetensors"
        ]
    );
    assert!(
        read_header(&d.join("kokoro-v1_0.safetensors"))
            .metadata
            .is_none()
    );
    let cfg = json_file(&d.join("config.json"));
    for f in [
        "istftnet",
        "dim_in",
        "dropout",
        "hidden_dim",
        "max_conv_dim",
        "max_dur",
        "multispeaker",
        "n_layer",
        "n_mels",
        "n_token",
        "style_dim",
        "text_encoder_kernel_size",
        "plbert",
        "vocab",
    ] {
        assert!(cfg.get(f).is_some(), "{f}");
    }
    assert_eq!(cfg["vocab"]["ᵻ"], json!(31));
    let m = r.component("kokoro").unwrap();
    assert_eq!(m.tensor_count(), 548);
    let voice = read_header(&d.join("voices/am_adam.safetensors"));
    assert_eq!(voice.entries.len(), 1);
    assert_eq!(
        (
            voice.entries[0].name.as_str(),
            voice.entries[0].dtype.as_str()
        ),
        ("voice", "F32")
    );
    assert_eq!(voice.entries[0].shape, [30, 1, 16]);
    // Voices differ from each other.
    let a = fs::read(d.join("voices/af_heart.safetensors")).unwrap();
    let b = fs::read(d.join("voices/am_adam.safetensors")).unwrap();
    assert_ne!(a, b);
    assert!(r.file_bytes < 1 << 20, "{}", r.file_bytes);
}
