//! The original `CausalVideoAutoencoder` config of a single file's metadata: a flat block
//! list.

use serde_json::Value;

use super::{VaeBlock, VaeBlockLayout, VaeConfig};
use modelcache_weights::Fields;

impl VaeConfig {
    /// Parses the original `CausalVideoAutoencoder` config of a single file's metadata.
    pub(crate) fn from_original_json(value: &Value, origin: &str) -> Result<Self, String> {
        let f = Fields::new(value, origin)?;
        let l = f.u64("latent_channels")?;
        // `CausalVideoAutoencoder.from_config` defaults.
        let encoder_out_channels = match f.opt_str("latent_log_var")?.unwrap_or("per_channel") {
            "per_channel" => l.saturating_mul(2),
            "uniform" | "constant" => l.saturating_add(1),
            "none" => l,
            other => {
                return Err(format!(
                    "{origin}: unknown latent_log_var {other:?} (per_channel, uniform, constant \
                     or none)"
                ));
            }
        };
        let dims = f.get("dims").map_or(Some(3), Value::as_u64);
        let layout = match (f.get("blocks"), f.get("encoder_blocks")) {
            (Some(blocks), _) => {
                let Some(blocks) = blocks.as_array() else {
                    return Err(format!("{origin}: `blocks` is not a list"));
                };
                match flat_blocks(blocks, origin)? {
                    Ok(_) if dims != Some(3) => VaeBlockLayout::Other {
                        reason: "dims other than 3".into(),
                    },
                    Ok(blocks) => VaeBlockLayout::Flat {
                        blocks,
                        encoder_base_channels: f.opt_u64("encoder_base_channels")?.unwrap_or(128),
                        decoder_base_channels: f.opt_u64("decoder_base_channels")?.unwrap_or(128),
                    },
                    Err(reason) => VaeBlockLayout::Other { reason },
                }
            }
            (None, Some(_)) => VaeBlockLayout::Other {
                reason: "separate encoder_blocks and decoder_blocks".into(),
            },
            (None, None) => {
                return Err(format!(
                    "{origin}: missing field `blocks` (or `encoder_blocks`)"
                ));
            }
        };
        Ok(Self {
            in_channels: f.opt_u64("in_channels")?.unwrap_or(3),
            out_channels: f.opt_u64("out_channels")?.unwrap_or(3),
            latent_channels: l,
            patch_size: f.opt_u64("patch_size")?.unwrap_or(1),
            patch_size_t: 1,
            encoder_out_channels,
            layout,
        })
    }
}

/// The flat block list, or why it is not the 0.9.0 form (`Ok(Err(reason))`).
fn flat_blocks(blocks: &[Value], origin: &str) -> Result<Result<Vec<VaeBlock>, String>, String> {
    let mut out = Vec::with_capacity(blocks.len());
    for (i, entry) in blocks.iter().enumerate() {
        let (name, param) = match entry.as_array().map(Vec::as_slice) {
            Some([Value::String(name), param]) => (name.as_str(), param),
            _ => {
                return Err(format!(
                    "{origin}: blocks[{i}] is {entry}, not a [name, parameters] pair"
                ));
            }
        };
        let block = match (name, param.as_u64()) {
            ("res_x", Some(n)) => VaeBlock::ResX(n),
            ("compress_all", Some(_)) => VaeBlock::CompressAll,
            ("res_x_y", Some(_)) => VaeBlock::ResXY,
            _ => return Ok(Err(format!("block {entry}"))),
        };
        out.push(block);
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::super::VaeConfig;
    use crate::{VaeBlock, VaeBlockLayout};
    use serde_json::json;

    #[test]
    fn original_blocks() {
        let v = json!({"latent_channels": 8, "patch_size": 4, "latent_log_var": "uniform",
            "blocks": [["res_x", 1], ["compress_all", 1], ["res_x_y", 1], ["res_x", 2]]});
        let c = VaeConfig::from_original_json(&v, "m").unwrap();
        assert_eq!(c.encoder_out_channels(), 9);
        assert_eq!(c.patched_in(), 48);
        assert_eq!(
            c.block_layout(),
            &VaeBlockLayout::Flat {
                blocks: vec![
                    VaeBlock::ResX(1),
                    VaeBlock::CompressAll,
                    VaeBlock::ResXY,
                    VaeBlock::ResX(2)
                ],
                encoder_base_channels: 128,
                decoder_base_channels: 128
            }
        );
        let v = json!({"latent_channels": 8, "blocks": [["res_x", {"num_layers": 2}]]});
        let c = VaeConfig::from_original_json(&v, "m").unwrap();
        assert!(matches!(c.block_layout(), VaeBlockLayout::Other { .. }));
        let v = json!({"latent_channels": 8, "blocks": [["res_x"]]});
        let e = VaeConfig::from_original_json(&v, "m").unwrap_err();
        assert!(e.contains("blocks[0]"), "{e}");
        let e = VaeConfig::from_original_json(&json!({"latent_channels": 8}), "m").unwrap_err();
        assert!(e.contains("blocks"), "{e}");
        let v = json!({"latent_channels": 8, "blocks": [], "latent_log_var": "odd"});
        assert!(VaeConfig::from_original_json(&v, "m").is_err());
    }
}
