//! Measurement harnesses beside the shipped pipeline, on the `train` run's own steps
//! (`heads::run`: corpora, front end, windows, pruned trunk, embeddings) and its CV recipe: what
//! augmenting the training audio does (`augment_cv`) and what fine-tuning the trunk's back end does
//! (`finetune_cv`), both by 2-fold artist-disjoint CV in both directions, scored like `heads::cv`:
//! per corpus, the mean over corpora of the track-level balanced accuracy. They add no step to
//! `train`; the modules they measure (`data::augment`, `musicnn::finetune`) are what a pipeline wires in.
//!
//! The vote here is the heads' log-linear vote with equal weights, without `train`'s zero-shot
//! member and calibration (a temperature does not change a verdict; the zero-shot member is left
//! out to keep what is measured the heads' training data or trunk).
//!
//! Everything expensive is cached on disk: mel frames (`--cache`), the pruned trunk and trunk
//! outputs (`<work>/experiments`, keyed by the data they were computed from).
pub mod augment_cv;
pub mod finetune_cv;

use crate::data::{featurize, ModelInput, Segments, OUT_OF_SET};
use crate::heads::cv::{
    candidates, cross_validate, equal_weights, pool, score_by_corpus, select_ensemble, Fold, Groups, HeadGrid,
};
use crate::heads::embed::Embeddings;
use crate::heads::fit::{predict, HeadConfig};
use crate::heads::head::HeadWeights;
use crate::heads::run::{base_config, front_end, load_data, prune_trunk, windows, Dataset, MusicnnOptions, Windows};
use crate::metrics::{genre_of, track_probs, Probs};
use crate::musicnn::onnx::{trunk_outputs, trunk_to_onnx, TrunkOnnxOptions, INPUT_NAME, INPUT_SHAPE};
use crate::musicnn::weights::{MusicnnWeights, PATCH_FRAMES};
use anyhow::Context;
use genrescope_core::features::FrontEndSpec;
use genrescope_core::sha256_hex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What every harness needs to rebuild the `train` run's first steps.
#[derive(Clone, Debug)]
pub struct CommonOptions {
    /// Corpora, as `train --corpus` takes them (each split into artist-disjoint folds A, B).
    pub corpora: Vec<PathBuf>,
    /// Generated non-music clips per fold (out-of-set examples), as `train`.
    pub synthetic_per_fold: usize,
    pub work: PathBuf,
    pub cache: PathBuf,
    pub checkpoint: PathBuf,
    pub seed: u64,
    pub threads: usize,
    pub train_hop: usize,
    pub max_epochs: usize,
}

impl CommonOptions {
    fn dir(&self) -> PathBuf {
        self.work.join("experiments")
    }
}

/// The `train` run's steps 1–5 (level-normalized front end, pruned trunk, embeddings).
pub struct Prepared {
    pub data: Dataset,
    pub spec: FrontEndSpec,
    pub input: ModelInput,
    pub windows: Windows,
    /// The pruned trunk (what ships) and its ONNX file.
    pub weights: MusicnnWeights,
    pub trunk_file: PathBuf,
    pub outputs: Vec<(String, usize)>,
    pub train_fit: Embeddings,
    pub train_score: Embeddings,
    pub valid_fit: Embeddings,
    pub valid_score: Embeddings,
}

impl Prepared {
    pub fn groups(&self) -> Groups<'_> {
        self.data.groups()
    }
}

/// A digest of f32 values (their little-endian bytes hashed in 64 MiB pieces: no giant copy).
pub fn hash_f32(parts: &[&[f32]]) -> String {
    let mut piece_hashes = String::new();
    for p in parts {
        for chunk in p.chunks(1 << 24) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            piece_hashes.push_str(&sha256_hex(&bytes));
        }
        piece_hashes.push('|');
    }
    sha256_hex(piece_hashes.as_bytes())
}

