//! A genre head as a burn module: dense layers on standardized trunk outputs (ReLU and dropout
//! between them), logits out; converted to the plain [`HeadWeights`] form for export.
use super::head::DenseLayer;
use crate::data::NUM_CLASSES;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct HeadNet {
    layers: Vec<Linear>,
    dropout: Dropout,
}

impl HeadNet {
    /// `dim` inputs, `hidden` units (0: a linear head), dropout before every layer.
    pub fn new(dim: usize, hidden: usize, dropout: f64, device: &Device) -> Self {
        let mut layers = Vec::new();
        let mut d = dim;
        if hidden > 0 {
            layers.push(LinearConfig::new(d, hidden).init(device));
            d = hidden;
        }
        layers.push(LinearConfig::new(d, NUM_CLASSES).init(device));
        Self { layers, dropout: DropoutConfig::new(dropout).init() }
    }

    /// Standardized input `[N, dim]` → logits `[N, NUM_CLASSES]` (the genres, then out-of-set).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = self.dropout.forward(x);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i < last {
                h = self.dropout.forward(relu(h));
            }
        }
        h
    }

    /// The layers in plain form (`[out, in]` weights).
    pub fn to_layers(&self) -> Vec<DenseLayer> {
        self.layers
            .iter()
            .map(|l| {
                let [d_in, d_out] = l.weight.val().dims();
                let w = l.weight.val().into_data().try_to_vec::<f32>().expect("f32");
                // burn stores [in, out]; the plain form is [out, in].
                let mut weight = vec![0.0; d_in * d_out];
                for i in 0..d_in {
                    for o in 0..d_out {
                        weight[o * d_in + i] = w[i * d_out + o];
                    }
                }
                let bias = l
                    .bias
                    .as_ref()
                    .map(|b| b.val().into_data().try_to_vec::<f32>().expect("f32"))
                    .unwrap_or_else(|| vec![0.0; d_out]);
                DenseLayer { d_in, d_out, weight, bias }
            })
            .collect()
    }
}
