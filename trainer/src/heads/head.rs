//! A genre head in plain form: standardization of the trunk outputs it reads, then dense layers
//! (ReLU between them), then softmax. Written to ONNX for the shipped model; a reference forward
//! pass checks the export.
use crate::data::NUM_CLASSES;
use anyhow::ensure;
use genrescope_onnx_graph::{int, Graph};
use serde::{Deserialize, Serialize};

/// Output name of every head graph.
pub const HEAD_OUTPUT: &str = "probs";

/// `y = W x + b` with `W` as `[d_out, d_in]` (ONNX Gemm with transB).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    pub d_in: usize,
    pub d_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadWeights {
    /// Trunk outputs read, `(name, dim)`, concatenated in this order.
    pub inputs: Vec<(String, usize)>,
    /// Standardization of the concatenated input: `(x - mean) * inv_std`.
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
    /// Dense layers; ReLU between them, softmax after the last (`NUM_CLASSES` outputs: the
    /// genres, then out-of-set).
    pub layers: Vec<DenseLayer>,
}

impl HeadWeights {
    pub fn in_dim(&self) -> usize {
        self.inputs.iter().map(|i| i.1).sum()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let d = self.in_dim();
        ensure!(d > 0 && self.mean.len() == d && self.inv_std.len() == d, "head input size");
        ensure!(!self.layers.is_empty(), "head without layers");
        let mut prev = d;
        for l in &self.layers {
            ensure!(l.d_in == prev && l.weight.len() == l.d_in * l.d_out && l.bias.len() == l.d_out, "layer shapes");
            prev = l.d_out;
        }
        ensure!(prev == NUM_CLASSES, "head ends in {prev} outputs, not {NUM_CLASSES}");
        Ok(())
    }

    /// Reference forward pass on one concatenated input.
    pub fn forward(&self, x: &[f32]) -> [f32; NUM_CLASSES] {
        let mut h: Vec<f32> = x.iter().zip(&self.mean).zip(&self.inv_std).map(|((v, m), s)| (v - m) * s).collect();
        for (i, l) in self.layers.iter().enumerate() {
            let mut y = l.bias.clone();
            for (o, yo) in y.iter_mut().enumerate() {
                *yo += l.weight[o * l.d_in..(o + 1) * l.d_in].iter().zip(&h).map(|(w, v)| w * v).sum::<f32>();
            }
            if i + 1 < self.layers.len() {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            h = y;
        }
        let max = h.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = h.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        std::array::from_fn(|i| e[i] / sum)
    }

    /// The head as an ONNX graph: inputs named after the trunk outputs (`[N, dim]` each), output
    /// [`HEAD_OUTPUT`] `[N, 10]`.
    pub fn to_onnx(&self) -> anyhow::Result<Vec<u8>> {
        self.validate()?;
        let mut g = Graph::new();
        let names: Vec<String> = self.inputs.iter().map(|(n, d)| g.input(n, &[None, Some(*d as i64)])).collect();
        let x = if names.len() == 1 {
            names[0].clone()
        } else {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            g.node("Concat", "concat", &refs, vec![int("axis", 1)])
        };
        let d = self.in_dim() as i64;
        let mean = g.init_f32("norm.mean", &[1, d], &self.mean);
        let inv = g.init_f32("norm.inv_std", &[1, d], &self.inv_std);
        let c = g.node("Sub", "norm.sub", &[&x, &mean], vec![]);
        let mut h = g.node("Mul", "norm.mul", &[&c, &inv], vec![]);
        for (i, l) in self.layers.iter().enumerate() {
            let w = g.init_f32(&format!("fc{i}.w"), &[l.d_out as i64, l.d_in as i64], &l.weight);
            let b = g.init_f32(&format!("fc{i}.b"), &[l.d_out as i64], &l.bias);
            h = g.node("Gemm", &format!("fc{i}"), &[&h, &w, &b], vec![int("transB", 1)]);
            if i + 1 < self.layers.len() {
                h = g.node("Relu", &format!("relu{i}"), &[&h], vec![]);
            }
        }
        g.node_named_out("Softmax", "softmax", &[&h], HEAD_OUTPUT, vec![int("axis", 1)]);
        g.output(HEAD_OUTPUT, &[None, Some(NUM_CLASSES as i64)]);
        g.finish("genrescope_head")
    }
}

/// Per-dimension mean and 1/std of `rows` (`dim` values each); constant dimensions get 1.
pub fn standardization(rows: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (rows.len() / dim).max(1) as f64;
    let mut sum = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for r in rows.chunks_exact(dim) {
        for (k, &v) in r.iter().enumerate() {
            sum[k] += v as f64;
            sq[k] += v as f64 * v as f64;
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let inv = sum
        .iter()
        .zip(&sq)
        .map(|(s, q)| {
            let var = (q / n - (s / n).powi(2)).max(0.0);
            if var > 1e-12 {
                (1.0 / var.sqrt()) as f32
            } else {
                1.0
            }
        })
        .collect();
    (mean, inv)
}
