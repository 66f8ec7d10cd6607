//! Checkpoints that do not fit their config: the first problem, as `Invalid`, naming the file
//! and the tensor, before anything is loaded; and header errors kept for downcasting.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions panic on failure

mod common;

use std::path::Path;

use common::{hint, invalid, load};
use modelcache_core::BackendError;
use modelcache_flux::{Component, FluxOptions};
use modelcache_testkit::flux::{
    FluxConfig as SpecConfig, ae_keys, bfl_transformer_keys, mflux_transformer_keys, quantize,
};
use modelcache_testkit::{
    FluxSpec, Metadata, TensorSpec, write_flux_bfl, write_flux_diffusers, write_mflux_sharded,
    write_safetensors,
};
use modelcache_weights::WeightsError;

fn transformer_only() -> FluxOptions {
    FluxOptions::default().with_components([Component::Transformer])
}

/// A BFL folder whose transformer is the tiny key table after `edit`.
fn bfl_with(dir: &Path, edit: impl FnOnce(&mut Vec<TensorSpec>)) -> std::path::PathBuf {
    let mut tensors = bfl_transformer_keys(&SpecConfig::tiny()).into_tensors();
    edit(&mut tensors);
    let file = dir.join("flux1-schnell.safetensors");
    write_safetensors(&file, &tensors, None, 0).unwrap();
    file
}

fn set_shape(tensors: &mut [TensorSpec], name: &str, shape: &[u64]) {
    let t = tensors.iter_mut().find(|t| t.name == name).unwrap();
    t.shape = shape.to_vec();
}

#[test]
fn bfl_missing_block_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let name = "double_blocks.1.img_attn.qkv.weight";
    let file = bfl_with(dir.path(), |t| t.retain(|t| t.name != name));
    for err in [
        hint(dir.path(), &transformer_only()).unwrap_err(),
        load(dir.path(), &transformer_only()).unwrap_err(),
    ] {
        let (path, tensor, reason) = invalid(err);
        assert_eq!((path, tensor.as_str()), (file.clone(), name));
        assert!(
            reason.contains("missing") && reason.contains("2 double"),
            "{reason}"
        );
    }
}

#[test]
fn bfl_wrong_widths() {
    let dir = tempfile::tempdir().unwrap();
    // H = 32, M = 128: linear2 is [H, H + M] = [32, 160].
    let name = "single_blocks.3.linear2.weight";
    let file = bfl_with(dir.path(), |t| set_shape(t, name, &[32, 192]));
    let (path, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!((path, tensor.as_str()), (file, name));
    assert!(
        reason.contains("[32, 192]") && reason.contains("[32, 160]"),
        "{reason}"
    );

    let name = "double_blocks.0.txt_attn.qkv.weight";
    bfl_with(dir.path(), |t| set_shape(t, name, &[64, 32]));
    let (_, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!(tensor, name);
    assert!(reason.contains("expected [96, 32]"), "{reason}");
}

#[test]
fn bfl_autoencoder_missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    let name = "decoder.up.0.block.1.conv2.weight";
    let mut tensors = ae_keys(&FluxSpec::tiny().ae).into_tensors();
    tensors.retain(|t| t.name != name);
    let ae = dir.path().join("ae.safetensors");
    write_safetensors(&ae, &tensors, None, 0).unwrap();
    let (path, tensor, _) = invalid(hint(dir.path(), &FluxOptions::default()).unwrap_err());
    assert_eq!((path, tensor.as_str()), (ae, name));
}

#[test]
fn absurd_block_index_is_an_error_not_an_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let name = "double_blocks.99999999999.img_mod.lin.weight";
    let file = bfl_with(dir.path(), |t| {
        t.push(TensorSpec::new(name, modelcache_testkit::Dtype::BF16, [1]))
    });
    let (path, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!((path, tensor.as_str()), (file, name));
    assert!(reason.contains("implausible"), "{reason}");
}

#[test]
fn not_a_flux_transformer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flux1-schnell.safetensors");
    write_safetensors(
        &file,
        &ae_keys(&FluxSpec::tiny().ae).into_tensors(),
        None,
        0,
    )
    .unwrap();
    let (path, tensor, reason) = invalid(hint(&file, &transformer_only()).unwrap_err());
    assert_eq!((path, tensor.as_str()), (file, "img_in.weight"));
    assert!(reason.contains("missing"), "{reason}");
}

