//! Kokoro key table in the flattened MLX form `<component>.<key>` (docs/checkpoint-layouts.md §8.5).

use crate::{Dtype, KeyTable};

use super::KokoroConfig;

struct Builder {
    k: KeyTable,
    style: u64,
}

impl Builder {
    /// Weight-normed conv, legacy names: `weight_g [o,1,1]`, `weight_v [o,i,k]` (ConvTranspose1d: `[i,1,1]`,
    /// `[i,o,k]`), `bias [o]`.
    fn wn(&mut self, n: &str, o: u64, i: u64, k: u64, bias: bool, transpose: bool) {
        if transpose {
            self.k.tensor(format!("{n}.weight_g"), [i, 1, 1]);
            self.k.tensor(format!("{n}.weight_v"), [i, o, k]);
        } else {
            self.k.tensor(format!("{n}.weight_g"), [o, 1, 1]);
            self.k.tensor(format!("{n}.weight_v"), [o, i, k]);
        }
        if bias {
            self.k.tensor(format!("{n}.bias"), [o]);
        }
    }

    /// Bidirectional single-layer LSTM, PyTorch names.
    fn lstm(&mut self, n: &str, i: u64, h: u64) {
        for suf in ["", "_reverse"] {
            self.k.tensor(format!("{n}.weight_ih_l0{suf}"), [4 * h, i]);
            self.k.tensor(format!("{n}.weight_hh_l0{suf}"), [4 * h, h]);
            self.k.tensor(format!("{n}.bias_ih_l0{suf}"), [4 * h]);
            self.k.tensor(format!("{n}.bias_hh_l0{suf}"), [4 * h]);
        }
    }

    /// AdaIN1d: only `fc` is stored (the InstanceNorm affine tensors are absent from the real checkpoint).
    fn adain(&mut self, n: &str, c: u64) {
        self.k.linear(&format!("{n}.fc"), self.style, 2 * c, true);
    }

    fn adainresblk1d(&mut self, n: &str, di: u64, dout: u64, up: bool) {
        self.wn(&format!("{n}.conv1"), dout, di, 3, true, false);
        self.wn(&format!("{n}.conv2"), dout, dout, 3, true, false);
        self.adain(&format!("{n}.norm1"), di);
        self.adain(&format!("{n}.norm2"), dout);
        if di != dout {
            self.wn(&format!("{n}.conv1x1"), dout, di, 1, false, false);
        }
        if up {
            // Depthwise ConvTranspose1d(di, di, 3, stride 2, groups=di).
            self.k.tensor(format!("{n}.pool.weight_g"), [di, 1, 1]);
            self.k.tensor(format!("{n}.pool.weight_v"), [di, 1, 3]);
            self.k.tensor(format!("{n}.pool.bias"), [di]);
        }
    }

    fn adainresblock1(&mut self, n: &str, c: u64, k: u64) {
        for s in ["convs1", "convs2"] {
            for j in 0..3 {
                self.wn(&format!("{n}.{s}.{j}"), c, c, k, true, false);
            }
        }
        for s in ["adain1", "adain2"] {
            for j in 0..3 {
                self.adain(&format!("{n}.{s}.{j}"), c);
            }
        }
        for s in ["alpha1", "alpha2"] {
            for j in 0..3 {
                self.k.tensor(format!("{n}.{s}.{j}"), [1, c, 1]);
            }
        }
    }
}

