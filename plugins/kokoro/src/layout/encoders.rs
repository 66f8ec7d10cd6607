//! The text side: ALBERT (`bert`), `bert_encoder`, the prosody `predictor` and the
//! `text_encoder` (docs/checkpoint-layouts.md §8.5).

use super::modules::Modules;
use crate::config::KokoroConfig;
use crate::widths::Widths;

/// `bert`, `bert_encoder`, `predictor` and `text_encoder`.
pub(super) fn encoders(b: &mut Modules<'_>, c: &KokoroConfig, w: &Widths) {
    let (hidden, style, n_token) = (c.hidden_dim, c.style_dim, c.n_token);
    let half = hidden / 2;
    let hb = c.plbert.hidden_size;

    bert(b, c, w);
    b.rule(format!(
        "bert_encoder: Linear(plbert.hidden_size {hb} -> hidden_dim {hidden})"
    ));
    b.linear("bert_encoder", hb, hidden, true);

    // predictor
    let lstm_in = hidden.saturating_add(style);
    for l in 0..c.n_layer {
        if b.full() {
            break;
        }
        b.rule(format!(
            "duration encoder block {l} of n_layer {}: LSTM(hidden_dim + style_dim = {lstm_in}, hidden_dim / 2 = {half}) and AdaLayerNorm Linear(style_dim {style} -> 2 x hidden_dim)",
            c.n_layer
        ));
        b.lstm(
            &format!("predictor.text_encoder.lstms.{}", 2 * l),
            lstm_in,
            half,
        );
        let fc = format!("predictor.text_encoder.lstms.{}.fc", 2 * l + 1);
        b.linear(&fc, style, hidden.saturating_mul(2), true);
    }
    b.rule(format!(
        "prosody predictor: LSTM(hidden_dim + style_dim = {lstm_in}, hidden_dim / 2 = {half}), Linear(hidden_dim {hidden} -> max_dur {})",
        c.max_dur
    ));
    b.lstm("predictor.lstm", lstm_in, half);
    b.linear(
        "predictor.duration_proj.linear_layer",
        hidden,
        c.max_dur,
        true,
    );
    b.lstm("predictor.shared", lstm_in, half);
    for br in ["F0", "N"] {
        b.rule(format!(
            "prosody predictor {br} blocks: hidden_dim {hidden} -> hidden_dim / 2 = {half}, styled by style_dim {style}"
        ));
        b.adainresblk1d(&format!("predictor.{br}.0"), hidden, hidden, false);
        b.adainresblk1d(&format!("predictor.{br}.1"), hidden, half, true);
        b.adainresblk1d(&format!("predictor.{br}.2"), half, half, false);
        b.tensor(format!("predictor.{br}_proj.weight"), [1, half, 1]);
        b.tensor(format!("predictor.{br}_proj.bias"), [1]);
    }

    // text_encoder
    b.rule(format!(
        "text encoder: Embedding(n_token {n_token}, hidden_dim {hidden})"
    ));
    b.tensor(
        "text_encoder.embedding.weight".to_owned(),
        [n_token, hidden],
    );
    for l in 0..c.n_layer {
        if b.full() {
            break;
        }
        b.rule(format!(
            "text encoder CNN block {l} of n_layer {}: Conv1d(hidden_dim {hidden}, hidden_dim, text_encoder_kernel_size {}) and LayerNorm(hidden_dim)",
            c.n_layer, c.text_encoder_kernel_size
        ));
        let conv = (hidden, hidden, c.text_encoder_kernel_size);
        b.wn(&format!("text_encoder.cnn.{l}.0"), conv, true, false);
        b.tensor(format!("text_encoder.cnn.{l}.1.gamma"), [hidden]);
        b.tensor(format!("text_encoder.cnn.{l}.1.beta"), [hidden]);
    }
    b.rule(format!(
        "text encoder: LSTM(hidden_dim {hidden}, hidden_dim / 2 = {half})"
    ));
    b.lstm("text_encoder.lstm", hidden, half);
}

fn bert(b: &mut Modules<'_>, c: &KokoroConfig, w: &Widths) {
    let p = &c.plbert;
    let (hb, inter, emb) = (p.hidden_size, p.intermediate_size, w.albert_embedding_size);
    b.rule(format!(
        "ALBERT embeddings: n_token {} and plbert.max_position_embeddings {} rows of embedding_size {emb} (read from bert.embeddings.word_embeddings.weight)",
        c.n_token, p.max_position_embeddings
    ));
    b.tensor(
        "bert.embeddings.word_embeddings.weight".to_owned(),
        [c.n_token, emb],
    );
    b.tensor(
        "bert.embeddings.position_embeddings.weight".to_owned(),
        [p.max_position_embeddings, emb],
    );
    b.tensor(
        "bert.embeddings.token_type_embeddings.weight".to_owned(),
        [2, emb],
    );
    b.norm("bert.embeddings.LayerNorm", emb);
    b.rule(format!(
        "ALBERT: Linear(embedding_size {emb} -> plbert.hidden_size {hb})"
    ));
    b.linear("bert.encoder.embedding_hidden_mapping_in", emb, hb, true);
    b.rule(format!(
        "ALBERT shared layer: plbert.hidden_size {hb}, plbert.intermediate_size {inter}"
    ));
    let a = "bert.encoder.albert_layer_groups.0.albert_layers.0.";
    b.norm(&format!("{a}full_layer_layer_norm"), hb);
    for q in ["query", "key", "value", "dense"] {
        b.linear(&format!("{a}attention.{q}"), hb, hb, true);
    }
    b.norm(&format!("{a}attention.LayerNorm"), hb);
    b.linear(&format!("{a}ffn"), hb, inter, true);
    b.linear(&format!("{a}ffn_output"), inter, hb, true);
    b.linear("bert.pooler", hb, hb, true);
}
