//! candle-transformers' FLUX.1, T5 and CLIP built on what the cache loads, for the BFL files and
//! the diffusers tree: T5 and CLIP on fixed token ids, one denoising step on a fixed latent,
//! the autoencoder's decode. Shapes are right, values finite, and a diffusers tree holding the
//! same weights as the BFL files (converted here, by splitting what the pipeline fuses) gives
//! the same image.
#![cfg(feature = "candle-transformers")]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_transformers::models::flux::{WithForward, sampling};
use modelcache_backend::{BackendError, BackendExt, NoProgress};
use modelcache_flux::{Component, FluxModel, FluxOptions, FluxPipeline, LayoutChoice, LoadDtype};
use modelcache_testkit::{FluxSpec, write_flux_diffusers, write_flux_repo};
use modelcache_weights::candle_core::{DType, Device, Module, Tensor};
use modelcache_weights::{Dtype, TensorData, write_safetensors};

/// Every component a layout has: BFL single files hold the transformer and the autoencoder.
fn options(layout: LayoutChoice) -> FluxOptions {
    let components = match layout {
        LayoutChoice::Bfl => &[Component::Transformer, Component::Vae][..],
        _ => &Component::ALL[..],
    };
    FluxOptions::default()
        .with_components(components.iter().copied())
        .with_layout(layout)
        .with_dtype(LoadDtype::F32)
}

fn load(path: &Path, layout: LayoutChoice) -> FluxModel {
    common::load(path, &options(layout)).unwrap()
}

/// The text encoders of a diffusers tree, as a pipeline of their own (what a BFL transformer
/// is served with).
fn text_encoders(path: &Path) -> FluxPipeline {
    let o = FluxOptions::default()
        .with_components([Component::TextEncoder, Component::TextEncoder2])
        .with_dtype(LoadDtype::F32);
    FluxPipeline::build(common::load(path, &o).unwrap()).unwrap()
}

/// A fixed, smooth input of `shape` (no randomness).
fn fixed(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::arange(0u32, n as u32, &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .affine(0.37, 0.1)
        .unwrap()
        .sin()
        .unwrap()
        .reshape(shape)
        .unwrap()
}

/// T5 and CLIP (of `text`) on fixed ids, one step from t = 1 to t = 0.5 on a fixed 32x32
/// latent, the decode: returns the image.
fn run(p: &FluxPipeline, text: &FluxPipeline) -> Tensor {
    let dev = Device::Cpu;
    let t5_ids = Tensor::new(&[[3u32, 17, 42, 99, 1]], &dev).unwrap();
    let txt = text
        .t5
        .as_ref()
        .unwrap()
        .lock()
        .unwrap()
        .forward(&t5_ids)
        .unwrap();
    assert_eq!(txt.dims(), [1, 5, 32]);
    let clip_ids = Tensor::new(&[[0u32, 7, 8, 9, 255]], &dev).unwrap();
    let vec = text.clip.as_ref().unwrap().forward(&clip_ids).unwrap();
    assert_eq!(vec.dims(), [1, 32]);

    let (flux, cfg) = p.transformer.as_ref().unwrap();
    let (height, width) = (32, 32);
    let dtype = txt.dtype();
    let latent = fixed(&[1, 16, 4, 4]).to_dtype(dtype).unwrap();
    let state = sampling::State::new(&txt, &vec, &latent).unwrap();
    assert_eq!(state.img.dims(), [1, 4, cfg.in_channels]);
    let t = Tensor::full(1f32, 1, &dev)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let pred = flux
        .forward(
            &state.img,
            &state.img_ids,
            &state.txt,
            &state.txt_ids,
            &t,
            &state.vec,
            None,
        )
        .unwrap();
    assert_eq!(pred.dims(), state.img.dims());
    let img = (&state.img + (pred * -0.5).unwrap()).unwrap();
    let img = sampling::unpack(&img, height, width).unwrap();
    let (ae, _) = p.autoencoder.as_ref().unwrap();
    let image = ae.decode(&img).unwrap().to_dtype(DType::F32).unwrap();
    assert_eq!(image.dims(), [1, 3, 8, 8]);
    let values = image.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
    image
}

fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn a_bfl_checkpoint_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_repo(dir.path(), &FluxSpec::tiny()).unwrap();
    let model = load(dir.path(), LayoutChoice::Bfl);
    let bytes = model.resident_bytes();
    let pipeline = FluxPipeline::build(model).unwrap();
    // BFL names are what candle reads: every tensor is taken as loaded.
    assert_eq!(pipeline.resident_bytes(), bytes);
    assert!(pipeline.t5.is_none() && pipeline.clip.is_none());
    run(&pipeline, &text_encoders(dir.path()));
}

