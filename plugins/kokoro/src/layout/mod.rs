//! Every tensor of `kokoro-v1_0.safetensors` with its shape, as a function of `config.json` and
//! the derived [`Widths`] (docs/checkpoint-layouts.md §8.4, §8.5; Kokoro's `modules.py`,
//! `istftnet.py`).
//!
//! Keys are the flattened MLX form `<component>.<key>`, in PyTorch layouts. Each tensor carries
//! the rule that fixes its shape, so a mismatch says which config field it contradicts.

mod decoder;
mod encoders;
mod modules;

use modelcache_weights::ExpectedTensors;

use crate::config::KokoroConfig;
use crate::widths::Widths;

use modules::Modules;

/// The tensors a checkpoint for `c` must hold (548 for v1.0), in module order, each noted with
/// the rule that fixes its shape, cut after the first `cap`.
///
/// A checkpoint of `n` tensors is checked against at most `n + 1`: if the layout is longer,
/// one of its first `n + 1` (distinct) names is missing, so its first problem is among them;
/// and a config with absurd block counts (`n_layer = 2^40`) costs no more than the checkpoint.
pub(crate) fn layout(c: &KokoroConfig, w: &Widths, cap: usize) -> ExpectedTensors {
    let mut table = ExpectedTensors::new().with_cap(cap);
    let mut b = Modules {
        table: &mut table,
        style: c.style_dim,
    };
    encoders::encoders(&mut b, c, w);
    decoder::decoder(&mut b, c, w);
    table
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_real_model_has_548_tensors_and_81_763_410_parameters() {
        let json = modelcache_testkit::kokoro::KokoroConfig::v1_0().config_json();
        let config = KokoroConfig::from_value(&json).unwrap();
        let l = layout(&config, &Widths::V1_0, usize::MAX);
        assert_eq!(l.len(), 548);
        assert_eq!(layout(&config, &Widths::V1_0, 100).len(), 100);
        let params: u64 = l
            .iter()
            .map(|t| t.shape().unwrap().iter().product::<u64>())
            .sum();
        assert_eq!(params, 81_763_410);
        let mut names: Vec<_> = l.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 548);
        let t = l
            .iter()
            .find(|t| t.name() == "predictor.lstm.weight_ih_l0")
            .unwrap();
        assert_eq!(t.shape().unwrap(), [1024, 640]);
        assert!(
            t.note().contains("hidden_dim + style_dim = 640"),
            "{}",
            t.note()
        );
    }
}
