//! Kokoro-82M hyper-parameters and `config.json` (docs/checkpoint-layouts.md §8.2, §8.3).

use serde_json::{Map, Value, json};

/// `plbert` (ALBERT) section of `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlbertConfig {
    /// `hidden_size` (768).
    pub hidden_size: u64,
    /// `num_attention_heads` (12); must divide `hidden_size`.
    pub num_attention_heads: u64,
    /// `intermediate_size` (2048).
    pub intermediate_size: u64,
    /// `max_position_embeddings` (512), also the context limit: voice packs have this minus 2 rows.
    pub max_position_embeddings: u64,
    /// `num_hidden_layers` (12). ALBERT shares one layer, so this adds no tensors.
    pub num_hidden_layers: u64,
    /// `dropout` (0.1), unused by inference.
    pub dropout: f64,
}

/// `istftnet` section of `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct IstftnetConfig {
    /// `upsample_kernel_sizes` (`[20, 12]`).
    pub upsample_kernel_sizes: Vec<u64>,
    /// `upsample_rates` (`[10, 6]`).
    pub upsample_rates: Vec<u64>,
    /// `gen_istft_hop_size` (5).
    pub gen_istft_hop_size: u64,
    /// `gen_istft_n_fft` (20).
    pub gen_istft_n_fft: u64,
    /// `resblock_dilation_sizes` (`[[1,3,5]] × 3`).
    pub resblock_dilation_sizes: Vec<Vec<u64>>,
    /// `resblock_kernel_sizes` (`[3, 7, 11]`).
    pub resblock_kernel_sizes: Vec<u64>,
    /// `upsample_initial_channel` (512); divisible by `2^len(upsample_rates)`.
    pub upsample_initial_channel: u64,
}

/// Kokoro v1.0: the `config.json` fields plus the widths its code hard-codes.
///
/// The hard-coded ones (`albert_embedding_size`, `decoder_dim`, `asr_res_dim`, `harmonic_num`) are not in
/// `config.json`; a faithful tiny fixture shrinks them too, so loaders must derive them from tensor shapes
/// (docs/checkpoint-layouts.md §8.3): `decoder_dim` from `decoder.encode.conv1.weight_v[0]`, `asr_res_dim` from
/// `decoder.asr_res.0.weight_v[0]`, the embedding size from `bert.embeddings.word_embeddings.weight[1]`. The code's
/// other hard-coded 512s are `hidden_dim` (the `asr_res` input) and `upsample_initial_channel` (the `decode.3`
/// output), which the real config sets to 512 too; this port uses those fields.
#[derive(Debug, Clone, PartialEq)]
pub struct KokoroConfig {
    /// `n_token` (178): embedding rows, max vocab id + 1.
    pub n_token: u64,
    /// `hidden_dim` (512).
    pub hidden_dim: u64,
    /// `style_dim` (128): voice packs are `2 × style_dim` wide.
    pub style_dim: u64,
    /// `n_layer` (3).
    pub n_layer: u64,
    /// `max_dur` (50).
    pub max_dur: u64,
    /// `text_encoder_kernel_size` (5).
    pub text_encoder_kernel_size: u64,
    /// `dim_in` (64), unused by inference.
    pub dim_in: u64,
    /// `max_conv_dim` (512), unused by inference.
    pub max_conv_dim: u64,
    /// `n_mels` (80).
    pub n_mels: u64,
    /// `dropout` (0.2).
    pub dropout: f64,
    /// `multispeaker` (true).
    pub multispeaker: bool,
    /// `plbert`.
    pub plbert: PlbertConfig,
    /// `istftnet`.
    pub istftnet: IstftnetConfig,
    /// ALBERT `embedding_size` (transformers default 128; not in `config.json`).
    pub albert_embedding_size: u64,
    /// Decoder width (1024, hard-coded in `istftnet.py`).
    pub decoder_dim: u64,
    /// `asr_res` output width (64, hard-coded).
    pub asr_res_dim: u64,
    /// `SourceModuleHnNSF` harmonics (8, hard-coded): `m_source.l_linear` has `harmonic_num + 1` inputs.
    pub harmonic_num: u64,
}

