//! The diffusers `AutoencoderKLLTXVideo` config: levels of `block_out_channels`.

use serde_json::Value;

use super::{VaeBlockLayout, VaeConfig};
use modelcache_weights::Fields;

impl VaeConfig {
    /// Parses a diffusers `vae/config.json`.
    pub(crate) fn from_diffusers_json(value: &Value, origin: &str) -> Result<Self, String> {
        let f = Fields::new(value, origin)?;
        let block_out_channels = f.u64_list("block_out_channels")?;
        let layers_per_block = f.u64_list("layers_per_block")?;
        let spatio_temporal_scaling = f.bool_list("spatio_temporal_scaling")?;
        let levels = block_out_channels.len();
        if levels == 0 {
            return Err(format!("{origin}: block_out_channels is empty"));
        }
        if layers_per_block.len() != levels + 1 || spatio_temporal_scaling.len() != levels {
            return Err(format!(
                "{origin}: block_out_channels has {levels} entries, so layers_per_block needs {} \
                 (the last for the mid block) and spatio_temporal_scaling {levels}; they have {} \
                 and {}",
                levels + 1,
                layers_per_block.len(),
                spatio_temporal_scaling.len()
            ));
        }
        let layout = match later_vae(
            &f,
            &block_out_channels,
            &layers_per_block,
            &spatio_temporal_scaling,
        )? {
            Some(reason) => VaeBlockLayout::Other { reason },
            None => VaeBlockLayout::Levels {
                block_out_channels,
                layers_per_block,
                spatio_temporal_scaling,
            },
        };
        let latent_channels = f.u64("latent_channels")?;
        // `AutoencoderKLLTXVideo.__init__` defaults.
        Ok(Self {
            in_channels: f.opt_u64("in_channels")?.unwrap_or(3),
            out_channels: f.opt_u64("out_channels")?.unwrap_or(3),
            latent_channels,
            patch_size: f.opt_u64("patch_size")?.unwrap_or(4),
            patch_size_t: f.opt_u64("patch_size_t")?.unwrap_or(1),
            // The "uniform" log-variance channel.
            encoder_out_channels: latent_channels.saturating_add(1),
            layout,
        })
    }
}

/// Why a diffusers VAE config is not the 0.9.0 form, if it is not.
fn later_vae(
    f: &Fields<'_>,
    widths: &[u64],
    layers: &[u64],
    scaling: &[bool],
) -> Result<Option<String>, String> {
    let differs = |name: &str| Ok(Some(format!("{name} differs from the encoder's")));
    if f.opt_u64_list("decoder_block_out_channels")?
        .is_some_and(|d| d != widths)
    {
        return differs("decoder_block_out_channels");
    }
    if f.opt_u64_list("decoder_layers_per_block")?
        .is_some_and(|d| d != layers)
    {
        return differs("decoder_layers_per_block");
    }
    if f.opt_bool_list("decoder_spatio_temporal_scaling")?
        .is_some_and(|d| d != scaling)
    {
        return differs("decoder_spatio_temporal_scaling");
    }
    let types = f.opt_str_list("down_block_types")?.unwrap_or_default();
    if let Some(t) = types.iter().find(|t| **t != "LTXVideoDownBlock3D") {
        return Ok(Some(format!("down block type {t}")));
    }
    if f.bool_or("timestep_conditioning", false)? {
        return Ok(Some("timestep conditioning".into()));
    }
    let residual = f.opt_bool_list("upsample_residual")?.unwrap_or_default();
    let factors = f.opt_u64_list("upsample_factor")?.unwrap_or_default();
    if residual.iter().any(|r| *r) || factors.iter().any(|f| *f != 1) {
        return Ok(Some("residual upsamplers".into()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::VaeConfig;
    use crate::VaeBlockLayout;
    use serde_json::json;

    #[test]
    fn diffusers_levels() {
        let v = json!({"latent_channels": 8, "block_out_channels": [4, 8],
            "layers_per_block": [1, 1, 1], "spatio_temporal_scaling": [true, false]});
        let c = VaeConfig::from_diffusers_json(&v, "m").unwrap();
        assert!(matches!(c.block_layout(), VaeBlockLayout::Levels { .. }));
        let v = json!({"latent_channels": 8, "block_out_channels": [4, 8],
            "layers_per_block": [1, 1], "spatio_temporal_scaling": [true, false]});
        let e = VaeConfig::from_diffusers_json(&v, "m").unwrap_err();
        assert!(e.contains("layers_per_block"), "{e}");
        let v = json!({"latent_channels": 8, "block_out_channels": [4, 8],
            "layers_per_block": [1, 1, 1], "spatio_temporal_scaling": [true, false],
            "timestep_conditioning": true});
        let c = VaeConfig::from_diffusers_json(&v, "m").unwrap();
        assert!(matches!(c.block_layout(), VaeBlockLayout::Other { .. }));
    }
}
