//! `config.json`, parsed once into typed values and checked for internal consistency.

use std::collections::BTreeMap;
use std::path::Path;

use modelcache_backend::BackendError;
use serde_json::Value;

use modelcache_weights::Fields;

/// The name of the config file in a Kokoro folder.
pub const CONFIG_FILE: &str = "config.json";

/// Kokoro's `config.json` (docs/checkpoint-layouts.md §8.2), with the field names of the published
/// file.
///
/// The fields that shape tensors are required; the ones inference does not read (`dim_in`,
/// `max_conv_dim`, `n_mels`, `dropout`, `multispeaker`) are kept when present. Unknown fields
/// are ignored, except `quantization` (quantized MLX variants are not supported).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KokoroConfig {
    /// `n_token`: rows of the token embeddings (max vocab id + 1; 178).
    pub n_token: usize,
    /// `hidden_dim` (512).
    pub hidden_dim: usize,
    /// `style_dim` (128): a voice pack row is `2 × style_dim` wide.
    pub style_dim: usize,
    /// `n_layer` (3): text-encoder CNN blocks and duration-encoder LSTMs.
    pub n_layer: usize,
    /// `max_dur` (50): duration classes.
    pub max_dur: usize,
    /// `text_encoder_kernel_size` (5).
    pub text_encoder_kernel_size: usize,
    /// `plbert`: the ALBERT text encoder.
    pub plbert: PlbertConfig,
    /// `istftnet`: the vocoder.
    pub istftnet: IstftnetConfig,
    /// `vocab`: phoneme to token id.
    pub vocab: BTreeMap<String, u32>,
    /// `n_mels` (80), unused by inference.
    pub n_mels: Option<usize>,
    /// `dim_in` (64), unused by inference.
    pub dim_in: Option<usize>,
    /// `max_conv_dim` (512), unused by inference.
    pub max_conv_dim: Option<usize>,
    /// `dropout` (0.2), unused by inference.
    pub dropout: Option<f64>,
    /// `multispeaker` (true).
    pub multispeaker: Option<bool>,
}

/// The `plbert` section (a transformers `AlbertConfig`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlbertConfig {
    /// `hidden_size` (768).
    pub hidden_size: usize,
    /// `num_attention_heads` (12); divides `hidden_size`.
    pub num_attention_heads: usize,
    /// `intermediate_size` (2048).
    pub intermediate_size: usize,
    /// `max_position_embeddings` (512): the context limit, boundary tokens included.
    pub max_position_embeddings: usize,
    /// `num_hidden_layers` (12); ALBERT shares one layer, so this adds no tensors.
    pub num_hidden_layers: usize,
    /// `dropout` (0.1), unused by inference.
    pub dropout: Option<f64>,
}

/// The `istftnet` section.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IstftnetConfig {
    /// `upsample_rates` (`[10, 6]`): one upsampling stage each.
    pub upsample_rates: Vec<usize>,
    /// `upsample_kernel_sizes` (`[20, 12]`): one per stage.
    pub upsample_kernel_sizes: Vec<usize>,
    /// `upsample_initial_channel` (512): halved by each stage.
    pub upsample_initial_channel: usize,
    /// `resblock_kernel_sizes` (`[3, 7, 11]`): residual blocks per stage.
    pub resblock_kernel_sizes: Vec<usize>,
    /// `resblock_dilation_sizes` (`[[1, 3, 5]] × 3`): one list per resblock kernel.
    pub resblock_dilation_sizes: Vec<Vec<usize>>,
    /// `gen_istft_n_fft` (20).
    pub gen_istft_n_fft: usize,
    /// `gen_istft_hop_size` (5).
    pub gen_istft_hop_size: usize,
}

impl KokoroConfig {
    /// Reads and checks `path` (a `config.json`).
    ///
    /// # Errors
    /// [`BackendError::Missing`] or [`BackendError::Io`] when it cannot be read;
    /// [`BackendError::Invalid`] naming the file, and the field where there is one, when it is
    /// not JSON, lacks a field, has a field of the wrong type or is inconsistent.
    pub fn read(path: &Path) -> Result<Self, BackendError> {
        // A regular file of at most `MAX_CONFIG_LEN` bytes (the real one is about 3 KB), its
        // links kept inside the model folder: the toolkit's one config reader.
        let value: Value = modelcache_weights::read_config_json(path)
            .map_err(|e| e.into_backend_error("Kokoro config.json"))?;
        Self::from_value(&value).map_err(|e| BackendError::invalid(path, e))
    }

    /// Reads and checks the parsed `config.json`; the error says what is wrong and where.
    ///
    /// # Errors
    /// A message naming the field, when the value is not a valid Kokoro config.
    pub(crate) fn from_value(value: &Value) -> Result<Self, String> {
        let config = Self::fields(value)?;
        config.check()?;
        Ok(config)
    }

