//! Percentages that mean what they say, and "none of these":
//! - a temperature for the vote, fitted on out-of-fold (CV held-out) window predictions by
//!   minimizing their negative log-likelihood, so a meter at 80 % is right about 80 % of the time;
//! - the expected calibration error (ECE, 15 equal-width confidence bins) before and after;
//! - the out-of-set threshold on a track's mean calibrated out-of-set probability, chosen on the
//!   out-of-fold tracks: the lowest threshold whose in-set false-flag rate stays within the budget
//!   on every corpus (most out-of-set tracks flagged under that constraint).
use crate::data::{NUM_CLASSES, OUT_OF_SET};
use crate::metrics::{argmax, Probs};
use serde::Serialize;

/// ECE bins (issue #21: 15).
pub const ECE_BINS: usize = 15;

/// `softmax(ln p / t)` of one probability vector (what the engine's temperature does to a
/// log-linear vote at temperature 1).
pub fn with_temperature(p: &Probs, t: f32) -> Probs {
    let s: Vec<f64> = p.iter().map(|&v| (v.max(1e-12) as f64).ln() / t as f64).collect();
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = s.iter().map(|v| (v - max).exp()).sum();
    std::array::from_fn(|k| ((s[k] - max).exp() / total) as f32)
}

fn nll(probs: &[Probs], labels: &[usize], t: f32) -> f64 {
    let s: f64 =
        probs.iter().zip(labels).map(|(p, &y)| -(with_temperature(p, t)[y].max(1e-12) as f64).ln()).sum::<f64>();
    s / labels.len().max(1) as f64
}

/// The temperature in [0.05, 20] minimizing the NLL of `labels` under `probs` (golden-section
/// search on log t; the NLL of a temperature-scaled softmax is unimodal in it).
pub fn fit_temperature(probs: &[Probs], labels: &[usize]) -> f32 {
    let f = |lt: f64| nll(probs, labels, lt.exp() as f32);
    let (mut a, mut b) = ((0.05f64).ln(), (20.0f64).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// Expected calibration error of the top class: Σ_bins (n_bin / n) · |accuracy − confidence|.
pub fn ece(probs: &[Probs], labels: &[usize]) -> f32 {
    let mut bins = vec![(0usize, 0f64, 0f64); ECE_BINS];
    for (p, &y) in probs.iter().zip(labels) {
        let k = argmax(p);
        let conf = p[k] as f64;
        let b = ((conf * ECE_BINS as f64).ceil() as usize).clamp(1, ECE_BINS) - 1;
        bins[b].0 += 1;
        bins[b].1 += f64::from(u8::from(k == y));
        bins[b].2 += conf;
    }
    let n = labels.len().max(1) as f64;
    bins.iter().filter(|b| b.0 > 0).map(|b| (b.0 as f64 / n) * ((b.1 - b.2) / b.0 as f64).abs()).sum::<f64>() as f32
}

/// ECE a perfectly calibrated model would show on these windows by chance: the mean ECE when
/// each window's label is drawn from its own probabilities (`draws` times, seeded). With a few
/// hundred windows per corpus this floor is itself a few hundredths.
pub fn ece_floor(probs: &[Probs], draws: usize, seed: u64) -> f32 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut total = 0.0;
    for _ in 0..draws {
        let labels: Vec<usize> = probs
            .iter()
            .map(|p| {
                let u: f32 = rng.random_range(0.0..1.0);
                let mut acc = 0.0;
                p.iter()
                    .position(|&v| {
                        acc += v;
                        u < acc
                    })
                    .unwrap_or(NUM_CLASSES - 1)
            })
            .collect();
        total += ece(probs, &labels);
    }
    total / draws.max(1) as f32
}

/// One reliability bin, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct Bin {
    pub lo: f32,
    pub hi: f32,
    pub count: usize,
    pub accuracy: f32,
    pub confidence: f32,
}

