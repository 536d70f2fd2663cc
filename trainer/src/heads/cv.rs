//! Choosing the heads: a grid of head configurations scored by artist-disjoint 2-fold
//! cross-validation (fold A = the split's train tracks, fold B = its valid tracks; they share no
//! artist), both directions, then a soft-voting ensemble picked greedily from the best.
//!
//! Every fit uses the same recipe: early stopping on 20 % of its training tracks (stratified),
//! then a refit on all of them for that many epochs. The held-out fold is only ever predicted.
use super::embed::Embeddings;
use super::fit::{fit, predict, HeadConfig};
use super::head::HeadWeights;
use crate::data::stratified;
use crate::metrics::{evaluate_segments_and_tracks, Evaluation, Probs};
use crate::training::OptimizerKind;
use genrescope_core::model::soft_vote;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadGrid {
    /// Two candidates, few epochs: tests.
    Tiny,
    /// The default: inputs × width × optimizer, minutes on 2 cores.
    Small,
    /// Small plus dropout and weight decay.
    Full,
}

/// Candidate configurations, all sharing `base` for what is not searched.
pub fn candidates(size: HeadGrid, base: &HeadConfig) -> Vec<HeadConfig> {
    let inputs: Vec<Vec<&str>> = match size {
        HeadGrid::Tiny => vec![vec!["taggram"]],
        _ => vec![
            vec!["taggram"],
            vec!["penultimate"],
            vec!["mean_pool", "max_pool"],
            vec!["taggram", "penultimate"],
            vec!["penultimate", "mean_pool", "max_pool"],
        ],
    };
    let widths: &[usize] = match size {
        HeadGrid::Tiny => &[0, 32],
        _ => &[0, 128],
    };
    let optims: Vec<(OptimizerKind, f64)> = match size {
        HeadGrid::Tiny => vec![(OptimizerKind::Adam, 1e-3)],
        _ => vec![(OptimizerKind::Adam, 1e-3), (OptimizerKind::Sgd, 1e-2)],
    };
    let regs: Vec<(f64, f32)> = match size {
        HeadGrid::Full => vec![(0.2, 1e-4), (0.5, 1e-4), (0.2, 1e-2), (0.5, 1e-2)],
        _ => vec![(base.dropout, base.weight_decay)],
    };
    let mut v = Vec::new();
    for inp in &inputs {
        for &hidden in widths {
            for &(optimizer, lr) in &optims {
                for &(dropout, weight_decay) in &regs {
                    v.push(HeadConfig {
                        inputs: inp.iter().map(|s| s.to_string()).collect(),
                        hidden,
                        optimizer,
                        lr,
                        dropout,
                        weight_decay,
                        ..base.clone()
                    });
                }
            }
        }
    }
    v
}

/// Scores of one direction (train on one fold, predict the other).
#[derive(Clone, Debug, Serialize)]
pub struct Direction {
    /// "train→valid" or "valid→train".
    pub name: String,
    pub segment: Evaluation,
    pub track: Evaluation,
    pub epochs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CvResult {
    pub config: HeadConfig,
    pub directions: Vec<Direction>,
    /// Mean over both directions of the track-level balanced accuracy: the selection score.
    pub score: f32,
    /// Mean epochs the early stopping kept (the final fit trains this long).
    pub epochs: usize,
    /// Held-out segment probabilities per direction (for ensemble selection).
    #[serde(skip)]
    pub held_out: Vec<Vec<Probs>>,
}

/// Held-out segments of one direction.
pub struct Fold<'a> {
    pub name: &'static str,
    /// Training windows (possibly overlapping, possibly gain-augmented).
    pub train: &'a Embeddings,
    /// Held-out non-overlapping segments.
    pub test: &'a Embeddings,
}

/// Stratified track split for early stopping: `(fit, stop)` track indices.
pub fn inner_split(track_labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    stratified(track_labels, fraction, seed ^ 0x696e_6e65)
}