    fn fields(value: &Value) -> Result<Self, String> {
        let root = Fields::new(value, "the Kokoro config")?;
        if root.has("quantization") {
            return Err(
                "`quantization`: quantized MLX Kokoro checkpoints are not supported".to_owned(),
            );
        }
        let p = root.object("plbert")?;
        let i = root.object("istftnet")?;
        Ok(Self {
            n_token: root.req("n_token")?,
            hidden_dim: root.req("hidden_dim")?,
            style_dim: root.req("style_dim")?,
            n_layer: root.req("n_layer")?,
            max_dur: root.req("max_dur")?,
            text_encoder_kernel_size: root.req("text_encoder_kernel_size")?,
            plbert: PlbertConfig {
                hidden_size: p.req("hidden_size")?,
                num_attention_heads: p.req("num_attention_heads")?,
                intermediate_size: p.req("intermediate_size")?,
                max_position_embeddings: p.req("max_position_embeddings")?,
                num_hidden_layers: p.req("num_hidden_layers")?,
                dropout: p.opt("dropout")?,
            },
            istftnet: IstftnetConfig {
                upsample_rates: i.req("upsample_rates")?,
                upsample_kernel_sizes: i.req("upsample_kernel_sizes")?,
                upsample_initial_channel: i.req("upsample_initial_channel")?,
                resblock_kernel_sizes: i.req("resblock_kernel_sizes")?,
                resblock_dilation_sizes: i.req("resblock_dilation_sizes")?,
                gen_istft_n_fft: i.req("gen_istft_n_fft")?,
                gen_istft_hop_size: i.req("gen_istft_hop_size")?,
            },
            vocab: root.req("vocab")?,
            n_mels: root.opt("n_mels")?,
            dim_in: root.opt("dim_in")?,
            max_conv_dim: root.opt("max_conv_dim")?,
            dropout: root.opt("dropout")?,
            multispeaker: root.opt("multispeaker")?,
        })
    }

