//! Running exported model folders through ONNX Runtime via the plugin's own engine
//! (`genrescope_core::model::Ensemble`): accuracy, int8-vs-fp32 agreement, latency.
use crate::data::Segments;
use crate::metrics::{argmax, soft_vote, Evaluation, Probs};
use genrescope_core::model::Ensemble;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Per-member probabilities of every segment, from the ONNX members of `manifest`
/// (a folder or a manifest file).
pub fn member_probs(manifest: &Path, seg: &Segments) -> anyhow::Result<Vec<Vec<Probs>>> {
    let mut ens = Ensemble::load(manifest)?;
    let mut out = Vec::new();
    for m in 0..ens.num_members() {
        let mut v = Vec::with_capacity(seg.len());
        for i in 0..seg.len() {
            v.push(ens.run_member(m, seg.window(i), &[])?);
        }
        out.push(v);
    }
    Ok(out)
}

/// Median single-window latency (µs) of each member; ORT sessions are single-threaded.
pub fn member_latency_us(manifest: &Path, window: &[f32], iters: usize) -> anyhow::Result<Vec<f64>> {
    let mut ens = Ensemble::load(manifest)?;
    let mut out = Vec::new();
    for m in 0..ens.num_members() {
        for _ in 0..10 {
            ens.run_member(m, window, &[])?;
        }
        let mut t: Vec<f64> = (0..iters)
            .map(|_| {
                let s = Instant::now();
                ens.run_member(m, window, &[]).map(|_| s.elapsed().as_secs_f64() * 1e6)
            })
            .collect::<Result<_, _>>()?;
        t.sort_by(f64::total_cmp);
        out.push(t[t.len() / 2]);
    }
    Ok(out)
}

/// Fraction of segments where two probability sets agree on the top class.
pub fn top1_agreement(a: &[Probs], b: &[Probs]) -> f32 {
    let same = a.iter().zip(b).filter(|(x, y)| argmax(*x) == argmax(*y)).count();
    same as f32 / a.len().max(1) as f32
}

/// A segment where an int8 member's top genre differs from its fp32 original.
#[derive(Clone, Debug, Serialize)]
pub struct Disagreement {
    pub member: usize,
    pub segment: usize,
    pub track: String,
    /// The fp32 member's margin between its two best genres: a tiny one means the flip is
    /// int8 rounding deciding a near-tie, not a damaged model.
    pub fp32_top2_margin: f32,
}

/// Every int8/fp32 top-1 disagreement of per-member probabilities (`[member][segment]`).
pub fn disagreements(p8: &[Vec<Probs>], p32: &[Vec<Probs>], seg: &Segments) -> Vec<Disagreement> {
    let mut out = vec![];
    for (member, (a, b)) in p8.iter().zip(p32).enumerate() {
        for (segment, (x, y)) in a.iter().zip(b).enumerate() {
            if argmax(x) != argmax(y) {
                let mut sorted = y.to_vec();
                sorted.sort_by(|u, v| v.total_cmp(u));
                out.push(Disagreement {
                    member,
                    segment,
                    track: seg.track_ids[seg.track[segment]].clone(),
                    fp32_top2_margin: sorted[0] - sorted[1],
                });
            }
        }
    }
    out
}

#[derive(Serialize)]
pub struct OnnxEvaluation {
    pub manifest: String,
    pub member_segment: Vec<Evaluation>,
    pub member_track: Vec<Evaluation>,
    pub ensemble_segment: Evaluation,
    pub ensemble_track: Evaluation,
    pub latency_us: Vec<f64>,
}

pub fn evaluate_model(manifest: &Path, seg: &Segments) -> anyhow::Result<(OnnxEvaluation, Vec<Vec<Probs>>)> {
    let probs = member_probs(manifest, seg)?;
    let (mut ms, mut mt) = (Vec::new(), Vec::new());
    for p in &probs {
        let (s, t) = crate::metrics::evaluate_both(p, seg);
        ms.push(s);
        mt.push(t);
    }
    let (es, et) = crate::metrics::evaluate_both(&soft_vote(&probs), seg);
    let latency_us = member_latency_us(manifest, seg.window(0), 300)?;
    Ok((
        OnnxEvaluation {
            manifest: manifest.display().to_string(),
            member_segment: ms,
            member_track: mt,
            ensemble_segment: es,
            ensemble_track: et,
            latency_us,
        },
        probs,
    ))
}
