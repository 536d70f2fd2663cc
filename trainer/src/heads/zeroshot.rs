//! A member of another kind: musicnn's own tags, zero-shot. Seven of the ten genres have MSD tags
//! (blues, country, Hip-Hop, jazz, metal/heavy metal, pop, rock/classic rock/alternative rock);
//! each tag is divided by its mean over many windows (no labels: a property of the trunk on music),
//! a genre's score is the mean log of its tags' ratios, and a softmax over the seven scores (times
//! a scale) gives the member's probabilities. Classical, disco, reggae and out-of-set have no tag:
//! the member gives them nothing and gets vote weight 0 there (the vote weighs members per class).
//!
//! Measured on the shipped trunk (shared/notes/generalization-findings.md): on other datasets'
//! music these tags generalize better than heads trained on GTZAN; its weight in the vote and its
//! scale are chosen by CV (`run::choose_zero_shot`).
use crate::data::NUM_CLASSES;
use crate::metrics::Probs;
use crate::musicnn::MSD_TAGS;
use anyhow::Context;
use genrescope_core::labels::genre_index;
use genrescope_onnx_graph::{int, Graph};
use serde::Serialize;

/// Genre → the MSD tags that name it.
pub const GENRE_TAGS: [(&str, &[&str]); 7] = [
    ("blues", &["blues"]),
    ("country", &["country"]),
    ("hiphop", &["Hip-Hop"]),
    ("jazz", &["jazz"]),
    ("metal", &["metal", "heavy metal"]),
    ("pop", &["pop"]),
    ("rock", &["rock", "classic rock", "alternative rock"]),
];

/// Taggram values are floored here before the log (sigmoid outputs can be ~0).
const TAG_FLOOR: f32 = 1e-7;
/// Score of the classes without tags before the softmax: their probability rounds to 0.
const NO_TAG: f32 = -1e4;

/// Trunk output the member reads.
pub const INPUT: &str = "taggram";

#[derive(Clone, Debug, Serialize)]
pub struct ZeroShot {
    /// ln of each tag's mean over the windows it was fitted on.
    pub log_mean: Vec<f32>,
    /// `[tag][class]`: 1/|tags of the genre| where the tag names the genre.
    pub matrix: Vec<f32>,
    /// Multiplies the scores before the softmax (sharper above 1).
    pub scale: f32,
}

/// Whether class `k` (a genre index, or out-of-set) has tags.
pub fn has_tags(k: usize) -> bool {
    GENRE_TAGS.iter().any(|(g, _)| genre_index(g) == Some(k))
}

impl ZeroShot {
    /// Fits the tag means on `taggram` (`n * 50` values): no labels involved.
    pub fn fit(taggram: &[f32], scale: f32) -> anyhow::Result<Self> {
        let tags = MSD_TAGS.len();
        anyhow::ensure!(!taggram.is_empty() && taggram.len().is_multiple_of(tags), "taggram rows of {tags}");
        let n = (taggram.len() / tags) as f64;
        let mut sum = vec![0f64; tags];
        for row in taggram.chunks_exact(tags) {
            sum.iter_mut().zip(row).for_each(|(s, &v)| *s += v.max(TAG_FLOOR) as f64);
        }
        let log_mean = sum.iter().map(|s| (s / n).ln() as f32).collect();
        let mut matrix = vec![0.0f32; tags * NUM_CLASSES];
        for (genre, names) in GENRE_TAGS {
            let k = genre_index(genre).context("genre")?;
            for name in names {
                let t = MSD_TAGS.iter().position(|x| x == name).with_context(|| format!("no MSD tag {name:?}"))?;
                matrix[t * NUM_CLASSES + k] = 1.0 / names.len() as f32;
            }
        }
        Ok(Self { log_mean, matrix, scale })
    }

    /// Class probabilities of each row of `taggram` (the ONNX graph computes the same).
    pub fn probs(&self, taggram: &[f32]) -> Vec<Probs> {
        let tags = self.log_mean.len();
        taggram
            .chunks_exact(tags)
            .map(|row| {
                let mut s = [0.0f32; NUM_CLASSES];
                for (t, &v) in row.iter().enumerate() {
                    let r = v.max(TAG_FLOOR).ln() - self.log_mean[t];
                    for (k, sk) in s.iter_mut().enumerate() {
                        *sk += r * self.matrix[t * NUM_CLASSES + k];
                    }
                }
                for (k, sk) in s.iter_mut().enumerate() {
                    *sk = if has_tags(k) { *sk * self.scale } else { NO_TAG };
                }
                let max = s.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = s.iter().map(|v| (v - max).exp()).collect();
                let total: f32 = e.iter().sum();
                std::array::from_fn(|k| e[k] / total)
            })
            .collect()
    }

