//! The diffusers tree: `model_index.json` and one folder per component, each with its
//! `config.json` (docs/checkpoint-layouts.md §7.8).

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::{DiffusersTree, MODEL_INDEX};
use serde_json::Value;

use crate::config::{LtxConfig, TextEncoderConfig, TransformerConfig, VaeConfig, read_config_file};
use crate::expect;
use crate::options::{Component, LtxOptions};
use crate::plan::Part;
use crate::{Naming, error, keys};

const COMPONENTS: [Component; 3] = [
    Component::Transformer,
    Component::Vae,
    Component::TextEncoder,
];

/// Inventories the selected components and checks each against its `config.json`.
pub(crate) fn open(
    root: &Path,
    options: &LtxOptions,
) -> Result<(LtxConfig, Vec<Part>), BackendError> {
    let wanted: Vec<Component> = COMPONENTS
        .into_iter()
        .filter(|c| options.wants(*c))
        .collect();
    let names: Vec<&str> = wanted.iter().map(|c| c.as_str()).collect();
    let mut tree =
        DiffusersTree::open_components(root, &names).map_err(|e| error::weights(e, root))?;
    if let Some(class) = tree.class_name().filter(|c| !c.starts_with("LTX")) {
        return Err(BackendError::invalid(
            root.join(MODEL_INDEX),
            format!("_class_name {class:?} is not an LTX-Video pipeline"),
        ));
    }
    let mut config = LtxConfig::default();
    let mut parts = Vec::new();
    for component in wanted {
        let name = component.as_str();
        let dir = root.join(name);
        let checkpoint = tree
            .take_checkpoint(name)
            .ok_or_else(|| BackendError::Missing {
                path: dir.clone(),
                what: format!("the {name} weights: {}", standard_files(component)),
            })?;
        let config_path = dir.join("config.json");
        let value = Value::Object(read_config_file(
            &config_path,
            &format!("the {name} config"),
        )?);
        let origin = format!("{name}/config.json");
        let invalid = |reason: String| BackendError::invalid(&config_path, reason);
        match component {
            Component::Transformer => {
                let c = TransformerConfig::from_json(&value, Naming::Diffusers, &origin)
                    .map_err(invalid)?;
                let why = format!("{origin}: {}", c.summary());
                let blocks = keys::transformer::blocks(&c, Naming::Diffusers);
                expect::check(&checkpoint, "", &why, Some(blocks), |t| {
                    keys::transformer::expected(t, &c, Naming::Diffusers);
                })?;
                config.transformer = Some(c);
            }
            Component::Vae => {
                let c = VaeConfig::from_diffusers_json(&value, &origin).map_err(invalid)?;
                let why = format!("{origin}: {}", c.summary());
                expect::check(&checkpoint, "", &why, None, |t| {
                    keys::vae_diffusers::expected(t, &c);
                })?;
                config.vae = Some(c);
            }
            Component::TextEncoder => {
                let c = TextEncoderConfig::from_json(&value, &origin).map_err(invalid)?;
                let why = format!("{origin}: {}", c.summary());
                let blocks = keys::text_encoder::blocks(&c);
                expect::check(&checkpoint, "", &why, Some(blocks), |t| {
                    keys::text_encoder::expected(t, &c);
                })?;
                config.text_encoder = Some(c);
            }
        }
        parts.push(Part {
            component,
            naming: Naming::Diffusers,
            prefix: "",
            checkpoint,
        });
    }
    Ok((config, parts))
}

/// The weight files a component folder should hold, for messages.
fn standard_files(component: Component) -> &'static str {
    match component {
        Component::Transformer | Component::Vae => {
            "diffusion_pytorch_model.safetensors or diffusion_pytorch_model.safetensors.index.json \
             and its shards"
        }
        Component::TextEncoder => {
            "model.safetensors or model.safetensors.index.json and its shards"
        }
    }
}