#[test]
fn a_bfl_file_with_the_model_diffusion_model_prefix_builds_too() {
    let dir = tempfile::tempdir().unwrap();
    let spec = FluxSpec {
        prefix: true,
        ..FluxSpec::tiny()
    };
    write_flux_repo(dir.path(), &spec).unwrap();
    let model = load(dir.path(), LayoutChoice::Bfl);
    let transformer = model.component(Component::Transformer).unwrap();
    assert_eq!(transformer.prefix(), "model.diffusion_model.");
    let pipeline = FluxPipeline::build(model).unwrap();
    run(&pipeline, &text_encoders(dir.path()));
}

#[test]
fn a_diffusers_tree_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let model = load(dir.path(), LayoutChoice::Diffusers);
    let bytes = model.resident_bytes();
    let pipeline = FluxPipeline::build(model).unwrap();
    // Fused or split, the same numbers are held.
    assert_eq!(pipeline.resident_bytes(), bytes);
    run(&pipeline, &pipeline);
}

#[test]
fn the_same_weights_in_either_layout_give_the_same_image() {
    let bfl = tempfile::tempdir().unwrap();
    write_flux_repo(bfl.path(), &FluxSpec::tiny()).unwrap();
    let model = load(bfl.path(), LayoutChoice::Bfl);
    let diffusers = tempfile::tempdir().unwrap();
    write_flux_diffusers(diffusers.path(), &FluxSpec::tiny()).unwrap();
    let c = model.config().unwrap().clone();
    let transformer = model.component(Component::Transformer).unwrap();
    let split = to_diffusers_transformer(tensors(transformer), c.depth, c.depth_single_blocks);
    replace_weights(
        &diffusers.path().join("transformer"),
        "diffusion_pytorch_model",
        &split,
    );
    let vae = to_diffusers_vae(tensors(model.component(Component::Vae).unwrap()));
    replace_weights(
        &diffusers.path().join("vae"),
        "diffusion_pytorch_model",
        &vae,
    );

    let text = text_encoders(diffusers.path());
    let a = run(&FluxPipeline::build(model).unwrap(), &text);
    let b = FluxPipeline::build(load(diffusers.path(), LayoutChoice::Diffusers)).unwrap();
    let b = run(&b, &text);
    let d = max_difference(&a, &b);
    assert!(d < 1e-4, "the layouts disagree by {d}");
}

/// candle 0.9's CPU backend has no BF16 matrix multiply: the pipeline backend refuses a BF16
/// load (the default for checkpoints stored in BF16) at `check`, saying which dtype to set, and
/// runs in F16.
#[test]
fn bf16_is_refused_on_the_cpu_and_f16_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    for o in [
        FluxOptions::default(),
        FluxOptions::default().with_dtype(LoadDtype::Bf16),
    ] {
        let source = common::source(dir.path(), &o);
        let err = modelcache_flux::PIPELINE_BACKEND
            .inspect(&source)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("BF16") && text.contains("dtype = \"f32\""),
            "{text}"
        );
    }
    let o = FluxOptions::default()
        .with_components(Component::ALL)
        .with_dtype(LoadDtype::F16);
    let model = common::load(dir.path(), &o).unwrap();
    let pipeline = FluxPipeline::build(model).unwrap();
    run(&pipeline, &pipeline);
}