/// Every tensor of `kokoro-v1_0.safetensors` (548 F32 tensors, 81,763,410 parameters for v1.0). With
/// `include_position_ids`, also the I64 `bert.embeddings.position_ids [1, P]` buffer the `.pth` probably has (549).
pub fn kokoro_keys(c: &KokoroConfig, include_position_ids: bool) -> KeyTable {
    let mut b = Builder {
        k: KeyTable::new(Dtype::F32),
        style: c.style_dim,
    };
    let (hidden, style) = (c.hidden_dim, c.style_dim);
    let (hb, inter, pos) = (
        c.plbert.hidden_size,
        c.plbert.intermediate_size,
        c.plbert.max_position_embeddings,
    );
    let emb = c.albert_embedding_size;

    // bert: transformers AlbertModel, one shared layer group.
    let k = &mut b.k;
    k.tensor("bert.embeddings.word_embeddings.weight", [c.n_token, emb]);
    k.tensor("bert.embeddings.position_embeddings.weight", [pos, emb]);
    k.tensor("bert.embeddings.token_type_embeddings.weight", [2, emb]);
    k.norm("bert.embeddings.LayerNorm", emb);
    if include_position_ids {
        k.tensor_as("bert.embeddings.position_ids", Dtype::I64, [1, pos]);
    }
    k.linear("bert.encoder.embedding_hidden_mapping_in", emb, hb, true);
    let a = "bert.encoder.albert_layer_groups.0.albert_layers.0.";
    k.norm(&format!("{a}full_layer_layer_norm"), hb);
    for q in ["query", "key", "value", "dense"] {
        k.linear(&format!("{a}attention.{q}"), hb, hb, true);
    }
    k.norm(&format!("{a}attention.LayerNorm"), hb);
    k.linear(&format!("{a}ffn"), hb, inter, true);
    k.linear(&format!("{a}ffn_output"), inter, hb, true);
    k.linear("bert.pooler", hb, hb, true);
    k.linear("bert_encoder", hb, hidden, true);

    // predictor
    for l in 0..c.n_layer {
        b.lstm(
            &format!("predictor.text_encoder.lstms.{}", 2 * l),
            hidden + style,
            hidden / 2,
        );
        b.k.linear(
            &format!("predictor.text_encoder.lstms.{}.fc", 2 * l + 1),
            style,
            2 * hidden,
            true,
        );
    }
    b.lstm("predictor.lstm", hidden + style, hidden / 2);
    b.k.linear(
        "predictor.duration_proj.linear_layer",
        hidden,
        c.max_dur,
        true,
    );
    b.lstm("predictor.shared", hidden + style, hidden / 2);
    for br in ["F0", "N"] {
        b.adainresblk1d(&format!("predictor.{br}.0"), hidden, hidden, false);
        b.adainresblk1d(&format!("predictor.{br}.1"), hidden, hidden / 2, true);
        b.adainresblk1d(&format!("predictor.{br}.2"), hidden / 2, hidden / 2, false);
        b.k.tensor(format!("predictor.{br}_proj.weight"), [1, hidden / 2, 1]);
        b.k.tensor(format!("predictor.{br}_proj.bias"), [1]);
    }

    // text_encoder
    b.k.tensor("text_encoder.embedding.weight", [c.n_token, hidden]);
    for l in 0..c.n_layer {
        b.wn(
            &format!("text_encoder.cnn.{l}.0"),
            hidden,
            hidden,
            c.text_encoder_kernel_size,
            true,
            false,
        );
        // Custom LayerNorm: `gamma`/`beta`, not weight/bias.
        b.k.tensor(format!("text_encoder.cnn.{l}.1.gamma"), [hidden]);
        b.k.tensor(format!("text_encoder.cnn.{l}.1.beta"), [hidden]);
    }
    b.lstm("text_encoder.lstm", hidden, hidden / 2);

    // decoder
    let (dd, asr) = (c.decoder_dim, c.asr_res_dim);
    let ist = &c.istftnet;
    let uic = ist.upsample_initial_channel;
    b.adainresblk1d("decoder.encode", hidden + 2, dd, false);
    for j in 0..3 {
        b.adainresblk1d(&format!("decoder.decode.{j}"), dd + 2 + asr, dd, false);
    }
    b.adainresblk1d("decoder.decode.3", dd + 2 + asr, uic, true);
    b.wn("decoder.F0_conv", 1, 1, 3, true, false);
    b.wn("decoder.N_conv", 1, 1, 3, true, false);
    b.wn("decoder.asr_res.0", asr, hidden, 1, true, false);
    let g = "decoder.generator.";
    let nfft = ist.gen_istft_n_fft;
    b.k.linear(
        &format!("{g}m_source.l_linear"),
        c.harmonic_num + 1,
        1,
        true,
    );
    let ur = &ist.upsample_rates;
    for (i, &k) in ist.upsample_kernel_sizes.iter().enumerate().take(ur.len()) {
        b.wn(
            &format!("{g}ups.{i}"),
            uic >> (i + 1),
            uic >> i,
            k,
            true,
            true,
        );
    }
    let mut r = 0;
    for i in 0..ur.len() {
        let ch = uic >> (i + 1);
        for &k in &ist.resblock_kernel_sizes {
            b.adainresblock1(&format!("{g}resblocks.{r}"), ch, k);
            r += 1;
        }
        if i + 1 < ur.len() {
            let sf0: u64 = ur[i + 1..].iter().product();
            b.k.tensor(
                format!("{g}noise_convs.{i}.weight"),
                [ch, nfft + 2, 2 * sf0],
            );
            b.k.tensor(format!("{g}noise_convs.{i}.bias"), [ch]);
            b.adainresblock1(&format!("{g}noise_res.{i}"), ch, 7);
        } else {
            b.k.tensor(format!("{g}noise_convs.{i}.weight"), [ch, nfft + 2, 1]);
            b.k.tensor(format!("{g}noise_convs.{i}.bias"), [ch]);
            b.adainresblock1(&format!("{g}noise_res.{i}"), ch, 11);
        }
    }
    b.wn(
        &format!("{g}conv_post"),
        nfft + 2,
        uic >> ur.len(),
        7,
        true,
        false,
    );
    b.k
}