    /// The constraints between fields that the tensor shapes rely on.
    fn check(&self) -> Result<(), String> {
        let (p, i) = (&self.plbert, &self.istftnet);
        let positive = [
            ("n_token", self.n_token),
            ("hidden_dim", self.hidden_dim),
            ("style_dim", self.style_dim),
            ("n_layer", self.n_layer),
            ("max_dur", self.max_dur),
            ("text_encoder_kernel_size", self.text_encoder_kernel_size),
            ("plbert.hidden_size", p.hidden_size),
            ("plbert.num_attention_heads", p.num_attention_heads),
            ("plbert.intermediate_size", p.intermediate_size),
            ("plbert.num_hidden_layers", p.num_hidden_layers),
            (
                "istftnet.upsample_initial_channel",
                i.upsample_initial_channel,
            ),
            ("istftnet.gen_istft_n_fft", i.gen_istft_n_fft),
            ("istftnet.gen_istft_hop_size", i.gen_istft_hop_size),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("field `{field}` is 0"));
        }
        for (field, list) in [
            ("istftnet.upsample_rates", &i.upsample_rates),
            ("istftnet.upsample_kernel_sizes", &i.upsample_kernel_sizes),
            ("istftnet.resblock_kernel_sizes", &i.resblock_kernel_sizes),
        ] {
            if list.is_empty() || list.contains(&0) {
                return Err(format!(
                    "field `{field}` must be a non-empty list of positive numbers, found {list:?}"
                ));
            }
        }
        if self.hidden_dim % 2 != 0 {
            return Err(format!(
                "field `hidden_dim` is {}: it must be even (the LSTMs are hidden_dim / 2 wide per direction)",
                self.hidden_dim
            ));
        }
        if p.hidden_size % p.num_attention_heads != 0 {
            return Err(format!(
                "field `plbert.num_attention_heads` ({}) does not divide `plbert.hidden_size` ({})",
                p.num_attention_heads, p.hidden_size
            ));
        }
        if p.max_position_embeddings < 3 {
            return Err(format!(
                "field `plbert.max_position_embeddings` is {}: the context needs two boundary tokens and a phoneme",
                p.max_position_embeddings
            ));
        }
        if i.upsample_kernel_sizes.len() != i.upsample_rates.len() {
            return Err(format!(
                "field `istftnet.upsample_kernel_sizes` has {} entries but `istftnet.upsample_rates` has {}: one kernel per upsampling stage",
                i.upsample_kernel_sizes.len(),
                i.upsample_rates.len()
            ));
        }
        if i.resblock_dilation_sizes.len() != i.resblock_kernel_sizes.len() {
            return Err(format!(
                "field `istftnet.resblock_dilation_sizes` has {} entries but `istftnet.resblock_kernel_sizes` has {}",
                i.resblock_dilation_sizes.len(),
                i.resblock_kernel_sizes.len()
            ));
        }
        let stages = u32::try_from(i.upsample_rates.len()).unwrap_or(u32::MAX);
        let halvings = 2usize.checked_pow(stages);
        if halvings.is_none_or(|h| i.upsample_initial_channel % h != 0) {
            return Err(format!(
                "field `istftnet.upsample_initial_channel` ({}) must halve evenly at each of the {} upsampling stages",
                i.upsample_initial_channel,
                i.upsample_rates.len()
            ));
        }
        if let Some((phoneme, id)) = self
            .vocab
            .iter()
            .find(|&(_, &id)| usize::try_from(id).map_or(true, |id| id >= self.n_token))
        {
            return Err(format!(
                "field `vocab`: {phoneme:?} has id {id}, not below `n_token` ({})",
                self.n_token
            ));
        }
        Ok(())
    }

    /// Rows a voice pack needs: one style per phoneme count the context allows
    /// (`max_position_embeddings - 2`, 510 for the real model).
    pub fn voice_rows(&self) -> usize {
        self.plbert.max_position_embeddings.saturating_sub(2)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const REAL: &str = r#"{
      "istftnet": {"upsample_kernel_sizes": [20, 12], "upsample_rates": [10, 6],
        "gen_istft_hop_size": 5, "gen_istft_n_fft": 20,
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "resblock_kernel_sizes": [3, 7, 11], "upsample_initial_channel": 512},
      "dim_in": 64, "dropout": 0.2, "hidden_dim": 512, "max_conv_dim": 512, "max_dur": 50,
      "multispeaker": true, "n_layer": 3, "n_mels": 80, "n_token": 178, "style_dim": 128,
      "text_encoder_kernel_size": 5,
      "plbert": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
        "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1},
      "vocab": {";": 1, ":": 2, "ᵻ": 177}
    }"#;

    fn edit(f: impl FnOnce(&mut Value)) -> Result<KokoroConfig, String> {
        let mut v: Value = serde_json::from_str(REAL).unwrap();
        f(&mut v);
        KokoroConfig::from_value(&v)
    }

    #[test]
    fn parses_the_published_config() {
        let c = KokoroConfig::from_value(&serde_json::from_str(REAL).unwrap()).unwrap();
        assert_eq!(
            (c.n_token, c.hidden_dim, c.style_dim, c.n_layer),
            (178, 512, 128, 3)
        );
        assert_eq!(c.plbert.hidden_size, 768);
        assert_eq!(c.istftnet.upsample_rates, [10, 6]);
        assert_eq!(c.vocab["ᵻ"], 177);
        assert_eq!(c.voice_rows(), 510);
        assert_eq!(c.dropout, Some(0.2));
    }

    #[test]
    fn errors_name_the_field() {
        let e = edit(|v| v["plbert"]["hidden_size"] = "big".into()).unwrap_err();
        assert!(
            e.contains("`plbert.hidden_size`") && e.contains("invalid type"),
            "{e}"
        );
        let e = edit(|v| drop(v.as_object_mut().unwrap().remove("style_dim"))).unwrap_err();
        assert_eq!(e, "the Kokoro config: missing field `style_dim`");
        let e = edit(|v| v["plbert"]["num_attention_heads"] = 7.into()).unwrap_err();
        assert!(e.contains("does not divide"), "{e}");
        let e = edit(|v| v["plbert"]["num_attention_heads"] = 0.into()).unwrap_err();
        assert!(e.contains("`plbert.num_attention_heads` is 0"), "{e}");
        let e =
            edit(|v| v["istftnet"]["upsample_kernel_sizes"] = serde_json::json!([20])).unwrap_err();
        assert!(e.contains("one kernel per upsampling stage"), "{e}");
        let e = edit(|v| {
            v["istftnet"]["upsample_rates"] = serde_json::json!(vec![2; 70]);
            v["istftnet"]["upsample_kernel_sizes"] = serde_json::json!(vec![4; 70]);
        })
        .unwrap_err();
        assert!(e.contains("upsample_initial_channel"), "{e}");
        let e = edit(|v| v["n_token"] = 100.into()).unwrap_err();
        assert!(e.contains("\"ᵻ\" has id 177"), "{e}");
        let e = edit(|v| v["quantization"] = serde_json::json!({"bits": 4})).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let e = edit(|v| v["hidden_dim"] = (-1).into()).unwrap_err();
        assert!(e.contains("`hidden_dim`"), "{e}");
        assert!(
            KokoroConfig::from_value(&serde_json::json!([1]))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }
}