#[test]
fn an_mflux_tree_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    modelcache_testkit::write_flux_mflux(dir.path(), &modelcache_testkit::MfluxSpec::tiny())
        .unwrap();
    let model = common::load(dir.path(), &FluxOptions::default()).unwrap();
    let err = FluxPipeline::build(model).unwrap_err();
    assert!(matches!(err, BackendError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("mflux"), "{err}");
}

#[test]
fn the_pipeline_backend_charges_what_the_pipeline_holds() {
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let o = options(LayoutChoice::Auto);
    let source = common::source(dir.path(), &o);
    let hint = modelcache_flux::PIPELINE_BACKEND
        .memory_hint(&source)
        .unwrap();
    let pipeline = modelcache_flux::PIPELINE_BACKEND
        .open_and_load(&source, &NoProgress)
        .unwrap();
    assert_eq!(pipeline.resident_bytes(), hint);
    run(&pipeline, &pipeline);
}

fn tensors(c: &modelcache_flux::LoadedComponent) -> HashMap<String, Tensor> {
    c.tensors()
        .iter()
        .map(|(n, t)| (n.to_owned(), t.clone()))
        .collect()
}

/// Replaces the weights of a diffusers component folder with `tensors` in one file.
fn replace_weights(dir: &Path, stem: &str, tensors: &HashMap<String, Tensor>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".safetensors") || name.ends_with(".index.json") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.clone(), t.dims().to_vec(), bytes)
        })
        .collect();
    let all = data
        .iter()
        .map(|(n, s, b)| TensorData::new(n, Dtype::F32, s, b));
    write_safetensors(&dir.join(format!("{stem}.safetensors")), all, None).unwrap();
}

/// Moves `{from}.weight`/`.bias` to `{to}.…`.
fn mv(t: &mut HashMap<String, Tensor>, out: &mut HashMap<String, Tensor>, from: &str, to: &str) {
    for p in ["weight", "bias"] {
        if let Some(x) = t.remove(&format!("{from}.{p}")) {
            out.insert(format!("{to}.{p}"), x);
        }
    }
}

/// Splits `{from}.weight`/`.bias` along the rows into `parts` of `sizes` rows.
fn split(
    t: &mut HashMap<String, Tensor>,
    out: &mut HashMap<String, Tensor>,
    from: &str,
    parts: &[(String, usize)],
) {
    for p in ["weight", "bias"] {
        let Some(x) = t.remove(&format!("{from}.{p}")) else {
            continue;
        };
        let mut at = 0;
        for (name, rows) in parts {
            out.insert(
                format!("{name}.{p}"),
                x.narrow(0, at, *rows).unwrap().contiguous().unwrap(),
            );
            at += rows;
        }
    }
}