fn read_f32(path: &Path) -> Option<Vec<f32>> {
    let b = std::fs::read(path).ok()?;
    (b.len() % 4 == 0).then(|| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn write_f32(path: &Path, v: &[f32]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Trunk outputs of every window of `seg`, cached under `dir` by (trunk file bytes, window data).
pub fn embed_cached(
    trunk_file: &Path,
    outputs: &[(String, usize)],
    seg: &Segments,
    dir: &Path,
    threads: usize,
) -> anyhow::Result<Embeddings> {
    let trunk = sha256_hex(&std::fs::read(trunk_file)?);
    let names: Vec<String> = outputs.iter().map(|(n, d)| format!("{n}:{d}")).collect();
    let key = sha256_hex(format!("emb-v1\n{trunk}\n{}\n{}", names.join(","), hash_f32(&[&seg.windows])).as_bytes());
    std::fs::create_dir_all(dir)?;
    let file = dir.join(format!("emb-{key}.f32"));
    let stride: usize = outputs.iter().map(|o| o.1).sum();
    let data = match read_f32(&file).filter(|d| d.len() == seg.len() * stride) {
        Some(d) => d,
        None => {
            let e = Embeddings::compute(trunk_file, INPUT_NAME, &INPUT_SHAPE, outputs, seg, threads)?;
            write_f32(&file, &e.data)?;
            e.data
        }
    };
    Ok(Embeddings {
        outputs: outputs.to_vec(),
        stride,
        data,
        labels: seg.labels.clone(),
        track: seg.track.clone(),
        track_ids: seg.track_ids.clone(),
        track_labels: seg.track_labels.clone(),
        track_clip: seg.track_clip.clone(),
    })
}

/// Steps 1–5 of `train`, with the pruned trunk and every trunk output cached.
pub fn prepare(o: &CommonOptions) -> anyhow::Result<Prepared> {
    // `load_data` reads only the corpora, cache, seed and synthetic clips of these options.
    let mo = MusicnnOptions {
        corpora: o.corpora.clone(),
        out: o.dir(),
        work: o.work.clone(),
        cache: o.cache.clone(),
        checkpoint: o.checkpoint.clone(),
        grid: HeadGrid::Tiny,
        max_members: 1,
        seed: o.seed,
        threads: o.threads,
        train_hop: o.train_hop,
        normalize_level: true,
        max_epochs: o.max_epochs,
        synthetic_per_fold: o.synthetic_per_fold,
        out_of_set_budget: 0.0,
    };
    let data = load_data(&mo)?;
    anyhow::ensure!(!data.fold_a.is_empty() && !data.fold_b.is_empty(), "need clips in both folds");
    let frames_input = ModelInput::musicnn();
    let feats = featurize(&data.clips, &frames_input, Some(&o.cache), o.threads);
    // The level reference as `train` takes it: fold A's in-set clips.
    let reference: Vec<&Vec<f32>> = data
        .fold_a
        .iter()
        .filter(|&&i| data.clips[i].label != OUT_OF_SET)
        .filter_map(|&i| feats.frames[i].as_ref())
        .collect();
    let (spec, _) = front_end(&reference, true)?;
    let input = ModelInput { spec: spec.clone(), window_frames: PATCH_FRAMES };
    let w = windows(&data, &feats, &input, o.train_hop);
    let dir = o.dir();
    std::fs::create_dir_all(&dir)?;
    // The pruned trunk depends on the checkpoint and fold A's training windows only.
    let ckpt = std::fs::read(o.checkpoint.join(".index")).context("musicnn checkpoint (`cargo xtask musicnn`)")?;
    let key = sha256_hex(
        format!("pruned-v1\n{}\n{}", sha256_hex(&ckpt), hash_f32(&[&w.train_fit.windows, &w.valid_score.windows]))
            .as_bytes(),
    );
    let cached = dir.join(format!("pruned-{key}.json"));
    let weights: MusicnnWeights = match std::fs::read(&cached).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(w) => w,
        None => {
            let t = prune_trunk(&o.checkpoint, &w, &spec, &dir.join("prune"), o.threads)?;
            std::fs::write(&cached, serde_json::to_vec(&t.weights)?)?;
            t.weights
        }
    };
    let trunk_file = dir.join(format!("trunk-{}.onnx", &key[..16]));
    std::fs::write(&trunk_file, trunk_to_onnx(&weights, &TrunkOnnxOptions::default())?)?;
    let outputs = trunk_outputs(&weights);
    let e = |s: &Segments| embed_cached(&trunk_file, &outputs, s, &dir, o.threads);
    eprintln!(
        "embeddings: {} + {} training windows, {} + {} scoring segments",
        w.train_fit.len(),
        w.valid_fit.len(),
        w.train_score.len(),
        w.valid_score.len()
    );
    let (train_fit, train_score, valid_fit, valid_score) =
        (e(&w.train_fit)?, e(&w.train_score)?, e(&w.valid_fit)?, e(&w.valid_score)?);
    Ok(Prepared {
        data,
        spec,
        input,
        windows: w,
        weights,
        trunk_file,
        outputs,
        train_fit,
        train_score,
        valid_fit,
        valid_score,
    })
}

/// The ensemble `train`'s CV picks on the baseline folds (cached by data and settings).
pub fn cv_ensemble(
    p: &Prepared,
    grid: HeadGrid,
    max_members: usize,
    c: &CommonOptions,
) -> anyhow::Result<Vec<HeadConfig>> {
    let key = sha256_hex(
        format!(
            "heads-v2\n{:?} {} {} {}\n{:?}\n{}",
            grid,
            max_members,
            c.seed,
            c.max_epochs,
            p.data.names,
            hash_f32(&[&p.train_fit.data, &p.valid_fit.data, &p.train_score.data, &p.valid_score.data])
        )
        .as_bytes(),
    );
    let file = c.dir().join(format!("heads-{}.json", &key[..16]));
    if let Some(v) = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        return Ok(v);
    }
    let cands = candidates(grid, &base_config(c.seed, c.max_epochs));
    let folds = [
        Fold { name: "A→B", train: &p.train_fit, test: &p.valid_score },
        Fold { name: "B→A", train: &p.valid_fit, test: &p.train_score },
    ];
    let cv = cross_validate(&cands, &folds, p.groups())?;
    let (members, curve) = select_ensemble(&cv, &folds, p.groups(), max_members);
    eprintln!("heads: ensemble of {} (CV by size {curve:?})", members.len());
    let chosen: Vec<HeadConfig> = members.iter().map(|&m| cv[m].config.clone()).collect();
    std::fs::write(&file, serde_json::to_vec_pretty(&chosen)?)?;
    Ok(chosen)
}

/// The heads' vote (log-linear, equal weights, as `heads::cv` scores ensembles) on every window of `e`.
pub fn ensemble_probs(heads: &[HeadWeights], e: &Embeddings) -> anyhow::Result<Vec<Probs>> {
    let per: Vec<Vec<Probs>> = heads
        .iter()
        .map(|w| {
            let names: Vec<String> = w.inputs.iter().map(|i| i.0.clone()).collect();
            Ok(predict(w, &e.features(&names)?.0))
        })
        .collect::<anyhow::Result<_>>()?;
    let members: Vec<&[Probs]> = per.iter().map(|p| p.as_slice()).collect();
    Ok(pool(&members, &equal_weights(members.len()), None))
}

/// A held-out set's score as `heads::cv` computes it.
#[derive(Clone, Debug, Default)]
pub struct SetScore {
    /// Mean over the corpora (with in-set tracks) of the track-level balanced accuracy.
    pub balanced: f32,
    /// Mean over those corpora of the track accuracy.
    pub accuracy: f32,
    /// `(corpus, balanced accuracy)`.
    pub per_corpus: Vec<(String, f32)>,
    /// Per in-set track, in order: whether its genre verdict is right (for paired comparisons).
    pub correct: Vec<bool>,
    pub tracks: usize,
}

/// Per-corpus track-level scores of window probabilities on `e` (`e.track_clip` indexes the
/// dataset's clips, whose corpora `groups` gives).
pub fn set_score(probs: &[Probs], e: &Embeddings, groups: Groups) -> SetScore {
    let (per, balanced) = score_by_corpus(probs, e, groups);
    let scored: Vec<_> = per.iter().filter(|c| c.track.count > 0).collect();
    let accuracy = scored.iter().map(|c| c.track.accuracy).sum::<f32>() / scored.len().max(1) as f32;
    let tp = track_probs(probs, &e.track, e.track_labels.len());
    let in_set: Vec<usize> = (0..tp.len()).filter(|&t| e.track_labels[t] != OUT_OF_SET).collect();
    SetScore {
        balanced,
        accuracy,
        per_corpus: scored.iter().map(|c| (c.corpus.clone(), c.track.balanced_accuracy)).collect(),
        correct: in_set.iter().map(|&t| genre_of(&tp[t]) == e.track_labels[t]).collect(),
        tracks: in_set.len(),
    }
}

/// `base`'s tracks with the windows of `copies` added to the track of the same id (a copy's
/// windows stay with their original: early stopping's track split never separates them).
pub fn with_copies(base: &Embeddings, copies: &Embeddings) -> Embeddings {
    assert_eq!(base.outputs, copies.outputs, "different trunk outputs");
    let index: HashMap<&str, usize> = base.track_ids.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut out = base.clone();
    for i in 0..copies.len() {
        let id = &copies.track_ids[copies.track[i]];
        let Some(&t) = index.get(id.as_str()) else { panic!("copy of {id}, which is not in the set") };
        out.data.extend_from_slice(&copies.data[i * copies.stride..(i + 1) * copies.stride]);
        out.labels.push(copies.labels[i]);
        out.track.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(ids: &[&str], windows_per_track: usize, value: f32) -> Embeddings {
        let mut e = Embeddings { outputs: vec![("x".into(), 1)], stride: 1, ..Default::default() };
        for (t, id) in ids.iter().enumerate() {
            e.track_ids.push(id.to_string());
            e.track_labels.push(t);
            e.track_clip.push(t);
            for _ in 0..windows_per_track {
                e.data.push(value);
                e.labels.push(t);
                e.track.push(t);
            }
        }
        e
    }

    #[test]
    fn set_scores_are_per_corpus_and_leave_out_of_set_tracks_out() {
        // Tracks (one window each): corpus 0 has genres 0, 1 (one right), corpus 1 genre 2 (right)
        // and an out-of-set track; clips 0..4 in that order.
        let labels = [0, 1, 2, OUT_OF_SET];
        let e = Embeddings {
            labels: labels.to_vec(),
            track: vec![0, 1, 2, 3],
            track_ids: ["a", "b", "c", "d"].map(String::from).to_vec(),
            track_labels: labels.to_vec(),
            track_clip: vec![0, 1, 2, 3],
            ..Default::default()
        };
        let one_hot = |g: usize| {
            let mut p = [0.0f32; crate::data::NUM_CLASSES];
            p[g] = 1.0;
            p
        };
        let probs = [one_hot(0), one_hot(0), one_hot(2), one_hot(3)];
        let names = vec!["x".to_string(), "y".to_string()];
        let s = set_score(&probs, &e, Groups { clip_corpus: &[0, 0, 1, 1], names: &names });
        assert_eq!(s.per_corpus, [("x".to_string(), 0.5), ("y".to_string(), 1.0)]);
        assert!((s.balanced - 0.75).abs() < 1e-6 && (s.accuracy - 0.75).abs() < 1e-6);
        assert_eq!((s.correct, s.tracks), (vec![true, false, true], 3));
    }

    #[test]
    fn copies_join_their_original_tracks() {
        let base = emb(&["a", "b"], 2, 1.0);
        let copies = emb(&["b", "b", "a"], 1, 2.0);
        let m = with_copies(&base, &copies);
        assert_eq!(m.track_ids, base.track_ids);
        assert_eq!(m.len(), 7);
        assert_eq!(m.track[4..], [1, 1, 0]);
        assert_eq!(m.data[4..], [2.0, 2.0, 2.0]);
        // Selecting a track takes its copies along.
        let b = m.select_tracks(&[1]);
        assert_eq!((b.len(), b.data.iter().filter(|&&v| v == 2.0).count()), (4, 2));
    }
}
