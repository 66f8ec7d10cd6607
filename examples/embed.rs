//! Sentence embeddings from a BERT-family model served through the cache.
//!
//! ```text
//! cargo run --release --example embed -- --config models.toml --model minilm "a sentence" "another"
//! ```
//!
//! The model is a `backend = "safetensors"` entry of models.toml (a Hugging Face folder with
//! `config.json`, `model.safetensors` and `tokenizer.json`, such as
//! `sentence-transformers/all-MiniLM-L6-v2`). The cache loads its tensors once and charges them
//! to the budget; candle-transformers' `BertModel` is built on them (sharing their storage when
//! they are F32; on the CPU the model runs in F32, so F16 or BF16 tensors are widened). The
//! texts are tokenized with the `tokenizers` crate from the folder's `tokenizer.json`, padded to
//! the longest, and each embedding is the mean of its tokens' last hidden states
//! (padding left out), L2-normalised. One JSON object per input is printed:
//! `{"text": "...", "embedding": [...]}`.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use clap::Parser;
use modelcache::registry::{Config, Registry};
use modelcache::safetensors::SafetensorsModel;
use modelcache_weights::candle_core::{D, DType, Device, Result as CandleResult, Tensor};
use tokenizers::{PaddingParams, Tokenizer};

/// Sentence embeddings from a BERT-family model in models.toml.
#[derive(Debug, Parser)]
pub struct Args {
    /// The models.toml to read.
    #[arg(long, default_value = "models.toml")]
    pub config: PathBuf,
    /// The model ID: a `backend = "safetensors"` entry holding a BERT-family model.
    #[arg(long)]
    pub model: String,
    /// The tokenizer (default: `tokenizer.json` in the model's folder).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// The texts to embed.
    #[arg(required = true)]
    pub texts: Vec<String>,
}

/// Embeds `args.texts` and writes one JSON object per text to `out`.
///
/// # Errors
/// A config or model that cannot be loaded, a model that is not BERT-shaped, a tokenizer that
/// cannot be read.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<(), Box<dyn Error>> {
    let config = Config::from_file(&args.config)?;
    let registry = Registry::build(&modelcache::backends_for(&config)?, &config)?;
    let entry = registry
        .model(&args.model)
        .ok_or_else(|| format!("no model {:?} in {}", args.model, args.config.display()))?;
    let tokenizer_file = match &args.tokenizer {
        Some(file) => file.clone(),
        None => folder_of(&entry.path).join("tokenizer.json"),
    };
    let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
        .map_err(|e| format!("{}: {e}", tokenizer_file.display()))?;
    tokenizer.with_padding(Some(PaddingParams::default()));

    let handle = registry.get::<SafetensorsModel>(&args.model)?;
    let model = handle.lock();
    let bert_config: BertConfig = model.config_as().map_err(|e| {
        format!(
            "model {:?}: config.json is not a BERT config: {e}",
            args.model
        )
    })?;
    // On the CPU the model runs in F32 whatever the cached dtype: candle-transformers' BERT
    // builds its attention mask from the F32 minimum, which is -inf in F16 and turns the
    // scores into NaN. Tensors cached as F16 or BF16 are widened as the model is built.
    let vb = VarBuilder::from_tensors(model.tensor_map(), DType::F32, &Device::Cpu);
    let bert = BertModel::load(vb, &bert_config)
        .map_err(|e| format!("model {:?} is not a BertModel: {e}", args.model))?;

    let encodings = tokenizer
        .encode_batch(args.texts.clone(), true)
        .map_err(|e| format!("tokenizing with {}: {e}", tokenizer_file.display()))?;
    let rows = |f: fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, Box<dyn Error>> {
        let rows = encodings
            .iter()
            .map(|e| Tensor::new(f(e), &Device::Cpu))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tensor::stack(&rows, 0)?)
    };
    let ids = rows(tokenizers::Encoding::get_ids)?;
    let types = rows(tokenizers::Encoding::get_type_ids)?;
    let mask = rows(tokenizers::Encoding::get_attention_mask)?;
    let hidden = bert
        .forward(&ids, &types, Some(&mask))?
        .to_dtype(DType::F32)?;
    let embeddings = normalise(&mean_pool(&hidden, &mask)?)?.to_vec2::<f32>()?;
    if let Some(i) = embeddings
        .iter()
        .position(|e| e.iter().any(|x| !x.is_finite()))
    {
        return Err(format!(
            "model {:?}: the embedding of {:?} is not finite",
            args.model, args.texts[i]
        )
        .into());
    }
    for (text, embedding) in args.texts.iter().zip(embeddings) {
        let line = serde_json::json!({ "text": text, "embedding": embedding });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The mean of each sequence's hidden states `[n, len, h]` over its unmasked tokens.
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> CandleResult<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    sum.broadcast_div(&count)
}

/// Each row divided by its L2 norm.
fn normalise(v: &Tensor) -> CandleResult<Tensor> {
    let norm = v.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    v.broadcast_div(&norm)
}

/// The folder a model path names: itself, or the folder of an index or weights file.
fn folder_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map_or_else(PathBuf::new, Path::to_path_buf)
    }
}

#[allow(dead_code)] // `main` is unused where a test includes this file as a module.
fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args, &mut std::io::stdout().lock()) {
        eprintln!("embed: {e}");
        std::process::exit(1);
    }
}