/// BFL transformer names to diffusers': the inverse of what the pipeline does, written apart.
fn to_diffusers_transformer(
    mut t: HashMap<String, Tensor>,
    depth: u64,
    single: u64,
) -> HashMap<String, Tensor> {
    let mut out = HashMap::new();
    let h = t["img_in.weight"].dim(0).unwrap();
    for (from, to) in [
        ("img_in", "x_embedder"),
        ("txt_in", "context_embedder"),
        (
            "time_in.in_layer",
            "time_text_embed.timestep_embedder.linear_1",
        ),
        (
            "time_in.out_layer",
            "time_text_embed.timestep_embedder.linear_2",
        ),
        (
            "vector_in.in_layer",
            "time_text_embed.text_embedder.linear_1",
        ),
        (
            "vector_in.out_layer",
            "time_text_embed.text_embedder.linear_2",
        ),
        ("final_layer.linear", "proj_out"),
    ] {
        mv(&mut t, &mut out, from, to);
    }
    for i in 0..depth {
        let (b, d) = (
            format!("double_blocks.{i}."),
            format!("transformer_blocks.{i}."),
        );
        for (from, to) in [
            ("img_mod.lin", "norm1.linear"),
            ("txt_mod.lin", "norm1_context.linear"),
            ("img_attn.proj", "attn.to_out.0"),
            ("txt_attn.proj", "attn.to_add_out"),
            ("img_mlp.0", "ff.net.0.proj"),
            ("img_mlp.2", "ff.net.2"),
            ("txt_mlp.0", "ff_context.net.0.proj"),
            ("txt_mlp.2", "ff_context.net.2"),
        ] {
            mv(&mut t, &mut out, &format!("{b}{from}"), &format!("{d}{to}"));
        }
        let q = |n: &str| (format!("{d}attn.{n}"), h);
        split(
            &mut t,
            &mut out,
            &format!("{b}img_attn.qkv"),
            &[q("to_q"), q("to_k"), q("to_v")],
        );
        let add = [q("add_q_proj"), q("add_k_proj"), q("add_v_proj")];
        split(&mut t, &mut out, &format!("{b}txt_attn.qkv"), &add);
        for (from, to) in [
            ("img_attn.norm.query_norm", "norm_q"),
            ("img_attn.norm.key_norm", "norm_k"),
            ("txt_attn.norm.query_norm", "norm_added_q"),
            ("txt_attn.norm.key_norm", "norm_added_k"),
        ] {
            let x = t.remove(&format!("{b}{from}.scale")).unwrap();
            out.insert(format!("{d}attn.{to}.weight"), x);
        }
    }
    for j in 0..single {
        let (b, d) = (
            format!("single_blocks.{j}."),
            format!("single_transformer_blocks.{j}."),
        );
        mv(
            &mut t,
            &mut out,
            &format!("{b}modulation.lin"),
            &format!("{d}norm.linear"),
        );
        mv(
            &mut t,
            &mut out,
            &format!("{b}linear2"),
            &format!("{d}proj_out"),
        );
        let rows = t[&format!("{b}linear1.weight")].dim(0).unwrap();
        let parts = [
            (format!("{d}attn.to_q"), h),
            (format!("{d}attn.to_k"), h),
            (format!("{d}attn.to_v"), h),
            (format!("{d}proj_mlp"), rows - 3 * h),
        ];
        split(&mut t, &mut out, &format!("{b}linear1"), &parts);
        for (from, to) in [("norm.query_norm", "norm_q"), ("norm.key_norm", "norm_k")] {
            let x = t.remove(&format!("{b}{from}.scale")).unwrap();
            out.insert(format!("{d}attn.{to}.weight"), x);
        }
    }
    for p in ["weight", "bias"] {
        let x = t
            .remove(&format!("final_layer.adaLN_modulation.1.{p}"))
            .unwrap();
        let (shift, scale) = (x.narrow(0, 0, h).unwrap(), x.narrow(0, h, h).unwrap());
        out.insert(
            format!("norm_out.linear.{p}"),
            Tensor::cat(&[scale, shift], 0).unwrap(),
        );
    }
    assert!(
        t.is_empty(),
        "not converted: {:?}",
        t.keys().collect::<Vec<_>>()
    );
    out
}