pub fn reliability(probs: &[Probs], labels: &[usize]) -> Vec<Bin> {
    (0..ECE_BINS)
        .map(|b| {
            let (lo, hi) = (b as f32 / ECE_BINS as f32, (b + 1) as f32 / ECE_BINS as f32);
            let sel: Vec<(usize, f32)> = probs
                .iter()
                .zip(labels)
                .filter_map(|(p, &y)| {
                    let k = argmax(p);
                    let c = p[k];
                    (c > lo && c <= hi || (b == 0 && c == 0.0)).then_some((usize::from(k == y), c))
                })
                .collect();
            let n = sel.len().max(1) as f32;
            Bin {
                lo,
                hi,
                count: sel.len(),
                accuracy: sel.iter().map(|s| s.0 as f32).sum::<f32>() / n,
                confidence: sel.iter().map(|s| s.1).sum::<f32>() / n,
            }
        })
        .collect()
}

/// A track's out-of-set probability (mean over its segments) and whether it is out of set.
#[derive(Clone, Copy, Debug)]
pub struct TrackOos {
    pub corpus: usize,
    pub other: f32,
    pub is_out_of_set: bool,
}

/// The chosen threshold and what it does on the tracks it was chosen on.
#[derive(Clone, Debug, Serialize)]
pub struct Threshold {
    pub threshold: f32,
    /// Share of out-of-set tracks flagged.
    pub flagged: f32,
    /// Worst in-set false-flag share over the corpora.
    pub worst_false_flags: f32,
    pub budget: f32,
}

/// How much more a falsely flagged in-set track costs than a missed out-of-set one: a jazz track
/// called "other" is a wrong answer, an electronic track given a genre is an unsure one.
pub const FALSE_FLAG_COST: f32 = 2.0;

