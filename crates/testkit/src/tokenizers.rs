//! Tokenizer folders: the real file names with tiny placeholder contents.
//!
//! The file lists are from memory of the FLUX.1 and LTX-Video repos (unverified, docs/checkpoint-layouts.md §9).
//! Contents are minimal but well-formed where the format is JSON; `spiece.model` is an opaque placeholder, not a valid
//! SentencePiece model.

use std::io;

use serde_json::json;

use crate::out::Out;

/// `tokenizer/` of FLUX.1: a `CLIPTokenizer`.
pub(crate) fn write_clip(out: &mut Out, dir: &str, max_length: u64) -> io::Result<()> {
    out.bytes(
        &format!("{dir}/merges.txt"),
        b"#version: 0.2\nt h\nth e</w>\n",
    )?;
    out.json(
        &format!("{dir}/vocab.json"),
        &json!({"!": 0, "t": 1, "h": 2, "e</w>": 3, "th": 4, "the</w>": 5, "<|startoftext|>": 6, "<|endoftext|>": 7}),
    )?;
    out.json(
        &format!("{dir}/special_tokens_map.json"),
        &json!({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>"}),
    )?;
    out.json(
        &format!("{dir}/tokenizer_config.json"),
        &json!({"tokenizer_class": "CLIPTokenizer", "model_max_length": max_length, "do_lower_case": true,
                "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>"}),
    )
}

/// `tokenizer_2/` of FLUX.1: a `T5TokenizerFast`.
pub(crate) fn write_t5_fast(out: &mut Out, dir: &str, max_length: u64) -> io::Result<()> {
    write_t5_common(out, dir, "T5TokenizerFast", max_length)?;
    out.json(
        &format!("{dir}/tokenizer.json"),
        &json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                "normalizer": null, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"},
                "post_processor": null, "decoder": {"type": "Metaspace", "replacement": "▁"},
                "model": {"type": "Unigram", "unk_id": 2,
                          "vocab": [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁", -2.0]]}}),
    )
}

/// `tokenizer/` of LTX-Video: a slow `T5Tokenizer` (`added_tokens.json` too).
pub(crate) fn write_t5_slow(out: &mut Out, dir: &str, max_length: u64) -> io::Result<()> {
    write_t5_common(out, dir, "T5Tokenizer", max_length)?;
    out.json(
        &format!("{dir}/added_tokens.json"),
        &json!({"<extra_id_0>": 3}),
    )
}

fn write_t5_common(out: &mut Out, dir: &str, class: &str, max_length: u64) -> io::Result<()> {
    out.bytes(
        &format!("{dir}/spiece.model"),
        b"modelcache-testkit placeholder sentencepiece model\n",
    )?;
    out.json(
        &format!("{dir}/special_tokens_map.json"),
        &json!({"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}),
    )?;
    out.json(
        &format!("{dir}/tokenizer_config.json"),
        &json!({"tokenizer_class": class, "model_max_length": max_length, "eos_token": "</s>",
                "pad_token": "<pad>", "unk_token": "<unk>", "extra_ids": 0}),
    )
}
