//! Training loop for one member: mini-batch Adam/SGD with L2 weight decay, early stopping on
//! validation loss, deterministic given the seed, resumable from a checkpoint folder.
use crate::data::Segments;
use crate::metrics::Probs;
use crate::model::{Cnn, CnnConfig};
use anyhow::Context;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use genrescope_core::labels::NUM_GENRES;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Everything that determines one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: CnnConfig,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// L2 penalty (added to the gradient, as Keras' kernel_regularizer does in effect).
    pub weight_decay: f32,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Stop after this many epochs without a lower validation loss.
    pub patience: usize,
    pub seed: u64,
    /// Weight each class's loss by `n / (classes * n_class)` over the training windows, so
    /// genres with few training tracks count as much as the others.
    #[serde(default)]
    pub class_balanced: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: CnnConfig::default(),
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            weight_decay: 0.01,
            batch_size: 32,
            max_epochs: 40,
            patience: 6,
            seed: 42,
            class_balanced: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub valid_loss: Option<f32>,
    pub valid_accuracy: Option<f32>,
}

pub struct Trained {
    /// Inference copy (no autodiff) of the best epoch (by validation loss, else the last).
    pub model: Cnn,
    pub history: Vec<EpochStats>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
}

/// Normalized copy of the windows (the model's input domain).
pub fn normalize(seg: &Segments, mean: &[f32], inv_std: &[f32]) -> Vec<f32> {
    let dim = mean.len();
    seg.windows.iter().enumerate().map(|(i, &x)| (x - mean[i % dim]) * inv_std[i % dim]).collect()
}

fn batch_tensor(norm: &[f32], idx: &[usize], cfg: &CnnConfig, device: &Device) -> Tensor<4> {
    let wl = cfg.frames * cfg.dim;
    let mut v = Vec::with_capacity(idx.len() * wl);
    for &i in idx {
        v.extend_from_slice(&norm[i * wl..(i + 1) * wl]);
    }
    Tensor::from_data(TensorData::new(v, [idx.len(), 1, cfg.frames, cfg.dim]), device)
}

/// Class probabilities of every segment (inference mode), batched.
pub fn predict(model: &Cnn, cfg: &CnnConfig, norm: &[f32], n: usize) -> Vec<Probs> {
    let device = crate::backend::device();
    let mut out = Vec::with_capacity(n);
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(256) {
        let p = softmax(model.forward(batch_tensor(norm, chunk, cfg, &device)), 1);
        let v = p.into_data().try_to_vec::<f32>().expect("f32");
        out.extend(v.chunks_exact(NUM_GENRES).map(|c| <Probs>::try_from(c).unwrap()));
    }
    out
}

/// `n / (classes present * n_class)` per class; 1 for classes without training windows
/// (burn requires positive weights; they never occur as targets).
pub fn class_weights(labels: &[usize]) -> Vec<f32> {
    let mut counts = [0usize; NUM_GENRES];
    labels.iter().for_each(|&l| counts[l] += 1);
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts.iter().map(|&c| if c == 0 { 1.0 } else { labels.len() as f32 / (present * c) as f32 }).collect()
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    config: TrainConfig,
    epochs_done: usize,
    best_epoch: usize,
    /// `None` until a validation loss was seen (JSON has no infinity).
    best_loss: Option<f32>,
    history: Vec<EpochStats>,
}

/// Adam, or SGD with momentum 0.9, with L2 weight decay.
pub(crate) fn optimizer_for(kind: OptimizerKind, weight_decay: f32) -> ModuleOptimizer {
    let wd = Some(WeightDecayConfig::new(weight_decay));
    match kind {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(wd).init(),
        OptimizerKind::Sgd => {
            SgdConfig::new().with_weight_decay(wd).with_momentum(Some(MomentumConfig::new().with_momentum(0.9))).init()
        }
    }
}

fn optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    optimizer_for(cfg.optimizer, cfg.weight_decay)
}