/// BFL `ae.safetensors` names to diffusers' `AutoencoderKL`.
fn to_diffusers_vae(mut t: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    let mut out = HashMap::new();
    let levels = (0..)
        .take_while(|l| t.contains_key(&format!("encoder.down.{l}.block.0.conv1.weight")))
        .count();
    let layers = (0..)
        .take_while(|b| t.contains_key(&format!("encoder.down.0.block.{b}.conv1.weight")))
        .count();
    let res = |t: &mut HashMap<String, Tensor>,
               out: &mut HashMap<String, Tensor>,
               from: &str,
               to: &str| {
        for (a, b) in [
            ("norm1", "norm1"),
            ("conv1", "conv1"),
            ("norm2", "norm2"),
            ("conv2", "conv2"),
            ("nin_shortcut", "conv_shortcut"),
        ] {
            mv(t, out, &format!("{from}.{a}"), &format!("{to}.{b}"));
        }
    };
    for side in ["encoder", "decoder"] {
        mv(
            &mut t,
            &mut out,
            &format!("{side}.conv_in"),
            &format!("{side}.conv_in"),
        );
        mv(
            &mut t,
            &mut out,
            &format!("{side}.conv_out"),
            &format!("{side}.conv_out"),
        );
        mv(
            &mut t,
            &mut out,
            &format!("{side}.norm_out"),
            &format!("{side}.conv_norm_out"),
        );
        res(
            &mut t,
            &mut out,
            &format!("{side}.mid.block_1"),
            &format!("{side}.mid_block.resnets.0"),
        );
        res(
            &mut t,
            &mut out,
            &format!("{side}.mid.block_2"),
            &format!("{side}.mid_block.resnets.1"),
        );
        let (a, d) = (
            format!("{side}.mid.attn_1"),
            format!("{side}.mid_block.attentions.0"),
        );
        mv(
            &mut t,
            &mut out,
            &format!("{a}.norm"),
            &format!("{d}.group_norm"),
        );
        for (from, to) in [
            ("q", "to_q"),
            ("k", "to_k"),
            ("v", "to_v"),
            ("proj_out", "to_out.0"),
        ] {
            let w = t.remove(&format!("{a}.{from}.weight")).unwrap();
            let (o, i, _, _) = w.dims4().unwrap();
            out.insert(format!("{d}.{to}.weight"), w.reshape((o, i)).unwrap());
            mv(
                &mut t,
                &mut out,
                &format!("{a}.{from}"),
                &format!("{d}.{to}"),
            );
        }
    }
    for l in 0..levels {
        for b in 0..layers {
            res(
                &mut t,
                &mut out,
                &format!("encoder.down.{l}.block.{b}"),
                &format!("encoder.down_blocks.{l}.resnets.{b}"),
            );
        }
        mv(
            &mut t,
            &mut out,
            &format!("encoder.down.{l}.downsample.conv"),
            &format!("encoder.down_blocks.{l}.downsamplers.0.conv"),
        );
        let up = levels - 1 - l;
        for b in 0..=layers {
            res(
                &mut t,
                &mut out,
                &format!("decoder.up.{l}.block.{b}"),
                &format!("decoder.up_blocks.{up}.resnets.{b}"),
            );
        }
        mv(
            &mut t,
            &mut out,
            &format!("decoder.up.{l}.upsample.conv"),
            &format!("decoder.up_blocks.{up}.upsamplers.0.conv"),
        );
    }
    assert!(
        t.is_empty(),
        "not converted: {:?}",
        t.keys().collect::<Vec<_>>()
    );
    out
}

#[test]
fn the_pipeline_takes_no_text_encoder_from_another_entry() {
    use modelcache_backend::{Backend, Component as Given, DynBackend, ModelSource};
    use modelcache_flux::PIPELINE_BACKEND;
    assert!(Backend::components(&PIPELINE_BACKEND).is_empty());
    let dir = tempfile::tempdir().unwrap();
    write_flux_diffusers(dir.path(), &FluxSpec::tiny()).unwrap();
    let t5 = Given {
        role: "text_encoder_2".into(),
        id: "t5-xxl".into(),
        path: dir.path().join("text_encoder_2"),
        backend: "safetensors".into(),
    };
    let options = FluxOptions::default()
        .with_components(Component::ALL)
        .with_dtype(LoadDtype::F32);
    let given = [t5.clone()];
    let source = ModelSource::new("flux-pipe", dir.path(), &options).with_components(&given);
    let err = PIPELINE_BACKEND.inspect(&source).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Options { .. }), "{text}");
    assert!(
        text.contains("\"t5-xxl\"") && text.contains("flux-pipeline"),
        "{text}"
    );
    let refused = std::sync::Arc::new(PIPELINE_BACKEND)
        .prepare_using("flux-pipe", dir.path(), vec![t5], None)
        .err()
        .unwrap();
    assert!(refused.to_string().contains("it takes none"), "{refused}");
}