    /// The member as an ONNX graph: input `taggram` `[N, 50]`, output `probs` `[N, NUM_CLASSES]`.
    pub fn to_onnx(&self) -> anyhow::Result<Vec<u8>> {
        let tags = self.log_mean.len() as i64;
        let mut g = Graph::new();
        let x = g.input(INPUT, &[None, Some(tags)]);
        let floor = g.init_f32("floor", &[], &[TAG_FLOOR]);
        let x = g.node("Max", "floor", &[&x, &floor], vec![]);
        let x = g.node("Log", "log", &[&x], vec![]);
        let mean = g.init_f32("log_mean", &[tags], &self.log_mean);
        let x = g.node("Sub", "ratio", &[&x, &mean], vec![]);
        let scaled: Vec<f32> = self.matrix.iter().map(|m| m * self.scale).collect();
        let m = g.init_f32("genre_matrix", &[tags, NUM_CLASSES as i64], &scaled);
        let mask: Vec<f32> = (0..NUM_CLASSES).map(|k| if has_tags(k) { 0.0 } else { NO_TAG }).collect();
        let mask = g.init_f32("no_tag", &[NUM_CLASSES as i64], &mask);
        let s = g.node("MatMul", "scores", &[&x, &m], vec![]);
        let s = g.node("Add", "mask", &[&s, &mask], vec![]);
        g.node_named_out("Softmax", "softmax", &[&s], super::head::HEAD_OUTPUT, vec![int("axis", 1)]);
        g.output(super::head::HEAD_OUTPUT, &[None, Some(NUM_CLASSES as i64)]);
        g.finish("genrescope_zero_shot_tags")
    }
}

/// Vote weights of the zero-shot member (`alpha` on the classes it has tags for, 0 elsewhere) and
/// of `heads` equally weighted heads (sharing `1 - alpha` there, everything elsewhere), in the
/// order heads..., zero-shot.
pub fn vote_weights(heads: usize, alpha: f32) -> Vec<Vec<f32>> {
    let mut w = vec![vec![0.0f32; NUM_CLASSES]; heads + 1];
    for k in 0..NUM_CLASSES {
        let a = if has_tags(k) { alpha } else { 0.0 };
        for row in w.iter_mut().take(heads) {
            row[k] = (1.0 - a) / heads as f32;
        }
        w[heads][k] = a;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::OUT_OF_SET;

    #[test]
    fn scores_follow_the_named_tags_and_the_graph_agrees() {
        let tags = MSD_TAGS.len();
        // Background windows: every tag 0.1; one window with "jazz" high, one with "rock" high.
        let mut rows = vec![0.1f32; tags * 20];
        let jazz = MSD_TAGS.iter().position(|t| *t == "jazz").unwrap();
        let rock = MSD_TAGS.iter().position(|t| *t == "rock").unwrap();
        rows[jazz] = 0.9;
        rows[tags + rock] = 0.9;
        let z = ZeroShot::fit(&rows, 3.0).unwrap();
        let p = z.probs(&rows[..2 * tags]);
        assert_eq!(crate::metrics::genre_of(&p[0]), genre_index("jazz").unwrap());
        assert_eq!(crate::metrics::genre_of(&p[1]), genre_index("rock").unwrap());
        for k in [genre_index("classical").unwrap(), genre_index("reggae").unwrap(), OUT_OF_SET] {
            assert!(p[0][k] < 1e-6, "no tag, no probability");
        }
        assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let w = vote_weights(2, 0.5);
        assert_eq!(w.len(), 3);
        assert_eq!(w[2][OUT_OF_SET], 0.0);
        assert!((w[0][genre_index("jazz").unwrap()] - 0.25).abs() < 1e-7);
        assert!((w[0][OUT_OF_SET] - 0.5).abs() < 1e-7);
    }
}
