//! Choosing the heads: a grid of head configurations scored by artist-disjoint 2-fold
//! cross-validation over every corpus at once (fold A of every corpus against fold B; no artist is
//! on both sides), both directions, then an ensemble picked greedily from the best.
//!
//! Scores are per corpus: a candidate's score is the mean over the corpora (those with in-set
//! tracks in the held-out fold) of the track-level balanced accuracy over the ten genres, averaged
//! over both directions — the mean, so a model cannot win one corpus by losing another silently
//! while small corpora still count as much as big ones. Out-of-set tracks are not part of this
//! score; the out-of-set threshold is chosen afterwards (`calibrate`).
//!
//! Every fit uses the same recipe: early stopping on 20 % of its training tracks (stratified),
//! then a refit on all of them for that many epochs. The held-out fold is only ever predicted.
use super::embed::Embeddings;
use super::fit::{fit, predict, HeadConfig};
use super::head::HeadWeights;
use crate::data::{stratified, NUM_CLASSES};
use crate::metrics::{evaluate_segments_and_tracks, Evaluation, Probs};
use crate::training::{sample_weights, OptimizerKind};
use genrescope_core::model::{Combiner, VoteRule};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadGrid {
    /// Two candidates, few epochs: tests.
    Tiny,
    /// The default: inputs × width × optimizer × weight decay × corpus weighting (48 candidates).
    Small,
    /// Small plus the pooled outputs as inputs and dropout.
    Full,
}

/// How much each corpus weighs in a head's loss (within a corpus, every class present weighs the
/// same).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorpusWeighting {
    /// By its number of training windows.
    #[default]
    BySize,
    /// Every corpus the same in total.
    Equal,
}

/// Which corpus each clip belongs to (`Embeddings::track_clip` indexes it) and the corpora's names.
#[derive(Clone, Copy, Debug)]
pub struct Groups<'a> {
    pub clip_corpus: &'a [usize],
    pub names: &'a [String],
}

impl Groups<'_> {
    /// Corpus of each window of `e`.
    pub fn of_windows(&self, e: &Embeddings) -> Vec<usize> {
        e.track.iter().map(|&t| self.clip_corpus[e.track_clip[t]]).collect()
    }
}