/// Among the thresholds of a grid from 0.05 to 0.95 whose in-set false-flag share is ≤ `budget`
/// on every corpus with in-set tracks, the one maximizing (share of out-of-set tracks flagged) −
/// [`FALSE_FLAG_COST`] × (worst corpus's false-flag share); the lowest on ties. Falls back to the
/// highest grid value when none meets the budget.
pub fn choose_threshold(tracks: &[TrackOos], budget: f32) -> Threshold {
    let corpora: Vec<usize> = {
        let mut v: Vec<usize> = tracks.iter().filter(|t| !t.is_out_of_set).map(|t| t.corpus).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let eval = |th: f32| {
        let worst = corpora
            .iter()
            .map(|&c| {
                let ins: Vec<&TrackOos> = tracks.iter().filter(|t| t.corpus == c && !t.is_out_of_set).collect();
                ins.iter().filter(|t| t.other >= th).count() as f32 / ins.len().max(1) as f32
            })
            .fold(0.0f32, f32::max);
        let oos: Vec<&TrackOos> = tracks.iter().filter(|t| t.is_out_of_set).collect();
        let flagged = oos.iter().filter(|t| t.other >= th).count() as f32 / oos.len().max(1) as f32;
        (flagged, worst)
    };
    let grid: Vec<f32> = (1..=19).map(|i| i as f32 * 0.05).collect();
    let mut best: Option<(f32, Threshold)> = None;
    for &th in &grid {
        let (flagged, worst) = eval(th);
        let value = flagged - FALSE_FLAG_COST * worst;
        if worst <= budget && best.as_ref().is_none_or(|b| value > b.0 + 1e-6) {
            best = Some((value, Threshold { threshold: th, flagged, worst_false_flags: worst, budget }));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| {
        let th = *grid.last().expect("grid");
        let (flagged, worst) = eval(th);
        Threshold { threshold: th, flagged, worst_false_flags: worst, budget }
    })
}

/// Track verdict as the engine gives it: out-of-set when its probability reaches the threshold,
/// else the most probable genre.
pub fn verdict(p: &Probs, threshold: f32) -> usize {
    if p[OUT_OF_SET] >= threshold {
        OUT_OF_SET
    } else {
        crate::metrics::genre_of(p)
    }
}

/// All classes' probabilities sum to one (a sanity check on pooled outputs).
pub fn is_distribution(p: &Probs) -> bool {
    (p.iter().sum::<f32>() - 1.0).abs() < 1e-3 && p.len() == NUM_CLASSES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(top: usize, conf: f32) -> Probs {
        let mut v = [(1.0 - conf) / (NUM_CLASSES - 1) as f32; NUM_CLASSES];
        v[top] = conf;
        v
    }

    #[test]
    fn temperature_fixes_over_confidence_and_ece_sees_it() {
        // Always 95 % sure, right 60 % of the time: over-confident.
        let probs: Vec<Probs> = (0..100).map(|_| p(0, 0.95)).collect();
        let labels: Vec<usize> = (0..100).map(|i| if i < 60 { 0 } else { 1 + i % 9 }).collect();
        let before = ece(&probs, &labels);
        assert!((before - 0.35).abs() < 1e-3, "{before}");
        let t = fit_temperature(&probs, &labels);
        assert!(t > 1.0, "over-confidence needs t > 1: {t}");
        let after: Vec<Probs> = probs.iter().map(|q| with_temperature(q, t)).collect();
        assert!(ece(&after, &labels) < 0.05, "{}", ece(&after, &labels));
        assert!(after.iter().all(is_distribution));
        // A temperature keeps the ranking.
        assert_eq!(argmax(&after[0]), 0);
        let rel = reliability(&after, &labels);
        assert_eq!(rel.iter().map(|b| b.count).sum::<usize>(), 100);
        // Labels drawn from the probabilities themselves: a small ECE, shrinking with more windows.
        let floor_100 = ece_floor(&after, 50, 1);
        let many: Vec<Probs> = (0..2000).map(|_| after[0]).collect();
        let floor_2000 = ece_floor(&many, 20, 1);
        assert!(floor_100 < 0.1 && floor_2000 < floor_100, "{floor_100} {floor_2000}");
    }

    #[test]
    fn threshold_respects_the_false_flag_budget_on_every_corpus() {
        let mut tracks = Vec::new();
        // Corpus 0: in-set tracks with low out-of-set probability, one at 0.5.
        for i in 0..20 {
            tracks.push(TrackOos { corpus: 0, other: if i == 0 { 0.5 } else { 0.02 }, is_out_of_set: false });
        }
        // Corpus 1: in-set, one at 0.3.
        for i in 0..10 {
            tracks.push(TrackOos { corpus: 1, other: if i == 0 { 0.3 } else { 0.01 }, is_out_of_set: false });
        }
        // Out-of-set tracks between 0.2 and 0.9.
        for i in 0..10 {
            tracks.push(TrackOos { corpus: 2, other: 0.2 + 0.07 * i as f32, is_out_of_set: true });
        }
        // Budget 3 %: corpus 1's one track at 0.3 is 10 % of it, so the threshold must pass 0.3;
        // corpus 0's at 0.5 is 5 %: past 0.5 too.
        let th = choose_threshold(&tracks, 0.03);
        assert!((th.threshold - 0.55).abs() < 1e-6, "{th:?}");
        assert_eq!(th.worst_false_flags, 0.0);
        assert!((th.flagged - 0.5).abs() < 1e-6, "{th:?}");
        // A 6 % budget allows corpus 0's one false flag (5 %) but not corpus 1's (10 %): past 0.3,
        // where 0.35 flags 80 % with 5 % false (0.70) and 0.55 flags 50 % with none (0.50).
        assert!((choose_threshold(&tracks, 0.06).threshold - 0.35).abs() < 1e-6);
        // 10 % allows both: 0.05 flags everything with 10 % false (0.80) and beats 0.35 (0.70).
        let loose = choose_threshold(&tracks, 0.10);
        assert!((loose.threshold - 0.05).abs() < 1e-6 && loose.flagged == 1.0, "{loose:?}");
        // A false flag costs double: out-of-set tracks only slightly above in-set ones are not worth
        // flagging 10 % of a corpus for one more out-of-set track in ten.
        let close: Vec<TrackOos> = (0..10)
            .map(|i| TrackOos { corpus: 0, other: if i == 0 { 0.3 } else { 0.0 }, is_out_of_set: false })
            .chain((0..10).map(|i| TrackOos { corpus: 1, other: if i == 0 { 0.25 } else { 0.9 }, is_out_of_set: true }))
            .collect();
        let c = choose_threshold(&close, 0.10);
        assert!((c.threshold - 0.35).abs() < 1e-6 && (c.flagged - 0.9).abs() < 1e-6, "{c:?}");
        assert_eq!(verdict(&p(OUT_OF_SET, 0.6), 0.55), OUT_OF_SET);
        assert_eq!(verdict(&p(3, 0.6), 0.55), 3);
    }
}
