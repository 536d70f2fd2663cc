//! What every burn model here trains with: the optimizers, class weights for the loss, and the one
//! early-stopping loop (shuffled mini-batches, one validation loss per epoch, the best epoch kept).
//!
//! The loop is generic over the module and its loss, so the heads (`heads::fit`) and a trunk
//! being fine-tuned run the same code. It runs on the device `backend` selected (CPU or CUDA).
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

impl OptimizerKind {
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

/// Adam, or SGD with momentum 0.9, with L2 weight decay.
pub fn optimizer(kind: OptimizerKind, weight_decay: f32) -> ModuleOptimizer {
    let wd = Some(WeightDecayConfig::new(weight_decay));
    match kind {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(wd).init(),
        OptimizerKind::Sgd => {
            SgdConfig::new().with_weight_decay(wd).with_momentum(Some(MomentumConfig::new().with_momentum(0.9))).init()
        }
    }
}

/// Per-example loss weights: within each group (a corpus), every class present weighs the same in
/// total (class-balanced); group `g` weighs `group_weight[g]` times its share of the examples in
/// total (1 everywhere: groups count by their size; `n_g`-proportional weights inverted: every
/// group counts the same). Scaled to mean 1. With one group this is the usual
/// `n / (classes present · n_class)` class balancing.
pub fn sample_weights(labels: &[usize], groups: &[usize], group_weight: &[f32]) -> Vec<f32> {
    assert_eq!(labels.len(), groups.len());
    let mut cell: std::collections::HashMap<(usize, usize), usize> = std::collections::HashMap::new();
    let mut group_n: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (&l, &g) in labels.iter().zip(groups) {
        *cell.entry((g, l)).or_insert(0) += 1;
        *group_n.entry(g).or_insert(0) += 1;
    }
    let classes_in = |g: usize| cell.keys().filter(|k| k.0 == g).count();
    let raw: Vec<f64> = labels
        .iter()
        .zip(groups)
        .map(|(&l, &g)| {
            let n_g = group_n[&g] as f64;
            group_weight.get(g).copied().unwrap_or(1.0) as f64 * n_g / (classes_in(g) as f64 * cell[&(g, l)] as f64)
        })
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.iter().map(|w| (w / mean) as f32).collect()
}

/// How long and in what steps the loop trains.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub lr: f64,
    pub batch_size: usize,
    /// Epochs to train; with a validation loss, the most it may train.
    pub max_epochs: usize,
    /// With a validation loss: stop after this many epochs without a lower one.
    pub patience: usize,
}

/// Losses of one epoch: the mean training loss over its batches and the validation loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    pub train: f32,
    pub valid: Option<f32>,
}

pub struct Trained<M> {
    /// Inference copy (`Module::valid`) of the kept epoch: the lowest validation loss, else the last.
    pub model: M,
    /// 1-based epoch of the kept weights.
    pub epochs: usize,
    pub history: Vec<EpochLoss>,
}

