//! Validating one opened component against its config, per layout, before anything is loaded.

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::Checkpoint;

use crate::config::FluxConfig;
use crate::keys::text::{CLIP_LAYERS, ClipConfig, T5Config, T5Names};
use crate::keys::{transformer, vae};
use crate::layout::Layout;
use crate::options::Component;
use crate::quant::{self, Quantization};
use crate::shapes::Shapes;
use modelcache_weights::{Blocks, ExpectedTensors};

use crate::validate;

/// The key prefix some repackagings put in front of BFL transformer keys.
pub(crate) const BFL_PREFIX: &str = "model.diffusion_model.";

/// What validating a component established.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// The transformer's config (transformer only).
    pub config: Option<FluxConfig>,
    /// The MLX quantization of its packed weights, if any.
    pub quantization: Option<Quantization>,
    /// The key prefix (BFL transformer only; empty otherwise).
    pub prefix: &'static str,
}

/// Checks `ck`, the weights of `component` in `layout`; `dir` is the component's folder (where
/// a diffusers `config.json` lives).
///
/// # Errors
/// The first problem: a missing tensor, a shape the config does not allow, a `config.json`
/// that disagrees with the weights or cannot be read.
pub(crate) fn check(
    component: Component,
    layout: Layout,
    ck: &Checkpoint,
    dir: &Path,
) -> Result<Checked, BackendError> {
    let bits = match layout {
        Layout::Mflux => quant::bits(ck)?,
        _ => None,
    };
    let s = Shapes::new(ck, bits);
    let config_json = dir.join("config.json");
    let from_json = format!("from {}", config_json.display());
    let mut checked = Checked::default();
    let (mut expected, context): (ExpectedTensors, String) = match (component, layout) {
        (Component::Transformer, Layout::Bfl) => {
            let prefix = if s.has(&format!("{BFL_PREFIX}img_in.weight")) {
                BFL_PREFIX
            } else {
                ""
            };
            let c = FluxConfig::from_bfl(&s, prefix)?;
            checked.prefix = prefix;
            let context = format!("{c}, inferred from the BFL shapes");
            let expected = transformer::bfl(&c, prefix);
            checked.config = Some(c);
            (expected, context)
        }
        (Component::Transformer, Layout::Diffusers) => {
            let c = FluxConfig::from_diffusers_json(&config_json)?;
            let double = ("transformer_blocks.", "norm1.linear.weight");
            blocks(ck, double, "num_layers", c.depth, &config_json)?;
            let single = ("single_transformer_blocks.", "norm.linear.weight");
            let n = c.depth_single_blocks;
            blocks(ck, single, "num_single_layers", n, &config_json)?;
            let context = format!("{c}, {from_json}");
            let expected = transformer::diffusers(&c, false);
            checked.config = Some(c);
            (expected, context)
        }
        (Component::Transformer, Layout::Mflux) => {
            let c = FluxConfig::from_mflux(&s)?;
            let context = format!("{c}, inferred from the mflux shapes");
            let expected = transformer::diffusers(&c, true);
            checked.config = Some(c);
            (expected, context)
        }
        (Component::Vae, Layout::Bfl) => {
            let c = vae::VaeConfig::from_bfl(&s)?;
            (vae::bfl(&c), c.describe("inferred from the BFL shapes"))
        }
        (Component::Vae, Layout::Diffusers) => {
            let c = vae::VaeConfig::from_diffusers_json(&config_json)?;
            let levels = ("encoder.down_blocks.", "resnets.0.conv1.weight");
            let n = c.block_out.len() as u64;
            blocks(ck, levels, "len(block_out_channels)", n, &config_json)?;
            let resnets = ("encoder.down_blocks.0.resnets.", "conv1.weight");
            let n = c.layers_per_block;
            blocks(ck, resnets, "layers_per_block", n, &config_json)?;
            (vae::diffusers(&c, false), c.describe(&from_json))
        }
        (Component::Vae, Layout::Mflux) => {
            let c = vae::VaeConfig::from_mflux(&s)?;
            (
                vae::diffusers(&c, true),
                c.describe("inferred from the mflux shapes"),
            )
        }
        (Component::TextEncoder, Layout::Diffusers) => {
            let c = ClipConfig::from_json(&config_json)?;
            let layers = (CLIP_LAYERS, "self_attn.q_proj.weight");
            let n = c.num_hidden_layers;
            blocks(ck, layers, "num_hidden_layers", n, &config_json)?;
            (c.expected(), c.describe(&from_json))
        }
        (Component::TextEncoder2, Layout::Diffusers) => {
            let c = T5Config::from_json(&config_json)?;
            let names = T5Names::HF;
            let layers = (names.blocks(), "layer.0.SelfAttention.q.weight");
            blocks(ck, layers, "num_layers", c.num_layers, &config_json)?;
            (c.expected(names), c.describe(&from_json))
        }
        (Component::TextEncoder, _) => {
            let c = ClipConfig::from_shapes(&s)?;
            (c.expected(), c.describe("inferred from the shapes"))
        }
        (Component::TextEncoder2, _) => {
            let names = if layout == Layout::Mflux {
                T5Names::MFLUX
            } else {
                T5Names::HF
            };
            let c = T5Config::from_shapes(&s, names)?;
            (c.expected(names), c.describe("inferred from the shapes"))
        }
    };
    expected.default_note(context.as_str());
    let group = validate::check(&s, &expected, &context)?;
    checked.quantization = bits
        .zip(group)
        .map(|(bits, group_size)| Quantization { bits, group_size });
    Ok(checked)
}

/// Checks that `ck` holds exactly the `configured` blocks `{prefix}N` (first tensor `first`)
/// that `field` in `config` counts.
fn blocks(
    ck: &Checkpoint,
    (prefix, first): (&str, &str),
    field: &str,
    configured: u64,
    config: &Path,
) -> Result<(), BackendError> {
    let blocks = Blocks {
        prefix,
        first,
        field,
        configured,
    };
    Ok(blocks.check(ck, &config.display().to_string())?)
}