/// An mflux tree holding only a 4-bit transformer (group size 32), after `edit`.
fn mflux_with(dir: &Path, edit: impl FnOnce(&mut Vec<TensorSpec>)) -> std::path::PathBuf {
    let mut tensors = quantize(mflux_transformer_keys(&SpecConfig::tiny()), 4, 32).unwrap();
    edit(&mut tensors);
    let meta = Metadata::from([
        ("quantization_level".to_owned(), "4".to_owned()),
        ("mflux_version".to_owned(), "0.13.0".to_owned()),
    ]);
    let folder = dir.join("transformer");
    write_mflux_sharded(&folder, &tensors, u64::MAX, &meta, 0).unwrap();
    folder.join("0.safetensors")
}

#[test]
fn mflux_wrong_packed_width() {
    let dir = tempfile::tempdir().unwrap();
    // in = 32 at 4 bits: 4 U32 per row.
    let name = "transformer_blocks.1.attn.to_k.weight";
    let shard = mflux_with(dir.path(), |t| set_shape(t, name, &[32, 8]));
    for err in [
        hint(dir.path(), &transformer_only()).unwrap_err(),
        load(dir.path(), &transformer_only()).unwrap_err(),
    ] {
        let (path, tensor, reason) = invalid(err);
        assert_eq!((path, tensor.as_str()), (shard.clone(), name));
        assert!(
            reason.contains("packed") && reason.contains("[32, 4]"),
            "{reason}"
        );
    }
    // The unbroken tree loads.
    let ok = tempfile::tempdir().unwrap();
    mflux_with(ok.path(), |_| {});
    assert!(load(ok.path(), &transformer_only()).is_ok());
}

#[test]
fn mflux_wrong_group_and_missing_scales() {
    let dir = tempfile::tempdir().unwrap();
    let name = "single_transformer_blocks.2.proj_mlp.scales";
    let shard = mflux_with(dir.path(), |t| set_shape(t, name, &[128, 2]));
    let (path, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!((path, tensor.as_str()), (shard, name));
    assert!(reason.contains("group size 16"), "{reason}");

    let name = "x_embedder.biases";
    mflux_with(dir.path(), |t| t.retain(|t| t.name != name));
    let (path, tensor, _) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!(tensor, name);
    assert!(
        path.ends_with("transformer/model.safetensors.index.json"),
        "{}",
        path.display()
    );
}

#[test]
fn mflux_unknown_quantization_level() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = quantize(mflux_transformer_keys(&SpecConfig::tiny()), 4, 32).unwrap();
    let meta = Metadata::from([("quantization_level".to_owned(), "7".to_owned())]);
    write_mflux_sharded(
        &dir.path().join("transformer"),
        &tensors,
        u64::MAX,
        &meta,
        0,
    )
    .unwrap();
    let err = hint(dir.path(), &transformer_only()).unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("0.safetensors") && err.to_string().contains("\"7\""),
        "{err}"
    );
}