/// Trains `model` on `examples` examples for up to `schedule.max_epochs` epochs. Each epoch
/// shuffles the example indices with `rng` and calls `batch_loss(model, indices)` per mini-batch
/// for the (autodiff) loss to minimize. With `valid_loss`, each epoch ends with it on an inference
/// copy, the lowest one is kept and training stops after `patience` epochs without a lower one;
/// without, the last epoch is kept. The loss is read back from the device once per epoch, not per
/// batch, so a GPU is not made to wait for every batch. Deterministic for a seeded `rng` and
/// device (burn's RNG is per process: one training at a time).
#[allow(clippy::too_many_arguments)] // the loop's inputs, each used once; a struct would only rename them
pub fn train<M: Module>(
    mut model: M,
    mut optim: ModuleOptimizer,
    schedule: &Schedule,
    examples: usize,
    rng: &mut StdRng,
    device: &Device,
    mut batch_loss: impl FnMut(&M, &[usize]) -> Tensor<1>,
    mut valid_loss: Option<&mut dyn FnMut(&M) -> f32>,
) -> Trained<M> {
    assert!(examples > 0, "training needs examples");
    let mut best: Option<(f32, usize, M)> = None;
    let mut history = Vec::new();
    let mut order: Vec<usize> = (0..examples).collect();
    for epoch in 1..=schedule.max_epochs.max(1) {
        order.shuffle(rng);
        let mut loss_sum = Tensor::<1>::zeros([1], device);
        for chunk in order.chunks(schedule.batch_size.max(1)) {
            let loss = batch_loss(&model, chunk);
            loss_sum = loss_sum + loss.clone().detach() * chunk.len() as f32;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(schedule.lr, model, grads);
        }
        let train = loss_sum.into_scalar::<f32>() / examples as f32;
        let current = model.valid();
        let valid = valid_loss.as_mut().map(|f| f(&current));
        history.push(EpochLoss { train, valid });
        match valid {
            Some(l) => {
                if best.as_ref().is_none_or(|b| l < b.0) {
                    best = Some((l, epoch, current));
                } else if epoch - best.as_ref().map_or(0, |b| b.1) >= schedule.patience {
                    break;
                }
            }
            None => best = Some((train, epoch, current)),
        }
    }
    let (_, epochs, model) = best.expect("at least one epoch");
    Trained { model, epochs, history }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use rand::SeedableRng;

    #[test]
    fn sample_weights_balance_classes_within_groups_and_weigh_groups() {
        // One group: the usual class balancing, mean 1.
        let w = sample_weights(&[0, 0, 0, 1], &[0; 4], &[1.0]);
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-6 && (w[3] - 2.0).abs() < 1e-6, "{w:?}");
        // Two groups of 4 and 2 examples: each class of a group weighs the same in total ...
        let (y, g) = ([0, 0, 0, 1, 0, 2], [0, 0, 0, 0, 1, 1]);
        let w = sample_weights(&y, &g, &[1.0, 1.0]);
        let total =
            |grp: usize, cls: usize| -> f32 { (0..6).filter(|&i| g[i] == grp && y[i] == cls).map(|i| w[i]).sum() };
        assert!((total(0, 0) - total(0, 1)).abs() < 1e-5 && (total(1, 0) - total(1, 2)).abs() < 1e-5);
        // ... groups count by size with weight 1 each (4 : 2) ...
        assert!(((total(0, 0) + total(0, 1)) / (total(1, 0) + total(1, 2)) - 2.0).abs() < 1e-5);
        // ... and a group weight of 2 on the small group evens them out.
        let w2 = sample_weights(&y, &g, &[1.0, 2.0]);
        let t2 = |grp: usize| -> f32 { (0..6).filter(|&i| g[i] == grp).map(|i| w2[i]).sum() };
        assert!((t2(0) - t2(1)).abs() < 1e-5);
        assert!((w2.iter().sum::<f32>() / 6.0 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch_and_stops_after_patience() {
        crate::backend::select(crate::backend::Backend::Cpu).unwrap();
        let device = crate::backend::device().autodiff();
        device.seed(1);
        let xs: Vec<f32> = (0..32).map(|i| i as f32 / 32.0).collect();
        let loss = |m: &Linear, idx: &[usize]| {
            let x: Vec<f32> = idx.iter().map(|&i| xs[i]).collect();
            let y: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
            let x = Tensor::<2>::from_data(TensorData::new(x, [idx.len(), 1]), &device);
            let y = Tensor::<2>::from_data(TensorData::new(y, [idx.len(), 1]), &device);
            (m.forward(x) - y).powf_scalar(2.0).mean()
        };
        let schedule = Schedule { lr: 0.1, batch_size: 8, max_epochs: 20, patience: 3 };
        let scripted = [5.0, 4.0, 2.0, 3.0, 2.0, 9.0];
        let mut epoch = 0;
        let mut valid = |_: &Linear| {
            epoch += 1;
            scripted[epoch - 1]
        };
        let model = LinearConfig::new(1, 1).init(&device);
        let mut rng = StdRng::seed_from_u64(2);
        let t = train(
            model.clone(),
            optimizer(OptimizerKind::Sgd, 0.0),
            &schedule,
            xs.len(),
            &mut rng,
            &device,
            loss,
            Some(&mut valid),
        );
        // Best 2.0 at epoch 3; the tie at epoch 5 is not better, so epoch 6 is the third without one.
        assert_eq!(t.epochs, 3);
        assert_eq!(t.history.iter().map(|h| h.valid.unwrap()).collect::<Vec<_>>(), scripted);

        let mut rng = StdRng::seed_from_u64(2);
        let t = train(model, optimizer(OptimizerKind::Sgd, 0.0), &schedule, xs.len(), &mut rng, &device, loss, None);
        assert_eq!((t.epochs, t.history.len()), (20, 20));
        assert!(t.history[19].train < 0.1 * t.history[0].train, "{:?}", t.history);
    }
}
