//! Training one head: standardized trunk outputs → [`HeadNet`] → class-balanced cross entropy,
//! Adam or SGD with weight decay, in the shared early-stopping loop ([`crate::training::train`])
//! on the selected device; and predicting with plain head weights.
use super::head::{standardization, HeadWeights};
use super::model::HeadNet;
use crate::data::NUM_CLASSES;
use crate::metrics::Probs;
use crate::training::{optimizer, train, EpochLoss, OptimizerKind, Schedule};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, softmax};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Everything that determines one head's training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Trunk outputs read (concatenated in this order).
    pub inputs: Vec<String>,
    /// Hidden units; 0 = a linear head (multinomial logistic regression).
    pub hidden: usize,
    pub dropout: f64,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f32,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Early stopping: epochs without a lower validation loss.
    pub patience: usize,
    pub seed: u64,
    /// How much each corpus weighs in the loss.
    #[serde(default)]
    pub corpus_weighting: super::cv::CorpusWeighting,
}

impl HeadConfig {
    /// Short human-readable form for logs and reports.
    pub fn label(&self) -> String {
        format!(
            "{} h{} d{} {} lr{} wd{}{}",
            self.inputs.join("+"),
            self.hidden,
            self.dropout,
            self.optimizer.name(),
            self.lr,
            self.weight_decay,
            match self.corpus_weighting {
                super::cv::CorpusWeighting::BySize => "",
                super::cv::CorpusWeighting::Equal => " corpora-equal",
            }
        )
    }
}

pub struct Fitted {
    pub weights: HeadWeights,
    /// Epochs of the kept weights (the best by validation loss, else all).
    pub epochs: usize,
    pub history: Vec<EpochLoss>,
}

fn standardize(x: &[f32], mean: &[f32], inv: &[f32]) -> Vec<f32> {
    let d = mean.len();
    x.iter().enumerate().map(|(i, &v)| (v - mean[i % d]) * inv[i % d]).collect()
}

fn tensor(x: &[f32], rows: &[usize], dim: usize, device: &Device) -> Tensor<2> {
    let mut v = Vec::with_capacity(rows.len() * dim);
    for &r in rows {
        v.extend_from_slice(&x[r * dim..(r + 1) * dim]);
    }
    Tensor::from_data(TensorData::new(v, [rows.len(), dim]), device)
}

fn probs_of(net: &HeadNet, x: &[f32], dim: usize, device: &Device) -> Vec<Probs> {
    let n = x.len() / dim;
    let mut out = Vec::with_capacity(n);
    let rows: Vec<usize> = (0..n).collect();
    for chunk in rows.chunks(1024) {
        let p = softmax(net.forward(tensor(x, chunk, dim, device)), 1);
        let v = p.into_data().try_to_vec::<f32>().expect("f32");
        out.extend(v.chunks_exact(NUM_CLASSES).map(|c| <Probs>::try_from(c).unwrap()));
    }
    out
}

fn mean_loss(p: &[Probs], y: &[usize], w: &[f32]) -> f32 {
    let s: f64 = p.iter().zip(y).zip(w).map(|((p, &y), &w)| -(p[y].max(1e-7) as f64).ln() * w as f64).sum();
    (s / w.iter().map(|&w| w as f64).sum::<f64>().max(1e-12)) as f32
}

