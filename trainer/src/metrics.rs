//! Classification metrics at segment and track level: accuracy, balanced accuracy (mean recall
//! over the genres present), per-genre precision/recall/F1 and the confusion matrix.
use crate::data::{NUM_CLASSES, OUT_OF_SET};
use genrescope_core::labels::{GENRES, NUM_GENRES};

/// Class probabilities of a window or track: the genres, then out-of-set.
pub type Probs = [f32; NUM_CLASSES];

/// Mean of probability vectors (f64 accumulation); `None` for none.
pub fn vote<'a>(probs: impl IntoIterator<Item = &'a Probs>) -> Option<Probs> {
    let mut sum = [0.0f64; NUM_CLASSES];
    let mut n = 0usize;
    for p in probs {
        sum.iter_mut().zip(p).for_each(|(s, &v)| *s += v as f64);
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| (s / n as f64) as f32))
}

/// The most probable genre (the out-of-set class is not a genre: see the out-of-set threshold).
pub fn genre_of(p: &Probs) -> usize {
    argmax(&p[..NUM_GENRES])
}
use serde::Serialize;

pub fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

/// Track probabilities = soft vote over its segments.
pub fn track_probs(seg_probs: &[Probs], seg_track: &[usize], n_tracks: usize) -> Vec<Probs> {
    (0..n_tracks)
        .map(|t| {
            let segs = seg_probs.iter().zip(seg_track).filter(|(_, &st)| st == t).map(|(p, _)| p);
            vote(segs).unwrap_or([0.0; NUM_CLASSES])
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassScores {
    pub genre: String,
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub support: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub count: usize,
    pub correct: usize,
    pub accuracy: f32,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub per_class: Vec<ClassScores>,
    pub mean_loss: f32,
    /// Mean recall over the classes present (`support > 0`): what accuracy would be if every
    /// present genre had as many examples as every other.
    pub balanced_accuracy: f32,
}

/// Genre classification of the in-set items (out-of-set labels are left out; the predicted genre
/// is the most probable of the ten, see [`genre_of`]).
pub fn evaluate(probs: &[Probs], labels: &[usize]) -> Evaluation {
    let mut confusion = vec![vec![0usize; NUM_GENRES]; NUM_GENRES];
    let mut loss = 0f64;
    for (p, &y) in probs.iter().zip(labels).filter(|(_, &y)| y != OUT_OF_SET) {
        confusion[y][genre_of(p)] += 1;
        loss -= (p[y].max(1e-7) as f64).ln();
    }
    from_confusion(confusion, loss)
}

/// The engine's verdicts on in-set items: a genre, or [`OUT_OF_SET`] ("other"), which counts as
/// a miss; the confusion matrix gets an 11th column, `other`. Out-of-set items are left out.
pub fn evaluate_verdicts(verdicts: &[usize], labels: &[usize]) -> Evaluation {
    let mut confusion = vec![vec![0usize; NUM_CLASSES]; NUM_GENRES];
    for (&v, &y) in verdicts.iter().zip(labels).filter(|(_, &y)| y != OUT_OF_SET) {
        confusion[y][v] += 1;
    }
    let mut e = from_confusion(confusion, f64::NAN);
    e.mean_loss = f32::NAN;
    e
}

fn from_confusion(confusion: Vec<Vec<usize>>, loss: f64) -> Evaluation {
    let count: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..NUM_GENRES).map(|g| confusion[g][g]).sum();
    let per_class: Vec<ClassScores> = (0..NUM_GENRES)
        .map(|g| {
            let tp = confusion[g][g] as f32;
            let predicted: usize = (0..NUM_GENRES).map(|t| confusion[t][g]).sum();
            let support: usize = confusion[g].iter().sum();
            let precision = if predicted > 0 { tp / predicted as f32 } else { 0.0 };
            let recall = if support > 0 { tp / support as f32 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScores { genre: GENRES[g].into(), precision, recall, f1, support }
        })
        .collect();
    let present: Vec<&ClassScores> = per_class.iter().filter(|c| c.support > 0).collect();
    let balanced_accuracy = present.iter().map(|c| c.recall).sum::<f32>() / present.len().max(1) as f32;
    Evaluation {
        count,
        correct,
        accuracy: correct as f32 / count.max(1) as f32,
        confusion,
        per_class,
        mean_loss: (loss / count.max(1) as f64) as f32,
        balanced_accuracy,
    }
}

/// Segment-level and track-level (soft vote over each track's segments) evaluation of
/// per-segment probabilities; `segment_track[i]` indexes `track_labels`.
pub fn evaluate_segments_and_tracks(
    probs: &[Probs],
    labels: &[usize],
    segment_track: &[usize],
    track_labels: &[usize],
) -> (Evaluation, Evaluation) {
    let tp = track_probs(probs, segment_track, track_labels.len());
    (evaluate(probs, labels), evaluate(&tp, track_labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onehot(i: usize, v: f32) -> Probs {
        let mut p = [(1.0 - v) / 9.0; NUM_CLASSES];
        p[i] = v;
        p[OUT_OF_SET] = 0.0;
        p
    }

    #[test]
    fn precision_recall_and_track_means() {
        let probs = vec![onehot(0, 0.9), onehot(0, 0.6), onehot(1, 0.7), onehot(1, 0.8)];
        let labels = vec![0, 1, 1, 1];
        let e = evaluate(&probs, &labels);
        assert_eq!(e.correct, 3);
        assert_eq!(e.confusion[1][0], 1);
        assert!((e.per_class[0].precision - 0.5).abs() < 1e-6);
        assert!((e.per_class[1].recall - 2.0 / 3.0).abs() < 1e-6);
        // Mean recall over the two genres present: (1 + 2/3) / 2, not 3/4.
        assert!((e.balanced_accuracy - 5.0 / 6.0).abs() < 1e-6);
        // Track 1 = segments 1..4: mean favours genre 1.
        let t = track_probs(&probs, &[0, 1, 1, 1], 2);
        assert_eq!(argmax(&t[1]), 1);
        assert!((t[0][0] - 0.9).abs() < 1e-6);
    }
}
