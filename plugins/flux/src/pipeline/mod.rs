//! [`FluxPipeline`]: candle-transformers' FLUX.1 code built on a loaded [`FluxModel`], for every
//! float layout the plugin accepts (feature `candle-transformers`).
//!
//! What candle-transformers 0.9 reads is BFL's naming, so a BFL checkpoint is handed over as
//! stored (less a `model.diffusion_model.` prefix) and a diffusers tree is converted
//! ([`rename`]). The text encoders keep their Hugging Face names. The configs come from the
//! checkpoint: the transformer's from its shapes or `transformer/config.json` (the plugin's
//! [`FluxConfig`]), the autoencoder's from its shapes or `vae/config.json`, the text
//! encoders' from their `config.json`. mflux trees are refused: their quantized weights would
//! have to be dequantized, which this does not do.

mod backend;
mod rename;
mod used;

pub use backend::{FluxPipelineBackend, PIPELINE_BACKEND, PIPELINE_NAME};

use std::path::Path;
use std::sync::Mutex;

use candle_transformers::models::clip::text_model::{
    Activation, ClipTextConfig, ClipTextTransformer,
};
use candle_transformers::models::flux::autoencoder::{self, AutoEncoder};
use candle_transformers::models::flux::model::{self, Flux};
use candle_transformers::models::t5::{self, T5EncoderModel};
use modelcache_backend::BackendError;
use modelcache_weights::candle_core::{DType, Tensor};
use serde::Deserialize;

use crate::config::FluxConfig;
use crate::layout::Layout;
use crate::model::{FluxModel, LoadedComponent};
use crate::options::Component;
use used::Taken;

/// FLUX.1's RoPE split of a 128-wide head over (time, height, width), and its base.
const FLUX_AXES: [usize; 3] = [16, 56, 56];
const FLUX_THETA: usize = 10_000;
/// `ae.safetensors` carries no latent normalisation; these are BFL's `AutoEncoderParams`.
const BFL_SCALE_SHIFT: (f64, f64) = (0.3611, 0.1159);

/// The runnable FLUX.1 pipeline: each component the model loaded, built by
/// candle-transformers on the cached tensors (which it shares, or holds converted).
pub struct FluxPipeline {
    /// The diffusion transformer and its config, when loaded.
    pub transformer: Option<(Flux, model::Config)>,
    /// The autoencoder and its config, when loaded.
    pub autoencoder: Option<(AutoEncoder, autoencoder::Config)>,
    /// The CLIP-L text transformer (`text_encoder/`), when loaded.
    pub clip: Option<ClipTextTransformer>,
    /// The T5 encoder (`text_encoder_2/`), when loaded. candle's T5 takes `&mut self` to run,
    /// so it is behind a lock.
    pub t5: Option<Mutex<T5EncoderModel>>,
    resident: u64,
}

impl FluxPipeline {
    /// Builds every loaded component of `model`. The model's tensors are shared where the
    /// names match and converted where they do not (diffusers' split projections are fused),
    /// so the pipeline holds about the model's bytes; [`resident_bytes`](Self::resident_bytes)
    /// counts exactly the tensors it kept.
    ///
    /// # Errors
    /// An mflux model, a checkpoint candle-transformers rejects (a key or shape it does not
    /// find, named with the component's folder), an unreadable text-encoder `config.json`.
    pub fn build(model: FluxModel) -> Result<Self, BackendError> {
        if model.layout() == Layout::Mflux {
            return Err(BackendError::invalid(
                model
                    .components()
                    .first()
                    .map_or(Path::new(""), LoadedComponent::folder),
                "mflux trees are not built into a candle-transformers pipeline: their weights \
                 are MLX-quantized or MLX-laid-out; use the BFL or diffusers layout",
            ));
        }
        let layout = model.layout();
        let config = model.config().cloned();
        let mut pipeline = Self {
            transformer: None,
            autoencoder: None,
            clip: None,
            t5: None,
            resident: 0,
        };
        for component in model.into_components() {
            pipeline.add(component, layout, config.as_ref())?;
        }
        Ok(pipeline)
    }