/// Trains one member. With `valid`, keeps the epoch of lowest validation loss and stops
/// early; without, trains exactly `cfg.max_epochs`. `checkpoint` (a folder) makes the run
/// resumable: an interrupted run with the same config continues where it stopped.
pub fn train(
    cfg: &TrainConfig,
    train: &Segments,
    valid: Option<&Segments>,
    mean: &[f32],
    inv_std: &[f32],
    checkpoint: Option<&Path>,
    label: &str,
) -> anyhow::Result<Trained> {
    anyhow::ensure!(!train.is_empty(), "no training segments");
    let device = crate::backend::device().autodiff();
    // One seed for parameter init, dropout and shuffling; per-epoch reseeding makes a resumed
    // run identical to an uninterrupted one.
    device.seed(cfg.seed);
    let mut model = cfg.model.init(&device);
    let mut optim = optimizer(cfg);
    let train_norm = normalize(train, mean, inv_std);
    let valid_norm = valid.map(|v| normalize(v, mean, inv_std));
    let loss_fn = CrossEntropyLossConfig::new()
        .with_weights(cfg.class_balanced.then(|| class_weights(&train.labels)))
        .init(&device);

    let mut state =
        CheckpointState { config: cfg.clone(), epochs_done: 0, best_epoch: 0, best_loss: None, history: vec![] };
    let mut best: Option<Cnn> = None;
    if let Some(dir) = checkpoint {
        std::fs::create_dir_all(dir)?;
        let state_file = dir.join("state.json");
        if let Ok(text) = std::fs::read_to_string(&state_file) {
            let saved: CheckpointState = serde_json::from_str(&text).context("checkpoint state")?;
            if saved.config == *cfg {
                model = model.try_load_file(dir.join("last.bpk")).context("loading checkpoint model")?;
                optim = optim.load(dir.join("optim.bpk")).context("loading optimizer state")?;
                if saved.best_epoch > 0 {
                    best = Some(cfg.model.init(&device).try_load_file(dir.join("best.bpk"))?.valid());
                }
                state = saved;
            }
        }
    }

    let n = train.len();
    let batches = n.div_ceil(cfg.batch_size);
    let pb = ProgressBar::new((cfg.max_epochs * batches) as u64);
    pb.set_style(ProgressStyle::with_template("{prefix} {bar:25} ep {msg} [{elapsed}<{eta}]").unwrap());
    pb.set_prefix(label.to_string());
    pb.set_position((state.epochs_done * batches) as u64);
    let mut since_best = state.history.len().saturating_sub(state.best_epoch);
    let patience_left = |since: usize| valid.is_none() || since < cfg.patience;
    while state.epochs_done < cfg.max_epochs && patience_left(since_best) {
        let epoch = state.epochs_done + 1;
        device.seed(cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(cfg.seed ^ (epoch as u64) << 20));
        // Loss and hits accumulate on the device and are read once per epoch: a read per
        // batch would make a GPU wait for every batch.
        let mut loss_sum = Tensor::<1>::zeros([1], &device);
        let mut correct = Tensor::<1, Int>::zeros([1], &device);
        for chunk in order.chunks(cfg.batch_size) {
            let x = batch_tensor(&train_norm, chunk, &cfg.model, &device);
            let y: Vec<i64> = chunk.iter().map(|&i| train.labels[i] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &device);
            let logits = model.forward(x);
            let pred = logits.clone().argmax(1).flatten::<1>(0, 1);
            correct = correct + pred.equal(y.clone()).int().sum();
            let loss = loss_fn.forward(logits, y);
            loss_sum = loss_sum + loss.clone().detach() * chunk.len() as f32;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
            pb.inc(1);
        }
        let mut stats = EpochStats {
            epoch,
            train_loss: loss_sum.into_scalar::<f32>() / n as f32,
            train_accuracy: correct.into_scalar::<i64>() as f32 / n as f32,
            valid_loss: None,
            valid_accuracy: None,
        };
        let eval_model = model.valid();
        if let (Some(v), Some(vn)) = (valid, &valid_norm) {
            let probs = predict(&eval_model, &cfg.model, vn, v.len());
            let e = crate::metrics::evaluate(&probs, &v.labels);
            stats.valid_loss = Some(e.mean_loss);
            stats.valid_accuracy = Some(e.accuracy);
            if state.best_loss.is_none_or(|b| e.mean_loss < b) {
                state.best_loss = Some(e.mean_loss);
                state.best_epoch = epoch;
                best = Some(eval_model.clone());
                since_best = 0;
            } else {
                since_best += 1;
            }
        } else {
            state.best_epoch = epoch;
            best = Some(eval_model.clone());
        }
        pb.set_message(format!(
            "{epoch}/{} loss {:.3} acc {:.2} val {}",
            cfg.max_epochs,
            stats.train_loss,
            stats.train_accuracy,
            stats.valid_accuracy.map(|a| format!("{a:.2}")).unwrap_or("-".into())
        ));
        state.history.push(stats);
        state.epochs_done = epoch;
        if let Some(dir) = checkpoint {
            model.clone().save_file(dir.join("last.bpk"))?;
            optim.save(dir.join("optim.bpk"))?;
            if state.best_epoch == epoch {
                model.clone().save_file(dir.join("best.bpk"))?;
            }
            std::fs::write(dir.join("state.json"), serde_json::to_string_pretty(&state)?)?;
        }
    }
    pb.finish_and_clear();
    let model = best.unwrap_or_else(|| model.valid());
    Ok(Trained { model, history: state.history, best_epoch: state.best_epoch })
}

#[cfg(test)]
mod tests {
    #[test]
    fn class_weights_balance_present_classes() {
        let w = super::class_weights(&[0, 0, 0, 1]);
        assert_eq!(w.len(), genrescope_core::labels::NUM_GENRES);
        // 4 windows, 2 classes present: 4 / (2 * 3) and 4 / (2 * 1); absent classes 1.
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-6 && (w[1] - 2.0).abs() < 1e-6);
        assert!(w[2..].iter().all(|&x| x == 1.0));
        // Weighted counts are equal per present class.
        assert!((3.0 * w[0] - w[1]).abs() < 1e-6);
    }
}