impl KokoroConfig {
    /// Kokoro-82M v1.0.
    pub fn v1_0() -> Self {
        Self {
            n_token: 178,
            hidden_dim: 512,
            style_dim: 128,
            n_layer: 3,
            max_dur: 50,
            text_encoder_kernel_size: 5,
            dim_in: 64,
            max_conv_dim: 512,
            n_mels: 80,
            dropout: 0.2,
            multispeaker: true,
            plbert: PlbertConfig {
                hidden_size: 768,
                num_attention_heads: 12,
                intermediate_size: 2048,
                max_position_embeddings: 512,
                num_hidden_layers: 12,
                dropout: 0.1,
            },
            istftnet: IstftnetConfig {
                upsample_kernel_sizes: vec![20, 12],
                upsample_rates: vec![10, 6],
                gen_istft_hop_size: 5,
                gen_istft_n_fft: 20,
                resblock_dilation_sizes: vec![vec![1, 3, 5]; 3],
                resblock_kernel_sizes: vec![3, 7, 11],
                upsample_initial_channel: 512,
            },
            albert_embedding_size: 128,
            decoder_dim: 1024,
            asr_res_dim: 64,
            harmonic_num: 8,
        }
    }

    /// Tiny: every width shrunk, every structural count kept (`n_layer` 3, 2 upsample stages, 3 resblock kernels), so
    /// the key set is the real 548.
    pub fn tiny() -> Self {
        let real = Self::v1_0();
        Self {
            n_token: 32,
            hidden_dim: 16,
            style_dim: 8,
            max_dur: 8,
            dim_in: 8,
            max_conv_dim: 16,
            n_mels: 8,
            plbert: PlbertConfig {
                hidden_size: 16,
                num_attention_heads: 2,
                intermediate_size: 32,
                max_position_embeddings: 32,
                num_hidden_layers: 2,
                ..real.plbert
            },
            istftnet: IstftnetConfig {
                upsample_kernel_sizes: vec![4, 4],
                upsample_rates: vec![2, 2],
                gen_istft_hop_size: 2,
                gen_istft_n_fft: 8,
                upsample_initial_channel: 16,
                ..real.istftnet
            },
            albert_embedding_size: 8,
            decoder_dim: 32,
            asr_res_dim: 8,
            ..real
        }
    }

    /// A sparse phoneme vocabulary with ids below `n_token`, its largest id `n_token - 1` (as the real one's 177).
    fn vocab(&self) -> Value {
        const REAL: [(&str, u64); 16] = [
            (";", 1),
            (":", 2),
            (",", 3),
            (".", 4),
            ("!", 5),
            ("?", 6),
            ("—", 9),
            ("…", 10),
            ("\"", 11),
            ("(", 12),
            (")", 13),
            ("“", 14),
            ("”", 15),
            (" ", 16),
            ("\u{303}", 17),
            ("ʣ", 18),
        ];
        let mut m = Map::new();
        for (k, v) in REAL.iter().filter(|(_, v)| *v < self.n_token) {
            m.insert((*k).to_owned(), json!(v));
        }
        m.insert("ᵻ".to_owned(), json!(self.n_token.saturating_sub(1)));
        Value::Object(m)
    }

    /// `config.json` with every real field (docs/checkpoint-layouts.md §8.2).
    pub fn config_json(&self) -> Value {
        let (p, i) = (&self.plbert, &self.istftnet);
        json!({
            "istftnet": {
                "upsample_kernel_sizes": i.upsample_kernel_sizes,
                "upsample_rates": i.upsample_rates,
                "gen_istft_hop_size": i.gen_istft_hop_size,
                "gen_istft_n_fft": i.gen_istft_n_fft,
                "resblock_dilation_sizes": i.resblock_dilation_sizes,
                "resblock_kernel_sizes": i.resblock_kernel_sizes,
                "upsample_initial_channel": i.upsample_initial_channel
            },
            "dim_in": self.dim_in,
            "dropout": self.dropout,
            "hidden_dim": self.hidden_dim,
            "max_conv_dim": self.max_conv_dim,
            "max_dur": self.max_dur,
            "multispeaker": self.multispeaker,
            "n_layer": self.n_layer,
            "n_mels": self.n_mels,
            "n_token": self.n_token,
            "style_dim": self.style_dim,
            "text_encoder_kernel_size": self.text_encoder_kernel_size,
            "plbert": {
                "hidden_size": p.hidden_size,
                "num_attention_heads": p.num_attention_heads,
                "intermediate_size": p.intermediate_size,
                "max_position_embeddings": p.max_position_embeddings,
                "num_hidden_layers": p.num_hidden_layers,
                "dropout": p.dropout
            },
            "vocab": self.vocab()
        })
    }
}
