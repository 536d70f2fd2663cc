//! Soft voting: the one way Genrescope combines probability vectors, whether from ensemble
//! members (one window), from the windows of a track (a file verdict), or from the segments of a
//! track in the trainer's metrics.
use super::manifest::{Calibration, ModelManifest, VoteRule};
use crate::labels::{Probs, NUM_GENRES};

/// Smallest probability a log-linear vote takes the log of (a member's hard 0 must not give -inf).
const LOG_FLOOR: f64 = 1e-12;

/// One window's member outputs → the model's calibrated class probabilities, as its manifest's
/// `vote` and `calibration` say. Built once per loaded model; `combine` does not allocate.
#[derive(Clone, Debug)]
pub struct Combiner {
    rule: Option<VoteRule>,
    /// `[member][class]`, each class's column summing to 1.
    weights: Vec<Vec<f64>>,
    inv_temperature: Option<f64>,
    classes: usize,
}

impl Combiner {
    /// The manifest must be valid (weights shaped and positive per class).
    pub fn new(m: &ModelManifest) -> Self {
        let temperature = m.calibration.as_ref().map(|c| match c {
            Calibration::Temperature { temperature } => *temperature,
        });
        let weights = m.vote.as_ref().and_then(|v| v.weights.as_deref());
        Self::from_parts(m.vote.as_ref().map(|v| v.rule), weights, temperature, m.members.len(), m.num_classes())
    }

    /// The same from its parts (the trainer scores candidate votes with exactly the shipped code):
    /// `rule` `None` = a manifest without `vote`; `weights` `[member][class]` (None = equal).
    pub fn from_parts(
        rule: Option<VoteRule>,
        weights: Option<&[Vec<f32>]>,
        temperature: Option<f32>,
        members: usize,
        classes: usize,
    ) -> Self {
        let mut weights: Vec<Vec<f64>> = match weights {
            Some(w) => w.iter().map(|r| r.iter().map(|&x| x as f64).collect()).collect(),
            None => vec![vec![1.0; classes]; members],
        };
        for k in 0..classes {
            let total: f64 = weights.iter().map(|r| r[k]).sum();
            weights.iter_mut().for_each(|r| r[k] /= total);
        }
        Self { rule, weights, inv_temperature: temperature.map(|t| 1.0 / t as f64), classes }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// `members[m]` holds member `m`'s `classes` probabilities; writes the combined ones to `out`.
    pub fn combine(&self, members: &[Vec<f32>], out: &mut [f32]) {
        debug_assert!(members.len() == self.weights.len() && out.len() == self.classes);
        match self.rule {
            // No `vote` in the manifest: exactly the plain mean models always had.
            None if self.inv_temperature.is_none() => {
                for (k, o) in out.iter_mut().enumerate() {
                    let sum: f64 = members.iter().map(|p| p[k] as f64).sum();
                    *o = (sum / members.len() as f64) as f32;
                }
            }
            None | Some(VoteRule::Mean) => {
                let mean = |k: usize| members.iter().zip(&self.weights).map(|(p, w)| w[k] * p[k] as f64).sum::<f64>();
                match self.inv_temperature {
                    Some(inv_t) => softmax_into(|k| mean(k).max(LOG_FLOOR).ln() * inv_t, out),
                    None => {
                        let total: f64 = (0..self.classes).map(mean).sum::<f64>().max(f64::MIN_POSITIVE);
                        out.iter_mut().enumerate().for_each(|(k, o)| *o = (mean(k) / total) as f32);
                    }
                }
            }
            Some(VoteRule::LogLinear) => {
                let inv_t = self.inv_temperature.unwrap_or(1.0);
                let score = |k: usize| {
                    members
                        .iter()
                        .zip(&self.weights)
                        .map(|(p, w)| w[k] * (p[k] as f64).max(LOG_FLOOR).ln())
                        .sum::<f64>()
                };
                softmax_into(|k| score(k) * inv_t, out);
            }
        }
    }
}

/// `out[k] = exp(s(k)) / Σ exp(s(j))`, computed stably in f64.
fn softmax_into(s: impl Fn(usize) -> f64, out: &mut [f32]) {
    let max = (0..out.len()).map(&s).fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = (0..out.len()).map(|k| (s(k) - max).exp()).sum();
    out.iter_mut().enumerate().for_each(|(k, o)| *o = ((s(k) - max).exp() / total) as f32);
}

/// Mean of the probability vectors (accumulated in f64); `None` for none.
pub fn soft_vote<'a>(probs: impl IntoIterator<Item = &'a Probs>) -> Option<Probs> {
    let mut sum = [0.0f64; NUM_GENRES];
    let mut n = 0usize;
    for p in probs {
        sum.iter_mut().zip(p).for_each(|(s, &v)| *s += v as f64);
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| (s / n as f64) as f32))
}

