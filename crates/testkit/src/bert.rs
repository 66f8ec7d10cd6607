//! A BERT folder in the Hugging Face `transformers` layout (`BertModel.save_pretrained`): what
//! the generic safetensors backend and the embedding example read (docs/checkpoint-layouts.md
//! §11).
//!
//! ```text
//! config.json         model_type "bert", hidden_size, num_hidden_layers, ...
//! model.safetensors   embeddings.*, encoder.layer.{i}.*, pooler.dense.*   (or sharded, with
//!                     model.safetensors.index.json)
//! tokenizer.json      a WordPiece tokenizer (tokenizers' JSON format)
//! ```

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use crate::out::Out;
use crate::{Dtype, FixtureReport, KeyTable, Metadata};

/// The words of the generated WordPiece vocabulary, after the special tokens: enough for the
/// tests' sentences; any other word becomes `[UNK]` or pieces of these.
const WORDS: [&str; 24] = [
    "the", "a", "cat", "dog", "sat", "on", "mat", "runs", "model", "cache", "fast", "slow", "is",
    "loaded", "once", "and", "hello", "world", "##s", "##ed", "##ing", ".", ",", "!",
];

/// The special tokens, in id order from 0.
const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// The shape-relevant fields of a BERT `config.json`, and how the fixture is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BertSpec {
    /// `vocab_size`; the tiny fixture's is its tokenizer's vocabulary.
    pub vocab_size: u64,
    /// `hidden_size`.
    pub hidden_size: u64,
    /// `num_hidden_layers`.
    pub num_hidden_layers: u64,
    /// `num_attention_heads`.
    pub num_attention_heads: u64,
    /// `intermediate_size`.
    pub intermediate_size: u64,
    /// `max_position_embeddings`.
    pub max_position_embeddings: u64,
    /// `type_vocab_size`.
    pub type_vocab_size: u64,
    /// The stored dtype of the weights.
    pub dtype: Dtype,
    /// Also store `embeddings.position_ids` (I64 `[1, max_position_embeddings]`), the buffer
    /// older `transformers` versions saved.
    pub position_ids: bool,
    /// Split `model.safetensors` into shards of at most this many bytes (with an index).
    pub max_shard_bytes: Option<u64>,
    /// Seed of the tensor contents.
    pub seed: u64,
}

impl BertSpec {
    /// `sentence-transformers/all-MiniLM-L6-v2`'s dimensions (22.7M parameters, F32).
    pub fn mini_lm_l6() -> Self {
        Self {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            dtype: Dtype::F32,
            position_ids: false,
            max_shard_bytes: None,
            seed: 0,
        }
    }

    /// Two layers of width 32 over the generated vocabulary: a few hundred KiB.
    pub fn tiny() -> Self {
        Self {
            vocab_size: (SPECIAL.len() + WORDS.len()) as u64,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: 64,
            type_vocab_size: 2,
            ..Self::mini_lm_l6()
        }
    }