/// The recipe: early stopping on 20 % of `train`'s tracks, then a refit on all of it.
pub fn fit_head(cfg: &HeadConfig, train: &Embeddings) -> anyhow::Result<(HeadWeights, usize)> {
    let dims = dims_of(train, &cfg.inputs)?;
    let (fit_t, stop_t) = inner_split(&train.track_labels, 0.2, cfg.seed);
    let (a, b) = (train.select_tracks(&fit_t), train.select_tracks(&stop_t));
    let (xa, _) = a.features(&cfg.inputs)?;
    let (xb, _) = b.features(&cfg.inputs)?;
    let stopped = fit(cfg, &dims, &xa, &a.labels, Some((&xb, &b.labels)), None)?;
    let epochs = stopped.epochs;
    let (x, _) = train.features(&cfg.inputs)?;
    let full = fit(cfg, &dims, &x, &train.labels, None, Some(epochs))?;
    Ok((full.weights, epochs))
}

/// `(name, dim)` of the trunk outputs a config reads.
pub fn dims_of(e: &Embeddings, inputs: &[String]) -> anyhow::Result<Vec<(String, usize)>> {
    inputs
        .iter()
        .map(|n| e.outputs.iter().find(|o| o.0 == *n).cloned().ok_or_else(|| anyhow::anyhow!("no trunk output {n:?}")))
        .collect()
}

/// Segment and track evaluation of segment probabilities.
pub fn score(probs: &[Probs], e: &Embeddings) -> (Evaluation, Evaluation) {
    evaluate_segments_and_tracks(probs, &e.labels, &e.track, &e.track_labels)
}

/// The soft vote of `members` (indices into `results`) on direction `d`'s held-out segments.
pub fn ensemble_held_out(results: &[CvResult], members: &[usize], d: usize) -> Vec<Probs> {
    let n = results[members[0]].held_out[d].len();
    (0..n).map(|i| soft_vote(members.iter().map(|&m| &results[m].held_out[d][i])).expect("members")).collect()
}

/// Cross-validates every candidate over `folds`.
pub fn cross_validate(cands: &[HeadConfig], folds: &[Fold]) -> anyhow::Result<Vec<CvResult>> {
    let mut out = Vec::new();
    for (ci, cfg) in cands.iter().enumerate() {
        let mut directions = Vec::new();
        let mut held_out = Vec::new();
        for f in folds {
            let (w, epochs) = fit_head(cfg, f.train)?;
            let (x, _) = f.test.features(&cfg.inputs)?;
            let p = predict(&w, &x);
            let (segment, track) = score(&p, f.test);
            held_out.push(p);
            directions.push(Direction { name: f.name.into(), segment, track, epochs });
        }
        let n = directions.len() as f32;
        let score = directions.iter().map(|d| d.track.balanced_accuracy).sum::<f32>() / n;
        let epochs = (directions.iter().map(|d| d.epochs).sum::<usize>() as f32 / n).round().max(1.0) as usize;
        eprintln!(
            "head {}/{} {}: {} -> score {score:.3}",
            ci + 1,
            cands.len(),
            cfg.label(),
            directions
                .iter()
                .map(|d| format!("{} track {:.3} (bal {:.3})", d.name, d.track.accuracy, d.track.balanced_accuracy))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push(CvResult { config: cfg.clone(), directions, score, epochs, held_out });
    }
    Ok(out)
}

/// The ensemble: candidates added greedily (best CV score first, then whichever raises the
/// soft vote's CV score most) up to `max_members`; the size with the best score wins (the smaller
/// on ties). Returns indices into `results` and the score of each size tried.
pub fn select_ensemble(results: &[CvResult], folds: &[Fold], max_members: usize) -> (Vec<usize>, Vec<f32>) {
    let vote_score = |members: &[usize]| -> f32 {
        let mut total = 0.0;
        for (d, f) in folds.iter().enumerate() {
            total += score(&ensemble_held_out(results, members, d), f.test).1.balanced_accuracy;
        }
        total / folds.len() as f32
    };
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| results[b].score.total_cmp(&results[a].score).then(a.cmp(&b)));
    let mut chosen = vec![order[0]];
    let mut curve = vec![vote_score(&chosen)];
    let (mut best, mut best_len) = (curve[0], 1);
    while chosen.len() < max_members.min(results.len()) {
        let next = order
            .iter()
            .filter(|c| !chosen.contains(c))
            .map(|&c| {
                let mut t = chosen.clone();
                t.push(c);
                (c, vote_score(&t))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((c, s)) = next else { break };
        chosen.push(c);
        curve.push(s);
        if s > best {
            best = s;
            best_len = chosen.len();
        }
    }
    chosen.truncate(best_len);
    (chosen, curve)
}