    fn add(
        &mut self,
        c: LoadedComponent,
        layout: Layout,
        config: Option<&FluxConfig>,
    ) -> Result<(), BackendError> {
        let folder = c.folder().to_path_buf();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            BackendError::invalid(&folder, format!("candle-transformers' {what}: {e}"))
        };
        let component = c.component();
        let prefix = c.prefix();
        let mut tensors = c.into_tensors().into_inner();
        if !prefix.is_empty() {
            tensors = tensors
                .into_iter()
                .map(|(n, t)| (n.strip_prefix(prefix).map_or(n.clone(), str::to_owned), t))
                .collect();
        }
        let dtype = float_dtype(&tensors);
        match component {
            Component::Transformer => {
                let Some(fc) = config else {
                    return Err(BackendError::invalid(
                        &folder,
                        "the transformer has no config",
                    ));
                };
                let cfg = transformer_config(fc, &folder).map_err(|e| fail("FLUX.1 config", &e))?;
                if layout == Layout::Diffusers {
                    tensors = rename::transformer(tensors, fc.depth, fc.depth_single_blocks)
                        .map_err(|e| fail("FLUX.1 names", &e))?;
                }
                let taken = Taken::new(tensors);
                let flux = Flux::new(&cfg, used::builder(&taken, dtype))
                    .map_err(|e| fail("FLUX.1 transformer", &e))?;
                self.resident += taken.bytes();
                self.transformer = Some((flux, cfg));
            }
            Component::Vae => {
                let (cfg, levels, layers) = vae_config(&tensors, layout, &folder)
                    .map_err(|e| fail("autoencoder config", &e))?;
                if layout == Layout::Diffusers {
                    tensors = rename::vae(tensors, levels, layers)
                        .map_err(|e| fail("autoencoder names", &e))?;
                }
                let taken = Taken::new(tensors);
                let ae = AutoEncoder::new(&cfg, used::builder(&taken, dtype))
                    .map_err(|e| fail("FLUX.1 autoencoder", &e))?;
                self.resident += taken.bytes();
                self.autoencoder = Some((ae, cfg));
            }
            Component::TextEncoder => {
                let cfg = clip_config(&folder)?;
                let taken = Taken::new(tensors);
                let vb = used::builder(&taken, dtype).pp("text_model");
                let clip =
                    ClipTextTransformer::new(vb, &cfg).map_err(|e| fail("CLIP text model", &e))?;
                self.resident += taken.bytes();
                self.clip = Some(clip);
            }
            Component::TextEncoder2 => {
                let path = folder.join("config.json");
                let cfg: t5::Config = modelcache_weights::read_config_json(&path)
                    .map_err(|e| e.into_backend_error("the T5 config"))?;
                let taken = Taken::new(tensors);
                let t5 = T5EncoderModel::load(used::builder(&taken, dtype), &cfg)
                    .map_err(|e| fail("T5 encoder", &e))?;
                self.resident += taken.bytes();
                self.t5 = Some(Mutex::new(t5));
            }
        }
        Ok(())
    }

    /// Bytes of every tensor the built components hold, counted as they took them.
    pub fn resident_bytes(&self) -> u64 {
        self.resident
    }
}

impl std::fmt::Debug for FluxPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FluxPipeline")
            .field("transformer", &self.transformer.as_ref().map(|(_, c)| c))
            .field("autoencoder", &self.autoencoder.as_ref().map(|(_, c)| c))
            .field("clip", &self.clip.is_some())
            .field("t5", &self.t5.is_some())
            .field("resident_bytes", &self.resident)
            .finish()
    }
}

/// The dtype the component runs in: its first floating-point tensor's (F32 when none).
fn float_dtype(tensors: &std::collections::HashMap<String, Tensor>) -> DType {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|n| tensors[n].dtype())
        .find(|d| d.is_float())
        .unwrap_or(DType::F32)
}

/// candle's FLUX.1 config from the plugin's: shapes from the checkpoint, the RoPE split from
/// `transformer/config.json`'s `axes_dims_rope` when there is one, else FLUX.1's split scaled
/// to the head width (see [`rope_axes`]).
fn transformer_config(c: &FluxConfig, folder: &Path) -> Result<model::Config, String> {
    if c.out_channels != c.in_channels {
        return Err(format!(
            "candle's final layer writes in_channels ({}) channels, the checkpoint's writes {}",
            c.in_channels, c.out_channels
        ));
    }
    #[derive(Deserialize)]
    struct Rope {
        axes_dims_rope: Option<Vec<usize>>,
    }
    let json = folder.join("transformer").join("config.json");
    let json = if json.is_file() {
        json
    } else {
        folder.join("config.json")
    };
    let read: Option<Rope> = json
        .is_file()
        .then(|| modelcache_weights::read_config_json(&json).ok())
        .flatten();
    let head = usize::try_from(c.head_dim()).map_err(|e| e.to_string())?;
    let axes_dim = match read.and_then(|r| r.axes_dims_rope) {
        Some(axes) => axes,
        None => rope_axes(head).ok_or_else(|| format!("no RoPE split for head width {head}"))?,
    };
    if axes_dim.iter().sum::<usize>() != head || axes_dim.iter().any(|a| a % 2 != 0) {
        return Err(format!(
            "RoPE axes {axes_dim:?} do not split the head width {head} into even parts"
        ));
    }
    let n = |v: u64| usize::try_from(v).map_err(|e| e.to_string());
    Ok(model::Config {
        in_channels: n(c.in_channels)?,
        vec_in_dim: n(c.vec_in_dim)?,
        context_in_dim: n(c.context_in_dim)?,
        hidden_size: n(c.hidden_size)?,
        mlp_ratio: c.mlp_ratio(),
        num_heads: n(c.num_heads)?,
        depth: n(c.depth)?,
        depth_single_blocks: n(c.depth_single_blocks)?,
        axes_dim,
        theta: FLUX_THETA,
        qkv_bias: c.qkv_bias,
        guidance_embed: c.guidance_embed,
    })
}

