//! The burn CNN (one ensemble member) and its conversion to plain weights.
//!
//! Block = Conv3x3 (stride 1, pad 1) -> BatchNorm -> ReLU -> MaxPool3x3 (stride 2, pad 1);
//! then Flatten -> Dense(hidden) -> ReLU -> Dropout -> Dense(10). BatchNorm sits right after
//! the conv so it folds into the conv weights on export. The model takes NORMALIZED input;
//! the normalization constants travel separately and go into the ONNX graph.
use crate::weights::{CnnWeights, ConvWeights, DenseWeights, POOL_KERNEL, POOL_PAD, POOL_STRIDE};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use genrescope_core::labels::NUM_GENRES;
use serde::{Deserialize, Serialize};

/// Architecture hyper-parameters of one member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    pub frames: usize,
    pub dim: usize,
    /// Conv blocks, 2..=4.
    pub depth: usize,
    /// Channels per conv.
    pub width: usize,
    pub hidden: usize,
    pub dropout: f64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self { frames: 130, dim: 13, depth: 3, width: 32, hidden: 64, dropout: 0.3 }
    }
}

#[derive(Module, Debug)]
pub struct Block {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub pool: MaxPool2d,
}

#[derive(Module, Debug)]
pub struct Cnn {
    pub blocks: Vec<Block>,
    pub fc1: Linear,
    pub dropout: Dropout,
    pub fc2: Linear,
}

impl CnnConfig {
    pub fn init(&self, device: &Device) -> Cnn {
        assert!((1..=6).contains(&self.depth), "depth {} out of range", self.depth);
        let (p, k, s) = (POOL_PAD, POOL_KERNEL, POOL_STRIDE);
        let blocks = (0..self.depth)
            .map(|i| Block {
                conv: Conv2dConfig::new([if i == 0 { 1 } else { self.width }, self.width], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                bn: BatchNormConfig::new(self.width).init(device),
                pool: MaxPool2dConfig::new([k, k])
                    .with_strides([s, s])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(),
            })
            .collect();
        let (h, w) = CnnWeights::final_hw(self.frames, self.dim, self.depth);
        Cnn {
            blocks,
            fc1: LinearConfig::new(self.width * h * w, self.hidden).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(self.hidden, NUM_GENRES).init(device),
        }
    }
}

/// Intermediate activations at the int8 quantization points.
pub struct BurnTrace {
    pub block_relu: Vec<Tensor<4>>,
    pub hidden_relu: Tensor<2>,
    pub logits: Tensor<2>,
}

impl Cnn {
    /// `x`: `[N, 1, frames, dim]` normalized MFCC -> logits `[N, 10]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_trace(x, false).logits
    }

    pub fn forward_trace(&self, x: Tensor<4>, keep: bool) -> BurnTrace {
        let mut x = x;
        let mut block_relu = Vec::new();
        for b in &self.blocks {
            let y = relu(b.bn.forward(b.conv.forward(x)));
            if keep {
                block_relu.push(y.clone());
            }
            x = b.pool.forward(y);
        }
        let h = relu(self.fc1.forward(x.flatten(1, 3)));
        let logits = self.fc2.forward(self.dropout.forward(h.clone()));
        BurnTrace { block_relu, hidden_relu: h, logits }
    }

    /// Plain weights with batch norm folded into the convs (inference statistics).
    pub fn to_weights(&self, cfg: &CnnConfig, mean: &[f32], inv_std: &[f32]) -> CnnWeights {
        let v = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
        let convs = self
            .blocks
            .iter()
            .map(|b| {
                let w = b.conv.weight.val().into_data().try_to_vec::<f32>().expect("f32 tensor");
                let [out_ch, in_ch, _, _] = b.conv.weight.val().dims();
                let bias = b.conv.bias.as_ref().map(|p| v(p.val())).unwrap_or_else(|| vec![0.0; out_ch]);
                let (gamma, beta) = (v(b.bn.gamma.val()), v(b.bn.beta.val()));
                let (rm, rv) = (v(b.bn.running_mean.value()), v(b.bn.running_var.value()));
                let per = in_ch * 9;
                let mut weight = w;
                let mut folded_bias = vec![0.0; out_ch];
                for c in 0..out_ch {
                    let scale = gamma[c] / (rv[c] + b.bn.epsilon as f32).sqrt();
                    weight[c * per..(c + 1) * per].iter_mut().for_each(|x| *x *= scale);
                    folded_bias[c] = (bias[c] - rm[c]) * scale + beta[c];
                }
                ConvWeights { in_ch, out_ch, weight, bias: folded_bias }
            })
            .collect();
        let dense = |l: &Linear| {
            let [d_in, d_out] = l.weight.val().dims();
            DenseWeights {
                d_in,
                d_out,
                weight: l.weight.val().into_data().try_to_vec::<f32>().expect("f32 tensor"),
                bias: l.bias.as_ref().map(|p| v(p.val())).unwrap_or_else(|| vec![0.0; d_out]),
            }
        };
        CnnWeights {
            frames: cfg.frames,
            dim: cfg.dim,
            mean: mean.to_vec(),
            inv_std: inv_std.to_vec(),
            convs,
            hidden: dense(&self.fc1),
            output: dense(&self.fc2),
        }
    }
}