/// Rewrites one field of `dir/<component>/config.json`.
fn edit_config(dir: &Path, component: &str, field: &str, value: serde_json::Value) {
    let path = dir.join(component).join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[field] = value;
    std::fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn diffusers_config_disagreeing_with_the_weights() {
    let spec = FluxSpec::tiny();
    let dir = tempfile::tempdir().unwrap();
    let report = write_flux_diffusers(dir.path(), &spec).unwrap();
    let shards = &report.component("transformer").unwrap().files;
    let index = dir
        .path()
        .join("transformer/diffusion_pytorch_model.safetensors.index.json");

    // More blocks in the config than in the weights: the first missing block.
    edit_config(dir.path(), "transformer", "num_layers", 3.into());
    let (path, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert_eq!(
        (path, tensor.as_str()),
        (index, "transformer_blocks.2.norm1.linear.weight")
    );
    assert!(
        reason.contains("num_layers") && reason.contains("config.json"),
        "{reason}"
    );

    // Fewer: the first block the config does not know.
    edit_config(dir.path(), "transformer", "num_layers", 1.into());
    let (path, tensor, reason) = invalid(load(dir.path(), &transformer_only()).unwrap_err());
    assert!(shards.contains(&path), "{}", path.display());
    assert!(tensor.starts_with("transformer_blocks.1."), "{tensor}");
    assert!(reason.contains("num_layers = 1"), "{reason}");

    // A width: head dim 8 × 2 heads = 16, the weights are 32 wide.
    edit_config(dir.path(), "transformer", "num_layers", 2.into());
    edit_config(dir.path(), "transformer", "attention_head_dim", 8.into());
    let (path, tensor, reason) = invalid(hint(dir.path(), &transformer_only()).unwrap_err());
    assert!(shards.contains(&path), "{}", path.display());
    assert_eq!(tensor, "time_text_embed.timestep_embedder.linear_1.weight");
    assert!(
        reason.contains("expected [16, 256]") && reason.contains("config.json"),
        "{reason}"
    );

    // The VAE's config too.
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &spec).unwrap();
    edit_config(dir.path(), "vae", "latent_channels", 8.into());
    let (path, tensor, _) = invalid(hint(dir.path(), &FluxOptions::default()).unwrap_err());
    assert!(path.ends_with("vae/diffusion_pytorch_model.safetensors"));
    assert_eq!(tensor, "encoder.conv_out.weight");

    // And the text encoders'.
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &spec).unwrap();
    edit_config(dir.path(), "text_encoder_2", "d_ff", 48.into());
    let t5 = FluxOptions::default().with_components([Component::TextEncoder2]);
    let (_, tensor, _) = invalid(hint(dir.path(), &t5).unwrap_err());
    assert_eq!(tensor, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
}

#[test]
fn diffusers_transformer_of_another_family() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let index = dir.path().join("model_index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        text.replace("FluxTransformer2DModel", "LTXVideoTransformer3DModel"),
    )
    .unwrap();
    let err = hint(dir.path(), &FluxOptions::default()).unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid { path, .. } if *path == index),
        "{err}"
    );
    assert!(
        err.to_string().contains("LTXVideoTransformer3DModel"),
        "{err}"
    );
}

#[test]
fn header_errors_keep_the_weights_error() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    let ae = dir.path().join("ae.safetensors");
    let f = std::fs::OpenOptions::new().write(true).open(&ae).unwrap();
    f.set_len(f.metadata().unwrap().len() - 1).unwrap();
    for err in [
        hint(dir.path(), &FluxOptions::default()).unwrap_err(),
        load(dir.path(), &FluxOptions::default()).unwrap_err(),
    ] {
        assert!(err.to_string().contains("ae.safetensors"), "{err}");
        let BackendError::Checkpoint { path, source } = err else {
            panic!("expected Checkpoint, got {err:?}");
        };
        assert_eq!(path, ae);
        assert!(matches!(
            source.downcast_ref::<WeightsError>(),
            Some(WeightsError::Truncated { .. })
        ));
    }
}

#[test]
fn missing_diffusers_component_names_the_expected_files() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    std::fs::remove_file(dir.path().join("text_encoder/model.safetensors")).unwrap();
    let clip = FluxOptions::default().with_components([Component::TextEncoder]);
    let err = hint(dir.path(), &clip).unwrap_err();
    assert!(matches!(err, BackendError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn a_dtype_candle_cannot_hold_fails_the_hint_not_just_the_load() {
    use modelcache_weights::{Dtype, TensorData};
    let dir = tempfile::tempdir().unwrap();
    write_flux_bfl(dir.path(), &FluxSpec::tiny()).unwrap();
    // The autoencoder again, plus one I8 tensor.
    let specs = ae_keys(&FluxSpec::tiny().ae).into_tensors();
    let shapes: Vec<Vec<usize>> = specs
        .iter()
        .map(|t| t.shape.iter().map(|&d| d as usize).collect())
        .collect();
    let zeros = vec![0u8; 4 << 20];
    let mut tensors: Vec<TensorData<'_>> = specs
        .iter()
        .zip(&shapes)
        .map(|(t, shape)| {
            let n = shape.iter().product::<usize>() * 4;
            TensorData::new(&t.name, Dtype::F32, shape, &zeros[..n])
        })
        .collect();
    tensors.push(TensorData::new("extra.int8", Dtype::I8, &[4], &zeros[..4]));
    let ae = dir.path().join("ae.safetensors");
    modelcache_weights::write_safetensors(&ae, tensors, None).unwrap();
    let vae = FluxOptions::default().with_components([Component::Vae]);
    let (path, tensor, reason) = invalid(hint(dir.path(), &vae).unwrap_err());
    assert_eq!((path, tensor.as_str()), (ae, "extra.int8"));
    assert!(reason.contains("I8"), "{reason}");
}
