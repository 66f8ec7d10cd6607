//! The `decoder` and its iSTFTNet `generator` (docs/checkpoint-layouts.md §8.5; Kokoro's
//! `istftnet.py`).

use super::modules::Modules;
use crate::config::KokoroConfig;
use crate::widths::Widths;

pub(super) fn decoder(b: &mut Modules<'_>, c: &KokoroConfig, w: &Widths) {
    let (hidden, style) = (c.hidden_dim, c.style_dim);
    let (dd, asr) = (w.decoder_dim, w.asr_res_dim);
    let ist = &c.istftnet;
    let uic = ist.upsample_initial_channel;
    let stage = |i: usize| {
        u32::try_from(i)
            .ok()
            .and_then(|i| uic.checked_shr(i))
            .unwrap_or(0)
    };
    let encode_in = hidden.saturating_add(2);
    let decode_in = dd.saturating_add(2).saturating_add(asr);
    b.rule(format!(
        "decoder: encode hidden_dim + 2 = {encode_in} -> decoder width {dd} (read from decoder.encode.conv1.weight_v), styled by style_dim {style}"
    ));
    b.adainresblk1d("decoder.encode", encode_in, dd, false);
    b.rule(format!(
        "decoder: decode blocks take decoder width + 2 + asr_res width = {decode_in} (asr_res width {asr} read from decoder.asr_res.0.weight_v); the last gives istftnet.upsample_initial_channel {uic}"
    ));
    for j in 0..3 {
        b.adainresblk1d(&format!("decoder.decode.{j}"), decode_in, dd, false);
    }
    b.adainresblk1d("decoder.decode.3", decode_in, uic, true);
    b.wn("decoder.F0_conv", (1, 1, 3), true, false);
    b.wn("decoder.N_conv", (1, 1, 3), true, false);
    b.rule(format!(
        "decoder: asr_res Conv1d(hidden_dim {hidden} -> asr_res width {asr})"
    ));
    b.wn("decoder.asr_res.0", (asr, hidden, 1), true, false);

    let g = "decoder.generator.";
    b.rule(format!(
        "generator: source module Linear(harmonics + 1 = {} -> 1)",
        w.harmonic_num.saturating_add(1)
    ));
    b.linear(
        &format!("{g}m_source.l_linear"),
        w.harmonic_num.saturating_add(1),
        1,
        true,
    );
    let rates = &ist.upsample_rates;
    for (i, &k) in ist
        .upsample_kernel_sizes
        .iter()
        .enumerate()
        .take(rates.len())
    {
        if b.full() {
            break;
        }
        b.rule(format!(
            "generator upsampling stage {i}: ConvTranspose1d(istftnet.upsample_initial_channel / 2^{i} = {}, / 2^{} = {}, istftnet.upsample_kernel_sizes[{i}] = {k})",
            stage(i),
            i + 1,
            stage(i + 1)
        ));
        b.wn(
            &format!("{g}ups.{i}"),
            (stage(i + 1), stage(i), k),
            true,
            true,
        );
    }
    let nfft2 = ist.gen_istft_n_fft.saturating_add(2);
    let mut r = 0;
    for i in 0..rates.len() {
        if b.full() {
            break;
        }
        let ch = stage(i + 1);
        b.rule(format!(
            "generator stage {i} residual blocks: {ch} channels, istftnet.resblock_kernel_sizes {:?}",
            ist.resblock_kernel_sizes
        ));
        for &k in &ist.resblock_kernel_sizes {
            if b.full() {
                break;
            }
            b.adainresblock1(&format!("{g}resblocks.{r}"), ch, k);
            r += 1;
        }
        let (kernel, res_kernel) = if i + 1 < rates.len() {
            let later: usize = rates[i + 1..]
                .iter()
                .fold(1usize, |a, &r| a.saturating_mul(r));
            (later.saturating_mul(2), 7)
        } else {
            (1, 11)
        };
        b.rule(format!(
            "generator stage {i} noise conv: Conv1d(istftnet.gen_istft_n_fft + 2 = {nfft2} -> {ch}, kernel 2 x product of later upsample_rates = {kernel})"
        ));
        b.tensor(format!("{g}noise_convs.{i}.weight"), [ch, nfft2, kernel]);
        b.tensor(format!("{g}noise_convs.{i}.bias"), [ch]);
        b.rule(format!(
            "generator stage {i} noise residual block: {ch} channels, kernel {res_kernel}"
        ));
        b.adainresblock1(&format!("{g}noise_res.{i}"), ch, res_kernel);
    }
    let last = stage(rates.len());
    b.rule(format!(
        "generator: conv_post Conv1d({last} -> istftnet.gen_istft_n_fft + 2 = {nfft2}, 7)"
    ));
    b.wn(&format!("{g}conv_post"), (nfft2, last, 7), true, false);
}
