//! Measurement harnesses beside the shipped pipeline, on the `train` run's own steps
//! (`heads::run`: clips, front end, windows, pruned trunk, embeddings) and its CV recipe: what
//! augmenting the training audio does (`augment_cv`) and what fine-tuning the trunk's back end does
//! (`finetune_cv`), both by 2-fold artist-disjoint CV in both directions. They add no step to
//! `train`; the modules they measure (`data::augment`, `musicnn::finetune`) are what a pipeline wires in.
//!
//! Everything expensive is cached on disk: mel frames (`--cache`), the pruned trunk and trunk
//! outputs (`<work>/experiments`, keyed by the data they were computed from).
pub mod augment_cv;
pub mod finetune_cv;

use crate::data::{featurize, Clip, ModelInput, Segments};
use crate::heads::cv::{candidates, cross_validate, select_ensemble, Fold, HeadGrid};
use crate::heads::embed::Embeddings;
use crate::heads::fit::{predict, HeadConfig};
use crate::heads::head::HeadWeights;
use crate::heads::run::base_config;
use crate::heads::run::{front_end, load_clips, prune_trunk, windows, Clips, Windows};
use crate::metrics::{argmax, evaluate, track_probs, Evaluation, Probs};
use crate::musicnn::onnx::{trunk_outputs, trunk_to_onnx, TrunkOnnxOptions, INPUT_NAME, INPUT_SHAPE};
use crate::musicnn::weights::{MusicnnWeights, PATCH_FRAMES};
use anyhow::Context;
use genrescope_core::features::FrontEndSpec;
use genrescope_core::labels::genre_index;
use genrescope_core::model::soft_vote;
use genrescope_core::sha256_hex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What every harness needs to rebuild the `train` run's first steps.
#[derive(Clone, Debug)]
pub struct CommonOptions {
    /// GTZAN-layout folder with `splits/{train,valid}.txt` (fold A, fold B).
    pub data: PathBuf,
    /// A `tracks.csv` corpus (`../shared/datasets/non-gtzan`) scored as an extra, unseen test set.
    pub extra: Option<PathBuf>,
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
    pub clips: Clips,
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
    })
}

/// Steps 1–5 of `train`, with the pruned trunk and every trunk output cached.
pub fn prepare(o: &CommonOptions) -> anyhow::Result<Prepared> {
    let clips = load_clips(&o.data, o.seed)?;
    anyhow::ensure!(!clips.train.is_empty() && !clips.valid.is_empty(), "need clips in both folds");
    let frames_input = ModelInput::musicnn();
    let tf = featurize(&clips.train, &frames_input, Some(&o.cache), o.threads);
    let vf = featurize(&clips.valid, &frames_input, Some(&o.cache), o.threads);
    let (spec, _) = front_end(&tf, true)?;
    let input = ModelInput { spec: spec.clone(), window_frames: PATCH_FRAMES };
    let w = windows(&clips, &tf, &vf, &input, o.train_hop);
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
            let t = prune_trunk(&o.checkpoint, &w, &dir.join("prune"), o.threads)?;
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
        clips,
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
            "heads-v1\n{:?} {} {} {}\n{}",
            grid,
            max_members,
            c.seed,
            c.max_epochs,
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
        Fold { name: "train→valid", train: &p.train_fit, test: &p.valid_score },
        Fold { name: "valid→train", train: &p.valid_fit, test: &p.train_score },
    ];
    let cv = cross_validate(&cands, &folds)?;
    let (members, curve) = select_ensemble(&cv, &folds, max_members);
    eprintln!("heads: ensemble of {} (CV by size {curve:?})", members.len());
    let chosen: Vec<HeadConfig> = members.iter().map(|&m| cv[m].config.clone()).collect();
    std::fs::write(&file, serde_json::to_vec_pretty(&chosen)?)?;
    Ok(chosen)
}

/// Soft vote of `heads` on every window of `e`.
pub fn ensemble_probs(heads: &[HeadWeights], e: &Embeddings) -> anyhow::Result<Vec<Probs>> {
    let per: Vec<Vec<Probs>> = heads
        .iter()
        .map(|w| {
            let names: Vec<String> = w.inputs.iter().map(|i| i.0.clone()).collect();
            Ok(predict(w, &e.features(&names)?.0))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((0..e.len()).map(|i| soft_vote(per.iter().map(|p| &p[i])).expect("members")).collect())
}

/// Track-level evaluation of window probabilities (soft vote per track) and, per track, whether
/// its verdict is right (for paired comparisons).
pub fn track_eval(probs: &[Probs], track: &[usize], track_labels: &[usize]) -> (Evaluation, Vec<bool>) {
    let tp = track_probs(probs, track, track_labels.len());
    let right = tp.iter().zip(track_labels).map(|(p, &l)| argmax(p) == l).collect();
    (evaluate(&tp, track_labels), right)
}

/// The in-set clips of a `tracks.csv` corpus (`file,genre,split,artist,...`), by split:
/// `(train, valid)`. Rows whose genre is not one of the 10 (the out-of-set "electronic") are left
/// out. Hand-written: only the first four columns are read, and they are never quoted; the lead's
/// corpus reader replaces this once the pipeline reads such corpora itself.
pub fn tracks_csv_in_set(root: &Path) -> anyhow::Result<(Vec<Clip>, Vec<Clip>)> {
    let path = root.join("tracks.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    anyhow::ensure!(
        header.starts_with(&["file", "genre", "split"]),
        "{}: unexpected header {header:?}",
        path.display()
    );
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.splitn(4, ',').collect();
        anyhow::ensure!(f.len() == 4, "{}: short row {l:?}", path.display());
        let Some(label) = genre_index(f[1]) else { continue };
        let id = f[0].rsplit_once('.').map(|(s, _)| s).unwrap_or(f[0]).to_string();
        let clip = Clip { path: root.join(f[0]), id, label };
        match f[2] {
            "train" => train.push(clip),
            "valid" => valid.push(clip),
            s => anyhow::bail!("{}: unknown split {s:?}", path.display()),
        }
    }
    Ok((train, valid))
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
            for _ in 0..windows_per_track {
                e.data.push(value);
                e.labels.push(t);
                e.track.push(t);
            }
        }
        e
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

    #[test]
    fn tracks_csv_keeps_in_set_rows_by_split() {
        let dir = genrescope_testkit::scratch_dir("tracks-csv");
        std::fs::write(
            dir.join("tracks.csv"),
            "file,genre,split,artist,title,licence\nblues/x_1.ogg,blues,train,A,\"t, 1\",\"a, b\"\n\
             electronic/y.ogg,electronic,valid,B,t,c\nhiphop/z.ogg,hiphop,valid,C,t,c\n",
        )
        .unwrap();
        let (train, valid) = tracks_csv_in_set(&dir).unwrap();
        assert_eq!(train.iter().map(|c| (c.id.as_str(), c.label)).collect::<Vec<_>>(), [("blues/x_1", 0)]);
        assert_eq!(valid.iter().map(|c| (c.id.as_str(), c.label)).collect::<Vec<_>>(), [("hiphop/z", 4)]);
        assert_eq!(valid[0].path, dir.join("hiphop/z.ogg"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