/// Trains a head on `x` (`n * dim` raw trunk outputs, `inputs` their names and dims) with labels
/// `y` and per-example loss weights `w` (see [`crate::training::sample_weights`]). With `valid`
/// (features, labels, weights), keeps the epoch of lowest weighted validation loss and stops after
/// `patience` epochs without improvement; without, trains `epochs.unwrap_or(max_epochs)` epochs.
/// Deterministic for a seed (burn's RNG is per process: one fit at a time).
pub fn fit(
    cfg: &HeadConfig,
    inputs: &[(String, usize)],
    x: &[f32],
    y: &[usize],
    w: &[f32],
    valid: Option<(&[f32], &[usize], &[f32])>,
    epochs: Option<usize>,
) -> anyhow::Result<Fitted> {
    let dim: usize = inputs.iter().map(|i| i.1).sum();
    anyhow::ensure!(dim > 0 && x.len() == y.len() * dim && !y.is_empty(), "head training data shape");
    anyhow::ensure!(w.len() == y.len(), "one loss weight per example");
    let device = crate::backend::device().autodiff();
    device.seed(cfg.seed);
    let (mean, inv) = standardization(x, dim);
    let xs = standardize(x, &mean, &inv);
    let vs = valid.map(|(vx, vy, vw)| (standardize(vx, &mean, &inv), vy, vw));
    let net = HeadNet::new(dim, cfg.hidden, cfg.dropout, &device);
    let optim = optimizer(cfg.optimizer, cfg.weight_decay);
    // Weighted cross entropy: Σ w_i · −log p_i(y_i) / Σ w_i over the batch.
    let batch_loss = |net: &HeadNet, rows: &[usize]| {
        let xb = tensor(&xs, rows, dim, &device);
        let yb: Vec<i64> = rows.iter().map(|&i| y[i] as i64).collect();
        let yb = Tensor::<2, Int>::from_data(TensorData::new(yb, [rows.len(), 1]), &device);
        let wb: Vec<f32> = rows.iter().map(|&i| w[i]).collect();
        let wb = Tensor::<1>::from_data(TensorData::new(wb, [rows.len()]), &device);
        let picked = log_softmax(net.forward(xb), 1).gather(1, yb).reshape([rows.len()]);
        (picked * wb.clone()).sum().neg() / wb.sum()
    };
    let eval_device = crate::backend::device();
    let mut valid_loss =
        vs.as_ref().map(|(vx, vy, vw)| |net: &HeadNet| mean_loss(&probs_of(net, vx, dim, &eval_device), vy, vw));
    let schedule = Schedule {
        lr: cfg.lr,
        batch_size: cfg.batch_size,
        max_epochs: epochs.unwrap_or(cfg.max_epochs).max(1),
        patience: cfg.patience,
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6865_6164);
    let valid_loss = valid_loss.as_mut().map(|f| f as &mut dyn FnMut(&HeadNet) -> f32);
    let trained = train(net, optim, &schedule, y.len(), &mut rng, &device, batch_loss, valid_loss);
    let weights = HeadWeights { inputs: inputs.to_vec(), mean, inv_std: inv, layers: trained.model.to_layers() };
    weights.validate()?;
    Ok(Fitted { weights, epochs: trained.epochs, history: trained.history })
}

/// Class probabilities of raw trunk outputs `x` (`n * in_dim`) under a head, in burn (batched).
pub fn predict(w: &HeadWeights, x: &[f32]) -> Vec<Probs> {
    let dim = w.in_dim();
    let device = crate::backend::device();
    let xs = standardize(x, &w.mean, &w.inv_std);
    let n = xs.len() / dim;
    let mut out = Vec::with_capacity(n);
    let rows: Vec<usize> = (0..n).collect();
    let layers: Vec<(Tensor<2>, Tensor<1>)> = w
        .layers
        .iter()
        .map(|l| {
            // [out, in] → the [in, out] matrix a right-multiplication needs.
            let wt = Tensor::<2>::from_data(TensorData::new(l.weight.clone(), [l.d_out, l.d_in]), &device).transpose();
            (wt, Tensor::<1>::from_data(TensorData::new(l.bias.clone(), [l.d_out]), &device))
        })
        .collect();
    for chunk in rows.chunks(1024) {
        let mut h = tensor(&xs, chunk, dim, &device);
        for (i, (wt, b)) in layers.iter().enumerate() {
            h = h.matmul(wt.clone()) + b.clone().unsqueeze::<2>();
            if i + 1 < layers.len() {
                h = relu(h);
            }
        }
        let v = softmax(h, 1).into_data().try_to_vec::<f32>().expect("f32");
        out.extend(v.chunks_exact(NUM_CLASSES).map(|c| <Probs>::try_from(c).unwrap()));
    }
    out
}