/// FLUX.1's RoPE split (an eighth of the head for time, the rest halved between height and
/// width: 16/56/56 of 128) for any head width, rounded so that every part is even; `None` when
/// no such split exists.
pub(crate) fn rope_axes(head: usize) -> Option<Vec<usize>> {
    if head == FLUX_AXES.iter().sum::<usize>() {
        return Some(FLUX_AXES.to_vec());
    }
    let mut time = (head / 8) & !1;
    while time < head {
        let rest = head - time;
        if time > 0 && rest % 4 == 0 {
            return Some(vec![time, rest / 2, rest / 2]);
        }
        time += 2;
    }
    None
}

/// candle's autoencoder config, and the level and resnet counts, from the shapes (and a
/// diffusers `vae/config.json`'s scaling).
fn vae_config(
    t: &std::collections::HashMap<String, Tensor>,
    layout: Layout,
    folder: &Path,
) -> Result<(autoencoder::Config, usize, u64), String> {
    let dim = |name: &str, axis: usize| -> Result<usize, String> {
        t.get(name)
            .ok_or_else(|| format!("missing {name}"))?
            .dim(axis)
            .map_err(|e| e.to_string())
    };
    let count = |prefix: &str| {
        t.keys()
            .filter_map(|k| {
                k.strip_prefix(prefix)?
                    .split('.')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .max()
            .map_or(0, |m| m + 1)
    };
    let (down, block, first) = match layout {
        Layout::Diffusers => ("encoder.down_blocks.", "resnets", "resnets.0.conv1.weight"),
        _ => ("encoder.down.", "block", "block.0.conv1.weight"),
    };
    let levels = count(down);
    let layers = count(&format!("{down}0.{block}."));
    let ch = dim("encoder.conv_in.weight", 0)?;
    let ch_mult = (0..levels)
        .map(|l| Ok(dim(&format!("{down}{l}.{first}"), 0)? / ch.max(1)))
        .collect::<Result<Vec<_>, String>>()?;
    let (scale_factor, shift_factor) = match layout {
        Layout::Diffusers => {
            #[derive(Deserialize)]
            struct Scaling {
                scaling_factor: f64,
                shift_factor: Option<f64>,
            }
            let s: Scaling = modelcache_weights::read_config_json(&folder.join("config.json"))
                .map_err(|e| e.to_string())?;
            (s.scaling_factor, s.shift_factor.unwrap_or(0.0))
        }
        _ => BFL_SCALE_SHIFT,
    };
    let cfg = autoencoder::Config {
        resolution: 256,
        in_channels: dim("encoder.conv_in.weight", 1)?,
        ch,
        out_ch: dim("decoder.conv_out.weight", 0)?,
        ch_mult,
        num_res_blocks: layers,
        z_channels: dim("decoder.conv_in.weight", 1)?,
        scale_factor,
        shift_factor,
    };
    Ok((cfg, levels, layers as u64))
}

/// candle's CLIP text config from `text_encoder/config.json`.
fn clip_config(folder: &Path) -> Result<ClipTextConfig, BackendError> {
    #[derive(Deserialize)]
    struct Clip {
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        #[serde(default)]
        projection_dim: Option<usize>,
        #[serde(default)]
        hidden_act: Option<String>,
    }
    let path = folder.join("config.json");
    let c: Clip = modelcache_weights::read_config_json(&path)
        .map_err(|e| e.into_backend_error("the CLIP text config"))?;
    if let Some(act) = c.hidden_act.as_deref().filter(|a| *a != "quick_gelu") {
        return Err(BackendError::invalid(
            &path,
            format!(
                "hidden_act {act:?}: candle-transformers' CLIP text model runs quick_gelu only"
            ),
        ));
    }
    Ok(ClipTextConfig {
        vocab_size: c.vocab_size,
        embed_dim: c.hidden_size,
        activation: Activation::QuickGelu,
        intermediate_size: c.intermediate_size,
        max_position_embeddings: c.max_position_embeddings,
        pad_with: None,
        num_hidden_layers: c.num_hidden_layers,
        num_attention_heads: c.num_attention_heads,
        projection_dim: c.projection_dim.unwrap_or(c.hidden_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rope_split_is_fluxs_at_128_and_even_elsewhere() {
        assert_eq!(rope_axes(128), Some(vec![16, 56, 56]));
        assert_eq!(rope_axes(16), Some(vec![4, 6, 6]));
        assert_eq!(rope_axes(64), Some(vec![8, 28, 28]));
        for head in [2, 8, 16, 24, 32, 48, 64, 96, 256] {
            if let Some(axes) = rope_axes(head) {
                assert_eq!(axes.iter().sum::<usize>(), head);
                assert!(axes.iter().all(|a| a % 2 == 0 && *a > 0), "{axes:?}");
            }
        }
        assert_eq!(rope_axes(3), None);
    }
}