    /// The same model stored in `dtype`.
    #[must_use]
    pub fn with_dtype(mut self, dtype: Dtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// The same weights in shards of at most `bytes`.
    #[must_use]
    pub fn sharded(mut self, bytes: u64) -> Self {
        self.max_shard_bytes = Some(bytes);
        self
    }

    /// With the `embeddings.position_ids` buffer.
    #[must_use]
    pub fn with_position_ids(mut self) -> Self {
        self.position_ids = true;
        self
    }

    /// Another seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Grown to about `bytes` of tensor data through its vocabulary (the word embeddings), the
    /// rest of the model as it is; never shrunk. The tokenizer keeps its words, which stay valid
    /// ids.
    #[must_use]
    pub fn with_scale(mut self, bytes: u64) -> Self {
        let have = self.keys().byte_len();
        let row = self.hidden_size.saturating_mul(self.dtype.size());
        if bytes > have && row > 0 {
            self.vocab_size = self.vocab_size.saturating_add((bytes - have) / row);
        }
        self
    }

    /// Every tensor `BertModel` saves, in module order.
    pub fn keys(&self) -> KeyTable {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let mut k = KeyTable::new(self.dtype);
        k.tensor("embeddings.word_embeddings.weight", [self.vocab_size, h]);
        let positions = self.max_position_embeddings;
        k.tensor("embeddings.position_embeddings.weight", [positions, h]);
        k.tensor(
            "embeddings.token_type_embeddings.weight",
            [self.type_vocab_size, h],
        );
        k.norm("embeddings.LayerNorm", h);
        if self.position_ids {
            k.tensor_as("embeddings.position_ids", Dtype::I64, [1, positions]);
        }
        for l in 0..self.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            for q in ["query", "key", "value"] {
                k.linear(&format!("{p}attention.self.{q}"), h, h, true);
            }
            k.linear(&format!("{p}attention.output.dense"), h, h, true);
            k.norm(&format!("{p}attention.output.LayerNorm"), h);
            k.linear(&format!("{p}intermediate.dense"), h, i, true);
            k.linear(&format!("{p}output.dense"), i, h, true);
            k.norm(&format!("{p}output.LayerNorm"), h);
        }
        k.linear("pooler.dense", h, h, true);
        k
    }

    /// `config.json` as `transformers` writes it for `BertModel`.
    pub fn config_json(&self) -> Value {
        json!({
            "architectures": ["BertModel"],
            "attention_probs_dropout_prob": 0.1,
            "classifier_dropout": null,
            "gradient_checkpointing": false,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "layer_norm_eps": 1e-12,
            "max_position_embeddings": self.max_position_embeddings,
            "model_type": "bert",
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
            "torch_dtype": torch_dtype(self.dtype),
            "transformers_version": "4.41.2",
            "type_vocab_size": self.type_vocab_size,
            "use_cache": true,
            "vocab_size": self.vocab_size,
        })
    }
}

fn torch_dtype(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::BF16 => "bfloat16",
        Dtype::F16 => "float16",
        _ => "float32",
    }
}

/// The WordPiece vocabulary of [`bert_tokenizer_json`]: the special tokens, then the words.
pub fn bert_vocab() -> Vec<&'static str> {
    SPECIAL.iter().chain(WORDS.iter()).copied().collect()
}

/// A `tokenizer.json` (the `tokenizers` library's format) for an uncased BERT WordPiece
/// vocabulary of [`bert_vocab`]: BERT's normalizer and pre-tokenizer, `[CLS] … [SEP]`
/// post-processing, truncation at `max_length`.
pub fn bert_tokenizer_json(max_length: u64) -> Value {
    let vocab: serde_json::Map<String, Value> = bert_vocab()
        .into_iter()
        .enumerate()
        .map(|(id, w)| (w.to_owned(), json!(id)))
        .collect();
    let id = |t: &str| bert_vocab().iter().position(|w| *w == t).unwrap_or(1);
    let added: Vec<Value> = SPECIAL
        .iter()
        .map(|t| {
            json!({"id": id(t), "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let special = |t: &str| json!({"id": t, "ids": [id(t)], "tokens": [t]});
    json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": max_length, "strategy": "LongestFirst", "stride": 0},
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": special("[CLS]"), "[SEP]": special("[SEP]")}
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// Writes the BERT folder of `spec` into `dir`: `config.json`, `model.safetensors` (or shards
/// and `model.safetensors.index.json`) and `tokenizer.json`. The component is `bert`.
///
/// # Errors
/// Any I/O error.
pub fn write_bert(dir: &Path, spec: &BertSpec) -> io::Result<FixtureReport> {
    let mut out = Out::new(dir, spec.seed)?;
    out.json("config.json", &spec.config_json())?;
    out.json(
        "tokenizer.json",
        &bert_tokenizer_json(spec.max_position_embeddings),
    )?;
    let max = spec.max_shard_bytes.unwrap_or(u64::MAX);
    let meta = Metadata::from([("format".to_owned(), "pt".to_owned())]);
    let keys = spec.keys().into_tensors();
    out.hf_sharded("bert", "", "model", keys, max, Some(&meta))?;
    Ok(out.finish())
}
