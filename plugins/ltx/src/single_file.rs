//! The single-file checkpoint: `model.diffusion_model.*`, `vae.*` and
//! `__metadata__["config"]` in one `.safetensors` file (docs/checkpoint-layouts.md §7.2).

use std::path::Path;

use modelcache_backend::BackendError;
use modelcache_weights::Checkpoint;
use serde_json::{Map, Value};

use crate::config::{LtxConfig, TransformerConfig, VaeConfig, sub_object};
use crate::expect;
use crate::options::{Component, LtxOptions};
use crate::plan::Part;
use crate::{Naming, error, keys};

/// The transformer's key prefix.
pub(crate) const TRANSFORMER_PREFIX: &str = "model.diffusion_model.";
/// The VAE's key prefix.
pub(crate) const VAE_PREFIX: &str = "vae.";
/// The metadata entry holding the configs.
pub(crate) const CONFIG_KEY: &str = "config";

/// Reads the header and the metadata config, and checks the selected components against it.
/// `model_path` is the configured path: the file itself (which may link anywhere), or the
/// folder it was found in (whose link rule it keeps to).
pub(crate) fn open(
    file: &Path,
    model_path: &Path,
    options: &LtxOptions,
) -> Result<(LtxConfig, Vec<Part>), BackendError> {
    let checkpoint = if file == model_path {
        Checkpoint::open_file(file)
    } else {
        Checkpoint::open_file_in(model_path, file)
    }
    .map_err(|e| error::weights(e, file))?;
    let configs = metadata_config(&checkpoint, file)?;
    let invalid = |reason: String| BackendError::invalid(file, reason);
    let mut config = LtxConfig::default();
    let mut parts = Vec::new();
    if options.wants(Component::TextEncoder) {
        return Err(BackendError::Missing {
            path: file.to_path_buf(),
            what: "the text encoder: an LTX-Video single file holds only the transformer and the \
                   VAE; load the text encoder from the diffusers tree"
                .into(),
        });
    }
    if options.wants(Component::Transformer) {
        let origin = "__metadata__ config.transformer";
        let value = sub_object(&configs, "transformer", "__metadata__ config").map_err(invalid)?;
        let c = TransformerConfig::from_json(value, Naming::Original, origin).map_err(invalid)?;
        let part = select(&checkpoint, file, TRANSFORMER_PREFIX, "transformer")?;
        let why = format!("{origin}: {}", c.summary());
        let blocks = keys::transformer::blocks(&c, Naming::Original);
        expect::check(&part, TRANSFORMER_PREFIX, &why, Some(blocks), |t| {
            keys::transformer::expected(t, &c, Naming::Original);
        })?;
        config.transformer = Some(c);
        parts.push(Part {
            component: Component::Transformer,
            naming: Naming::Original,
            prefix: TRANSFORMER_PREFIX,
            checkpoint: part,
        });
    }
    if options.wants(Component::Vae) {
        let origin = "__metadata__ config.vae";
        let value = sub_object(&configs, "vae", "__metadata__ config").map_err(invalid)?;
        let c = VaeConfig::from_original_json(value, origin).map_err(invalid)?;
        let part = select(&checkpoint, file, VAE_PREFIX, "VAE")?;
        let why = format!("{origin}: {}", c.summary());
        expect::check(&part, VAE_PREFIX, &why, None, |t| {
            keys::vae_original::expected(t, &c);
        })?;
        config.vae = Some(c);
        parts.push(Part {
            component: Component::Vae,
            naming: Naming::Original,
            prefix: VAE_PREFIX,
            checkpoint: part,
        });
    }
    Ok((config, parts))
}

/// The tensors under `prefix`; none at all is an error.
fn select(
    checkpoint: &Checkpoint,
    file: &Path,
    prefix: &str,
    what: &str,
) -> Result<Checkpoint, BackendError> {
    let part = checkpoint
        .clone()
        .filtered(|t| t.name().starts_with(prefix));
    if part.is_empty() {
        return Err(BackendError::invalid(
            file,
            format!("no `{prefix}*` tensor: the file holds no LTX-Video {what}"),
        ));
    }
    Ok(part)
}

/// `__metadata__["config"]`, parsed.
fn metadata_config(
    checkpoint: &Checkpoint,
    file: &Path,
) -> Result<Map<String, Value>, BackendError> {
    let text = checkpoint
        .files()
        .first()
        .and_then(|f| f.metadata().get(CONFIG_KEY));
    let Some(text) = text else {
        return Err(BackendError::invalid(
            file,
            "no `config` entry in the safetensors __metadata__: an LTX-Video single file carries \
             its transformer and VAE configs there",
        ));
    };
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BackendError::invalid(
            file,
            "__metadata__ `config` is not a JSON object",
        )),
        Err(e) => Err(BackendError::invalid(
            file,
            format!("__metadata__ `config` is not JSON: {e}"),
        )),
    }
}
