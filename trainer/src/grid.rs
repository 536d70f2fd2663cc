//! Hyper-parameter grid with k-fold cross-validation by track on the training tracks.
//!
//! Each candidate trains on k-1 folds with early stopping on the held-out fold; its score is
//! the mean held-out segment accuracy at the kept epochs. The validation split is not touched.
use crate::data::{track_folds, Segments};
use crate::training::{train, OptimizerKind, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridSize {
    /// A handful of epochs and candidates: tests and smoke runs.
    Tiny,
    /// Default: minutes on 2 CPU cores.
    Small,
    /// The seed's full grid (optimizer x lr x dropout x width x depth).
    Full,
}

/// Candidate configs for a grid size, all sharing `base` for everything not searched.
pub fn candidates(size: GridSize, base: &TrainConfig) -> Vec<TrainConfig> {
    let mk = |opt, lr, dropout, width, depth| {
        let mut c = base.clone();
        c.optimizer = opt;
        c.lr = lr;
        c.model.dropout = dropout;
        c.model.width = width;
        c.model.depth = depth;
        c
    };
    use OptimizerKind::*;
    match size {
        GridSize::Tiny => vec![mk(Adam, 1e-3, 0.3, 8, 2), mk(Adam, 1e-3, 0.3, 8, 3)],
        GridSize::Small => vec![
            mk(Adam, 1e-3, 0.3, 32, 3),
            mk(Adam, 3e-4, 0.3, 32, 3),
            mk(Adam, 1e-3, 0.5, 32, 2),
            mk(Adam, 1e-3, 0.3, 16, 4),
            mk(Sgd, 1e-2, 0.3, 32, 3),
        ],
        GridSize::Full => {
            let mut v = Vec::new();
            for (opt, lrs) in [(Adam, [1e-3, 3e-4]), (Sgd, [1e-2, 3e-3])] {
                for lr in lrs {
                    for dropout in [0.3, 0.5] {
                        for width in [16, 32] {
                            for depth in [2, 3, 4] {
                                v.push(mk(opt, lr, dropout, width, depth));
                            }
                        }
                    }
                }
            }
            v
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CvResult {
    pub config: TrainConfig,
    /// Held-out segment accuracy per fold.
    pub fold_accuracy: Vec<f32>,
    pub fold_loss: Vec<f32>,
    /// Epoch kept by early stopping per fold.
    pub fold_best_epoch: Vec<usize>,
    /// Per-epoch train/held-out curves of each fold.
    pub fold_history: Vec<Vec<crate::training::EpochStats>>,
    pub mean_accuracy: f32,
    pub mean_loss: f32,
}

impl CvResult {
    /// Epochs to retrain on all training tracks: mean of the folds' early-stopping epochs.
    pub fn retrain_epochs(&self) -> usize {
        let n = self.fold_best_epoch.len().max(1);
        (self.fold_best_epoch.iter().sum::<usize>() as f32 / n as f32).round().max(1.0) as usize
    }
}

/// Runs k-fold CV for every candidate. `work` holds resumable checkpoints per candidate/fold.
///
/// `train_set` holds the non-overlapping segments of the training tracks: folds, normalization
/// and the held-out scores use them. `train_windows` (same tracks, same order; possibly
/// overlapping windows) is what each fold trains on; `None` trains on `train_set` itself.
pub fn cross_validate(
    cands: &[TrainConfig],
    train_set: &Segments,
    train_windows: Option<&Segments>,
    k: usize,
    dim: usize,
    work: Option<&Path>,
) -> anyhow::Result<Vec<CvResult>> {
    let windows = train_windows.unwrap_or(train_set);
    anyhow::ensure!(
        windows.track_ids == train_set.track_ids,
        "training windows and segments must come from the same tracks in the same order"
    );
    let folds = track_folds(&train_set.track_labels, k, cands.first().map(|c| c.seed).unwrap_or(0));
    let mut results = Vec::new();
    for (ci, cfg) in cands.iter().enumerate() {
        let mut r = CvResult {
            config: cfg.clone(),
            fold_accuracy: vec![],
            fold_loss: vec![],
            fold_best_epoch: vec![],
            fold_history: vec![],
            mean_accuracy: 0.0,
            mean_loss: 0.0,
        };
        for (fi, held) in folds.iter().enumerate() {
            let rest: Vec<usize> = (0..train_set.num_tracks()).filter(|t| !held.contains(t)).collect();
            let (tr, va) = (windows.select_tracks(&rest), train_set.select_tracks(held));
            // Normalization from the fold's own training part (its non-overlapping segments, as
            // for the members): nothing leaks from held-out tracks.
            let (mean, inv_std) = train_set.select_tracks(&rest).coefficient_stats(dim);
            let ckpt = work.map(|w| w.join(format!("cv/cand{ci}_fold{fi}")));
            let label = format!("cv {}/{} fold {}/{}", ci + 1, cands.len(), fi + 1, k);
            let t = train(cfg, &tr, Some(&va), &mean, &inv_std, ckpt.as_deref(), &label)?;
            let best = &t.history[t.best_epoch - 1];
            r.fold_accuracy.push(best.valid_accuracy.unwrap_or(0.0));
            r.fold_loss.push(best.valid_loss.unwrap_or(f32::INFINITY));
            r.fold_best_epoch.push(t.best_epoch);
            r.fold_history.push(t.history);
        }
        r.mean_accuracy = r.fold_accuracy.iter().sum::<f32>() / k as f32;
        r.mean_loss = r.fold_loss.iter().sum::<f32>() / k as f32;
        eprintln!(
            "candidate {}: {:?} lr {} dropout {} width {} depth {} -> CV acc {:.3} loss {:.3} epochs {:?}",
            ci + 1,
            cfg.optimizer,
            cfg.lr,
            cfg.model.dropout,
            cfg.model.width,
            cfg.model.depth,
            r.mean_accuracy,
            r.mean_loss,
            r.fold_best_epoch
        );
        results.push(r);
    }
    Ok(results)
}

/// Best `n` candidates by CV accuracy (ties: lower CV loss).
pub fn select(results: &[CvResult], n: usize) -> Vec<CvResult> {
    let mut v = results.to_vec();
    v.sort_by(|a, b| b.mean_accuracy.total_cmp(&a.mean_accuracy).then(a.mean_loss.total_cmp(&b.mean_loss)));
    v.truncate(n);
    v
}
