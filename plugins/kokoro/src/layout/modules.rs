//! The tensors of each PyTorch module Kokoro is built from, by shape, added to the toolkit's
//! [`ExpectedTensors`] table.

use modelcache_weights::ExpectedTensors;

/// Kokoro's modules over a table; every tensor carries the rule set last.
pub(super) struct Modules<'a> {
    pub(super) table: &'a mut ExpectedTensors,
    pub(super) style: usize,
}

impl Modules<'_> {
    /// Sets the rule (what fixes the shapes) of the tensors added from now on.
    pub(super) fn rule(&mut self, rule: String) {
        self.table.note(rule);
    }

    /// Whether the table's cap is reached: loops over config counts stop there.
    pub(super) fn full(&self) -> bool {
        self.table.is_full()
    }

    pub(super) fn tensor<const N: usize>(&mut self, name: String, shape: [usize; N]) {
        self.table.tensor(name, shape.map(|d| d as u64));
    }

    pub(super) fn linear(&mut self, n: &str, i: usize, o: usize, bias: bool) {
        self.table.linear(n, i as u64, o as u64, bias);
    }

    pub(super) fn norm(&mut self, n: &str, c: usize) {
        self.table.norm(n, c as u64);
    }

    /// Weight-normed conv, legacy names: `weight_g [o,1,1]`, `weight_v [o,i,k]`
    /// (ConvTranspose1d: `[i,1,1]`, `[i,o,k]`), `bias [o]`.
    pub(super) fn wn(
        &mut self,
        n: &str,
        (o, i, k): (usize, usize, usize),
        bias: bool,
        transpose: bool,
    ) {
        let (g, v) = if transpose {
            ([i, 1, 1], [i, o, k])
        } else {
            ([o, 1, 1], [o, i, k])
        };
        self.tensor(format!("{n}.weight_g"), g);
        self.tensor(format!("{n}.weight_v"), v);
        if bias {
            self.tensor(format!("{n}.bias"), [o]);
        }
    }

    /// Bidirectional single-layer LSTM, PyTorch names.
    pub(super) fn lstm(&mut self, n: &str, i: usize, h: usize) {
        let h4 = h.saturating_mul(4);
        for suf in ["", "_reverse"] {
            self.tensor(format!("{n}.weight_ih_l0{suf}"), [h4, i]);
            self.tensor(format!("{n}.weight_hh_l0{suf}"), [h4, h]);
            self.tensor(format!("{n}.bias_ih_l0{suf}"), [h4]);
            self.tensor(format!("{n}.bias_hh_l0{suf}"), [h4]);
        }
    }

    /// AdaIN1d: only `fc` is stored (no InstanceNorm affine tensors).
    fn adain(&mut self, n: &str, c: usize) {
        self.linear(&format!("{n}.fc"), self.style, c.saturating_mul(2), true);
    }

    pub(super) fn adainresblk1d(&mut self, n: &str, di: usize, dout: usize, up: bool) {
        self.wn(&format!("{n}.conv1"), (dout, di, 3), true, false);
        self.wn(&format!("{n}.conv2"), (dout, dout, 3), true, false);
        self.adain(&format!("{n}.norm1"), di);
        self.adain(&format!("{n}.norm2"), dout);
        if di != dout {
            self.wn(&format!("{n}.conv1x1"), (dout, di, 1), false, false);
        }
        if up {
            // Depthwise ConvTranspose1d(di, di, 3, stride 2, groups = di).
            self.tensor(format!("{n}.pool.weight_g"), [di, 1, 1]);
            self.tensor(format!("{n}.pool.weight_v"), [di, 1, 3]);
            self.tensor(format!("{n}.pool.bias"), [di]);
        }
    }

    pub(super) fn adainresblock1(&mut self, n: &str, c: usize, k: usize) {
        for s in ["convs1", "convs2"] {
            for j in 0..3 {
                self.wn(&format!("{n}.{s}.{j}"), (c, c, k), true, false);
            }
        }
        for s in ["adain1", "adain2"] {
            for j in 0..3 {
                self.adain(&format!("{n}.{s}.{j}"), c);
            }
        }
        for s in ["alpha1", "alpha2"] {
            for j in 0..3 {
                self.tensor(format!("{n}.{s}.{j}"), [1, c, 1]);
            }
        }
    }
}