/// Index and value of the largest probability (the first on ties).
pub fn top_genre(probs: &Probs) -> (usize, f32) {
    probs.iter().copied().enumerate().fold((0, f32::MIN), |best, (i, p)| if p > best.1 { (i, p) } else { best })
}

/// Genre indices by descending probability (ties: lower index first), the first `k`.
pub fn top_k(probs: &Probs, k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::{OutOfSet, Vote};

    /// A manifest with `members` members and the given vote/calibration (files are not read).
    fn manifest(members: usize, other: bool, vote: Option<Vote>, t: Option<f32>) -> ModelManifest {
        let fe = crate::features::FrontEndSpec::musicnn();
        let member = |i: usize| crate::model::MemberEntry {
            file: format!("m{i}.onnx"),
            sha256: "00".into(),
            quantization: crate::model::Quantization::Fp32,
            inputs: vec!["x".into()],
            output: "probs".into(),
            val_accuracy: None,
            hyperparams: None,
        };
        let m = ModelManifest {
            format_version: crate::model::FORMAT_VERSION,
            name: "t".into(),
            labels: crate::labels::GENRES.iter().map(|s| s.to_string()).collect(),
            front_end_hash: fe.hash(),
            front_end: fe,
            input: crate::model::InputSpec { name: "x".into(), shape: vec![-1, 187, 96], window_frames: 187 },
            trunk: None,
            members: (0..members).map(member).collect(),
            embedding: None,
            out_of_set: other.then(|| OutOfSet { label: "other".into(), threshold: 0.5 }),
            vote,
            calibration: t.map(|temperature| Calibration::Temperature { temperature }),
            notes: None,
        };
        m.validate().unwrap();
        m
    }

    fn dist(classes: usize, seed: u32) -> Vec<f32> {
        let raw: Vec<f32> = (0..classes).map(|k| ((k as u32 * 7 + seed * 13) % 11 + 1) as f32).collect();
        let sum: f32 = raw.iter().sum();
        raw.iter().map(|v| v / sum).collect()
    }

    #[test]
    fn without_a_vote_the_combiner_is_the_plain_mean() {
        let m = manifest(3, false, None, None);
        let members: Vec<Vec<f32>> = (0..3).map(|i| dist(NUM_GENRES, i)).collect();
        let mut out = vec![0.0; NUM_GENRES];
        Combiner::new(&m).combine(&members, &mut out);
        let as_probs: Vec<Probs> = members.iter().map(|p| p.as_slice().try_into().unwrap()).collect();
        assert_eq!(out.as_slice(), soft_vote(&as_probs).unwrap().as_slice());
    }

    #[test]
    fn log_linear_weights_per_class_and_temperature() {
        let classes = NUM_GENRES + 1;
        // Member 1 knows only genres 0..5: weight 0 elsewhere, and its hard zeros there are harmless.
        let mut w = vec![vec![1.0; classes], vec![1.0; classes]];
        w[1][5..].iter_mut().for_each(|x| *x = 0.0);
        let vote = Vote { rule: VoteRule::LogLinear, weights: Some(w) };
        let m = manifest(2, true, Some(vote.clone()), None);
        let a = dist(classes, 1);
        let mut b = dist(classes, 2);
        b[5..].iter_mut().for_each(|x| *x = 0.0);
        let mut out = vec![0.0; classes];
        Combiner::new(&m).combine(&[a.clone(), b.clone()], &mut out);
        assert!(out.iter().all(|p| p.is_finite() && *p > 0.0));
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Classes member 1 does not vote on keep member 0's ratios.
        assert!((out[7] / out[9] - a[7] / a[9]).abs() < 1e-4, "{out:?}");
        // On the shared classes both count: the geometric mean of the two.
        let g = |k: usize| ((a[k] as f64).ln() * 0.5 + (b[k] as f64).ln() * 0.5).exp();
        assert!(((out[0] / out[1]) as f64 - g(0) / g(1)).abs() < 1e-4);
        // A temperature above 1 flattens, below 1 sharpens, the ranking stays.
        let mut hot = vec![0.0; classes];
        Combiner::new(&manifest(2, true, Some(vote.clone()), Some(2.0))).combine(&[a.clone(), b.clone()], &mut hot);
        let mut cold = vec![0.0; classes];
        Combiner::new(&manifest(2, true, Some(vote), Some(0.5))).combine(&[a, b], &mut cold);
        let max = |v: &[f32]| v.iter().copied().fold(0.0f32, f32::max);
        assert!(max(&hot) < max(&out) && max(&out) < max(&cold));
        let top = |v: &[f32]| top_genre(&v[..NUM_GENRES].try_into().unwrap()).0;
        assert_eq!(top(&hot), top(&cold));
    }

    #[test]
    fn mean_rule_with_temperature_is_a_distribution() {
        let m = manifest(2, true, Some(Vote { rule: VoteRule::Mean, weights: None }), Some(1.0));
        let (a, b) = (dist(NUM_GENRES + 1, 3), dist(NUM_GENRES + 1, 4));
        let mut out = vec![0.0; NUM_GENRES + 1];
        Combiner::new(&m).combine(&[a.clone(), b.clone()], &mut out);
        // Temperature 1 on the log of the mean: the mean itself.
        for k in 0..out.len() {
            assert!((out[k] - (a[k] + b[k]) / 2.0).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_vote_and_calibration_are_refused() {
        let mut m = manifest(2, true, None, None);
        m.vote = Some(Vote { rule: VoteRule::LogLinear, weights: Some(vec![vec![1.0; NUM_GENRES]; 2]) });
        assert!(m.validate().unwrap_err().to_string().contains("vote weights"));
        m.vote = Some(Vote { rule: VoteRule::LogLinear, weights: Some(vec![vec![0.0; NUM_GENRES + 1]; 2]) });
        assert!(m.validate().unwrap_err().to_string().contains("positive vote weight"));
        m.vote = Some(Vote { rule: VoteRule::LogLinear, weights: Some(vec![vec![f32::NAN; NUM_GENRES + 1]; 2]) });
        assert!(m.validate().unwrap_err().to_string().contains("finite"));
        m.vote = None;
        for t in [0.0, -1.0, f32::NAN, 1e9] {
            m.calibration = Some(Calibration::Temperature { temperature: t });
            assert!(m.validate().unwrap_err().to_string().contains("temperature"), "{t}");
        }
        m.calibration = None;
        for th in [0.0, 1.5, f32::NAN] {
            m.out_of_set = Some(OutOfSet { label: "other".into(), threshold: th });
            assert!(m.validate().unwrap_err().to_string().contains("threshold"), "{th}");
        }
        m.out_of_set = Some(OutOfSet { label: "jazz".into(), threshold: 0.5 });
        assert!(m.validate().unwrap_err().to_string().contains("new class name"));
    }

    #[test]
    fn mean_top_and_ranking() {
        let mut a = [0.0; NUM_GENRES];
        a[1] = 1.0;
        let mut b = [0.0; NUM_GENRES];
        b[1] = 0.5;
        b[4] = 0.5;
        let v = soft_vote([&a, &b]).unwrap();
        assert!((v[1] - 0.75).abs() < 1e-7 && (v[4] - 0.25).abs() < 1e-7);
        assert_eq!(top_genre(&v), (1, 0.75));
        assert_eq!(top_k(&v, 2), vec![(1, 0.75), (4, 0.25)]);
        assert_eq!(soft_vote(std::iter::empty()), None);
        let tie = [0.1; NUM_GENRES];
        assert_eq!(top_genre(&tie).0, 0);
    }
}