/// Candidate configurations, all sharing `base` for what is not searched.
pub fn candidates(size: HeadGrid, base: &HeadConfig) -> Vec<HeadConfig> {
    // The pooled front-end outputs scored below the taggram and penultimate in every run (issue
    // #21's first multi-corpus run: the 16 candidates reading them ranked 24th to 40th of 40), so
    // only the full grid still tries them.
    let inputs: Vec<Vec<&str>> = match size {
        HeadGrid::Tiny => vec![vec!["taggram"]],
        HeadGrid::Small => vec![vec!["taggram"], vec!["penultimate"], vec!["taggram", "penultimate"]],
        HeadGrid::Full => vec![
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
    // The heads are data-starved: strong weight decay is a grid dimension of its own.
    let regs: Vec<(f64, f32)> = match size {
        HeadGrid::Full => vec![(0.2, 1e-4), (0.5, 1e-4), (0.2, 1e-2), (0.5, 1e-2)],
        HeadGrid::Small => vec![(base.dropout, base.weight_decay), (base.dropout, 1e-2)],
        HeadGrid::Tiny => vec![(base.dropout, base.weight_decay)],
    };
    let weightings: &[CorpusWeighting] = match size {
        HeadGrid::Tiny => &[CorpusWeighting::BySize],
        _ => &[CorpusWeighting::BySize, CorpusWeighting::Equal],
    };
    let mut v = Vec::new();
    for inp in &inputs {
        for &hidden in widths {
            for &(optimizer, lr) in &optims {
                for &(dropout, weight_decay) in &regs {
                    for &corpus_weighting in weightings {
                        v.push(HeadConfig {
                            inputs: inp.iter().map(|s| s.to_string()).collect(),
                            hidden,
                            optimizer,
                            lr,
                            dropout,
                            weight_decay,
                            corpus_weighting,
                            ..base.clone()
                        });
                    }
                }
            }
        }
    }
    v
}

/// One corpus's held-out tracks under one direction.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusScore {
    pub corpus: String,
    /// Genre classification of its in-set tracks (track = mean over its segments).
    pub track: Evaluation,
    /// Its out-of-set tracks (their mean out-of-set probability is what the threshold sees).
    pub out_of_set_tracks: usize,
}

/// Scores of one direction (train on one fold, predict the other).
#[derive(Clone, Debug, Serialize)]
pub struct Direction {
    /// "A→B" or "B→A".
    pub name: String,
    pub per_corpus: Vec<CorpusScore>,
    /// Mean balanced track accuracy over the corpora with in-set tracks.
    pub score: f32,
    pub epochs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CvResult {
    pub config: HeadConfig,
    pub directions: Vec<Direction>,
    /// Mean over both directions of [`Direction::score`]: the selection score.
    pub score: f32,
    /// Mean epochs the early stopping kept (the final fit trains this long).
    pub epochs: usize,
    /// Held-out segment probabilities per direction (for ensemble selection and calibration).
    #[serde(skip)]
    pub held_out: Vec<Vec<Probs>>,
}

/// Held-out segments of one direction.
pub struct Fold<'a> {
    pub name: &'static str,
    /// Training windows (possibly overlapping).
    pub train: &'a Embeddings,
    /// Held-out non-overlapping segments.
    pub test: &'a Embeddings,
}

/// Stratified track split for early stopping: `(fit, stop)` track indices.
pub fn inner_split(track_labels: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    stratified(track_labels, fraction, seed ^ 0x696e_6e65)
}

/// Loss weights of `e`'s windows under `cfg`'s corpus weighting (class-balanced within a corpus).
pub fn loss_weights(cfg: &HeadConfig, e: &Embeddings, groups: Groups) -> Vec<f32> {
    let g = groups.of_windows(e);
    let n_groups = groups.names.len();
    let group_weight: Vec<f32> = match cfg.corpus_weighting {
        CorpusWeighting::BySize => vec![1.0; n_groups],
        CorpusWeighting::Equal => (0..n_groups)
            .map(|c| {
                let n = g.iter().filter(|&&x| x == c).count();
                if n == 0 {
                    0.0
                } else {
                    1.0 / n as f32
                }
            })
            .collect(),
    };
    sample_weights(&e.labels, &g, &group_weight)
}

/// The recipe: early stopping on 20 % of `train`'s tracks, then a refit on all of it.
pub fn fit_head(cfg: &HeadConfig, train: &Embeddings, groups: Groups) -> anyhow::Result<(HeadWeights, usize)> {
    let dims = dims_of(train, &cfg.inputs)?;
    let (fit_t, stop_t) = inner_split(&train.track_labels, 0.2, cfg.seed);
    let (a, b) = (train.select_tracks(&fit_t), train.select_tracks(&stop_t));
    let (xa, _) = a.features(&cfg.inputs)?;
    let (xb, _) = b.features(&cfg.inputs)?;
    let (wa, wb) = (loss_weights(cfg, &a, groups), loss_weights(cfg, &b, groups));
    let stopped = fit(cfg, &dims, &xa, &a.labels, &wa, Some((&xb, &b.labels, &wb)), None)?;
    let epochs = stopped.epochs;
    let (x, _) = train.features(&cfg.inputs)?;
    let w = loss_weights(cfg, train, groups);
    let full = fit(cfg, &dims, &x, &train.labels, &w, None, Some(epochs))?;
    Ok((full.weights, epochs))
}

/// `(name, dim)` of the trunk outputs a config reads.
pub fn dims_of(e: &Embeddings, inputs: &[String]) -> anyhow::Result<Vec<(String, usize)>> {
    inputs
        .iter()
        .map(|n| e.outputs.iter().find(|o| o.0 == *n).cloned().ok_or_else(|| anyhow::anyhow!("no trunk output {n:?}")))
        .collect()
}

/// Segment and track evaluation of segment probabilities (all corpora together).
pub fn score(probs: &[Probs], e: &Embeddings) -> (Evaluation, Evaluation) {
    evaluate_segments_and_tracks(probs, &e.labels, &e.track, &e.track_labels)
}

/// Per-corpus track scores of segment probabilities on `e`, and their mean balanced accuracy
/// (over the corpora with in-set tracks).
pub fn score_by_corpus(probs: &[Probs], e: &Embeddings, groups: Groups) -> (Vec<CorpusScore>, f32) {
    let tp = crate::metrics::track_probs(probs, &e.track, e.track_labels.len());
    let mut out = Vec::new();
    for (c, name) in groups.names.iter().enumerate() {
        let tracks: Vec<usize> =
            (0..e.track_labels.len()).filter(|&t| groups.clip_corpus[e.track_clip[t]] == c).collect();
        if tracks.is_empty() {
            continue;
        }
        let p: Vec<Probs> = tracks.iter().map(|&t| tp[t]).collect();
        let y: Vec<usize> = tracks.iter().map(|&t| e.track_labels[t]).collect();
        let track = crate::metrics::evaluate(&p, &y);
        let out_of_set_tracks = y.iter().filter(|&&l| l == crate::data::OUT_OF_SET).count();
        out.push(CorpusScore { corpus: name.clone(), track, out_of_set_tracks });
    }
    let scored: Vec<f32> = out.iter().filter(|c| c.track.count > 0).map(|c| c.track.balanced_accuracy).collect();
    let mean = scored.iter().sum::<f32>() / scored.len().max(1) as f32;
    (out, mean)
}

/// The log-linear vote (core's [`Combiner`], exactly what the engine runs) of per-member
/// probabilities with `weights[member][class]` and an optional temperature.
pub fn pool(members: &[&[Probs]], weights: &[Vec<f32>], temperature: Option<f32>) -> Vec<Probs> {
    let comb = Combiner::from_parts(Some(VoteRule::LogLinear), Some(weights), temperature, members.len(), NUM_CLASSES);
    let n = members.first().map_or(0, |m| m.len());
    let mut buf: Vec<Vec<f32>> = vec![vec![0.0; NUM_CLASSES]; members.len()];
    (0..n)
        .map(|i| {
            for (b, m) in buf.iter_mut().zip(members) {
                b.copy_from_slice(&m[i]);
            }
            let mut out = [0.0f32; NUM_CLASSES];
            comb.combine(&buf, &mut out);
            out
        })
        .collect()
}

/// Equal vote weights for `n` heads.
pub fn equal_weights(n: usize) -> Vec<Vec<f32>> {
    vec![vec![1.0; NUM_CLASSES]; n]
}

/// The vote of `members` (indices into `results`) on direction `d`'s held-out segments.
pub fn ensemble_held_out(results: &[CvResult], members: &[usize], d: usize) -> Vec<Probs> {
    let m: Vec<&[Probs]> = members.iter().map(|&i| results[i].held_out[d].as_slice()).collect();
    pool(&m, &equal_weights(m.len()), None)
}

/// Cross-validates every candidate over `folds`.
pub fn cross_validate(cands: &[HeadConfig], folds: &[Fold], groups: Groups) -> anyhow::Result<Vec<CvResult>> {
    let mut out = Vec::new();
    for (ci, cfg) in cands.iter().enumerate() {
        let mut directions = Vec::new();
        let mut held_out = Vec::new();
        for f in folds {
            let (w, epochs) = fit_head(cfg, f.train, groups)?;
            let (x, _) = f.test.features(&cfg.inputs)?;
            let p = predict(&w, &x);
            let (per_corpus, score) = score_by_corpus(&p, f.test, groups);
            held_out.push(p);
            directions.push(Direction { name: f.name.into(), per_corpus, score, epochs });
        }
        let n = directions.len() as f32;
        let score = directions.iter().map(|d| d.score).sum::<f32>() / n;
        let epochs = (directions.iter().map(|d| d.epochs).sum::<usize>() as f32 / n).round().max(1.0) as usize;
        eprintln!(
            "head {}/{} {}: {} -> score {score:.3}",
            ci + 1,
            cands.len(),
            cfg.label(),
            directions
                .iter()
                .map(|d| format!(
                    "{} [{}]",
                    d.name,
                    d.per_corpus
                        .iter()
                        .filter(|c| c.track.count > 0)
                        .map(|c| format!("{} {:.3}/{:.3}", c.corpus, c.track.accuracy, c.track.balanced_accuracy))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        out.push(CvResult { config: cfg.clone(), directions, score, epochs, held_out });
    }
    Ok(out)
}

/// Mean over the directions of the per-corpus score of held-out probabilities `per_direction`.
pub fn vote_score(per_direction: &[Vec<Probs>], folds: &[Fold], groups: Groups) -> f32 {
    let total: f32 = folds.iter().zip(per_direction).map(|(f, p)| score_by_corpus(p, f.test, groups).1).sum();
    total / folds.len().max(1) as f32
}

/// The ensemble: candidates added greedily (best CV score first, then whichever raises the vote's
/// CV score most) up to `max_members`; the size with the best score wins (the smaller on ties).
/// Returns indices into `results` and the score of each size tried.
pub fn select_ensemble(
    results: &[CvResult],
    folds: &[Fold],
    groups: Groups,
    max_members: usize,
) -> (Vec<usize>, Vec<f32>) {
    let score_of = |members: &[usize]| -> f32 {
        let per_dir: Vec<Vec<Probs>> = (0..folds.len()).map(|d| ensemble_held_out(results, members, d)).collect();
        vote_score(&per_dir, folds, groups)
    };
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| results[b].score.total_cmp(&results[a].score).then(a.cmp(&b)));
    let mut chosen = vec![order[0]];
    let mut curve = vec![score_of(&chosen)];
    let (mut best, mut best_len) = (curve[0], 1);
    while chosen.len() < max_members.min(results.len()) {
        let next = order
            .iter()
            .filter(|c| !chosen.contains(c))
            .map(|&c| {
                let mut t = chosen.clone();
                t.push(c);
                (c, score_of(&t))
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
