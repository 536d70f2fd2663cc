//! The genre model on the musicnn trunk, end to end. Each step is a function below, in order:
//!
//! 1. [`load_data`]: every corpus (GTZAN-layout folders, `tracks.csv` collections) plus generated
//!    non-music, each clip in one of two artist-disjoint folds (A, B), labelled with a genre or
//!    out-of-set;
//! 2. [`front_end`]: musicnn's front end with a level normalization whose reference is the median
//!    mean mel power of fold A's in-set windows;
//! 3. [`windows`]: training windows every `train_hop` frames and non-overlapping scoring segments;
//! 4. [`prune_trunk`]: the checkpoint's trunk, dead front-end filters found on fold A's windows and
//!    removed exactly, checked on fold B;
//! 5. [`embed`]: the pruned trunk's outputs (the exact trunk that ships) for every window;
//! 6. [`choose_heads`]: head grid by 2-fold artist-disjoint CV scored per corpus, greedy ensemble;
//! 7. [`choose_zero_shot`]: the zero-shot tag member's scale and vote weight, by CV;
//! 8. [`calibrate`]: the vote's temperature on out-of-fold windows, the out-of-set threshold on
//!    out-of-fold tracks;
//! 9. [`refit`] + [`write_model`]: the chosen heads refit on A ∪ B → the `--out` folder, and on A
//!    alone → a "train-only" folder that the engine then runs on each corpus's fold B audio
//!    (REPORT's engine numbers, `heads::report`).
use super::calibrate::{choose_threshold, ece, ece_floor, fit_temperature, with_temperature, Threshold, TrackOos};
use super::cv::{
    candidates, cross_validate, fit_head, pool, select_ensemble, vote_score, CvResult, Fold, Groups, HeadGrid,
};
use super::embed::Embeddings;
use super::fit::HeadConfig;
use super::head::{HeadWeights, HEAD_OUTPUT};
use super::zeroshot::{self, ZeroShot};
use crate::data::synthetic::synthetic_corpus;
use crate::data::{featurize, load_corpora, Clip, ClipFeatures, Corpus, Fold as Half, ModelInput, Segments};
use crate::data::{NUM_CLASSES, OUT_OF_SET};
use crate::inference::run_outputs;
use crate::metrics::{track_probs, Probs};
use crate::musicnn::checkpoint::Checkpoint;
use crate::musicnn::onnx::{
    trunk_outputs, trunk_to_onnx, TrunkOnnxOptions, INPUT_NAME, INPUT_SHAPE, PENULTIMATE, TAGGRAM,
};
use crate::musicnn::prune::{probe_outputs, prune, Liveness};
use crate::musicnn::weights::{MusicnnWeights, PATCH_FRAMES};
use crate::training::OptimizerKind;
use anyhow::Context;
use genrescope_core::features::{FrontEndSpec, Normalization};
use genrescope_core::labels::GENRES;
use genrescope_core::model::{
    Calibration, InputSpec, MemberEntry, ModelManifest, OutOfSet, Quantization, TrunkEntry, TrunkOutput, Vote,
    VoteRule, FORMAT_VERSION, MANIFEST_FILE,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Name of the out-of-set class in the manifest.
pub const OTHER_LABEL: &str = "other";

pub struct MusicnnOptions {
    /// Corpora: GTZAN-layout folders, folders with `tracks.csv`, or CSV files.
    pub corpora: Vec<PathBuf>,
    pub out: PathBuf,
    pub work: PathBuf,
    pub cache: PathBuf,
    /// The MSD_musicnn checkpoint folder (`cargo xtask musicnn`).
    pub checkpoint: PathBuf,
    pub grid: HeadGrid,
    /// Largest ensemble considered.
    pub max_members: usize,
    pub seed: u64,
    pub threads: usize,
    /// Frames between the starts of training windows (62 ≈ 1 s).
    pub train_hop: usize,
    /// Normalize the level (the shipped choice) or feed it as is.
    pub normalize_level: bool,
    /// Cap on head epochs (smoke runs and tests).
    pub max_epochs: usize,
    /// Generated non-music clips per fold as out-of-set examples (0: none; the model then has
    /// out-of-set examples only if a corpus labels some).
    pub synthetic_per_fold: usize,
    /// Largest share of any corpus's in-set tracks the out-of-set threshold may flag (out of fold).
    pub out_of_set_budget: f32,
}

/// Step 1: all clips of all corpora in one list, with their corpus and fold.
pub struct Dataset {
    pub corpora: Vec<Corpus>,
    pub clips: Vec<Clip>,
    pub clip_corpus: Vec<usize>,
    pub fold_a: Vec<usize>,
    pub fold_b: Vec<usize>,
    pub names: Vec<String>,
}

impl Dataset {
    pub fn groups(&self) -> Groups<'_> {
        Groups { clip_corpus: &self.clip_corpus, names: &self.names }
    }

    /// Clip indices of one corpus's fold.
    pub fn half(&self, corpus: usize, half: Half) -> Vec<usize> {
        let fold = if half == Half::A { &self.fold_a } else { &self.fold_b };
        fold.iter().copied().filter(|&i| self.clip_corpus[i] == corpus).collect()
    }
}

pub fn load_data(o: &MusicnnOptions) -> anyhow::Result<Dataset> {
    let mut corpora = load_corpora(&o.corpora, o.seed)?;
    if o.synthetic_per_fold > 0 {
        corpora.push(synthetic_corpus(&o.cache.join("synthetic"), o.synthetic_per_fold, o.seed)?);
    }
    let (mut clips, mut clip_corpus, mut fold_a, mut fold_b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ci, c) in corpora.iter().enumerate() {
        for cc in &c.clips {
            let i = clips.len();
            clips.push(cc.clip.clone());
            clip_corpus.push(ci);
            if cc.fold == Half::A {
                fold_a.push(i);
            } else {
                fold_b.push(i);
            }
        }
    }
    let names = corpora.iter().map(|c| c.name.clone()).collect();
    Ok(Dataset { corpora, clips, clip_corpus, fold_a, fold_b, names })
}

/// Step 2: musicnn's front end, level-normalized with the median mean mel power of `frames`'
/// non-overlapping windows as the reference (typical clips keep their level), capped at +60 dB.
pub fn front_end(frames: &[&Vec<f32>], normalize: bool) -> anyhow::Result<(FrontEndSpec, Option<f64>)> {
    let spec = FrontEndSpec::musicnn();
    if !normalize {
        return Ok((spec, None));
    }
    let dim = spec.mel_dim();
    let len = PATCH_FRAMES * dim;
    let mut means: Vec<f64> = frames
        .iter()
        .flat_map(|f| f.chunks_exact(len).map(|w| w.iter().map(|&v| v as f64).sum::<f64>() / len as f64))
        .filter(|m| *m > 0.0)
        .collect();
    anyhow::ensure!(!means.is_empty(), "no training windows to take the level reference from");
    means.sort_by(f64::total_cmp);
    let reference = means[means.len() / 2];
    let spec = FrontEndSpec {
        normalization: Normalization::WindowMeanPower { reference: reference as f32, max_gain_db: 60.0 },
        ..spec
    };
    spec.validate()?;
    Ok((spec, Some(reference)))
}

/// Step 3: training windows (every `hop` frames) and scoring segments (side by side) of both
/// folds (A = "train", B = "valid"), all corpora together.
pub struct Windows {
    pub train_fit: Segments,
    pub train_score: Segments,
    pub valid_fit: Segments,
    pub valid_score: Segments,
}

pub fn windows(d: &Dataset, f: &ClipFeatures, input: &ModelInput, hop: usize) -> Windows {
    Windows {
        train_fit: Segments::build_hop(&d.clips, f, &d.fold_a, input, hop),
        train_score: Segments::build(&d.clips, f, &d.fold_a, input),
        valid_fit: Segments::build_hop(&d.clips, f, &d.fold_b, input, hop),
        valid_score: Segments::build(&d.clips, f, &d.fold_b, input),
    }
}

/// What pruning did, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct PruneSummary {
    /// `(layer, kept, total)`.
    pub layers: Vec<(String, usize, usize)>,
    pub macs_before: u64,
    pub macs_after: u64,
    pub pooled_before: usize,
    pub pooled_after: usize,
    /// Largest |pruned − full| on fold B's segments, per output, relative to the output's
    /// largest magnitude.
    pub max_rel_diff: Vec<(String, f32)>,
    pub probe_windows: usize,
}

/// The shipped trunk's ONNX bytes and outputs.
pub struct Trunk {
    pub weights: MusicnnWeights,
    pub onnx: Vec<u8>,
    pub outputs: Vec<(String, usize)>,
    pub summary: PruneSummary,
}

/// Step 4: probe the full trunk on fold A's training windows, prune, check on fold B.
pub fn prune_trunk(checkpoint: &Path, w: &Windows, work: &Path, threads: usize) -> anyhow::Result<Trunk> {
    let ckpt = Checkpoint::open(checkpoint)
        .with_context(|| format!("musicnn checkpoint {} (run `cargo xtask musicnn`)", checkpoint.display()))?;
    let full = MusicnnWeights::from_checkpoint(&ckpt)?;
    std::fs::create_dir_all(work)?;
    let probe_file = work.join("trunk_probe.onnx");
    std::fs::write(&probe_file, trunk_to_onnx(&full, &TrunkOnnxOptions { probe: true, ..Default::default() })?)?;
    eprintln!("trunk: probing {} training windows for dead filters", w.train_fit.len());
    let probes = run_outputs(
        &probe_file,
        INPUT_NAME,
        &INPUT_SHAPE,
        &probe_outputs(&full),
        &w.train_fit.windows,
        w.train_fit.window_len,
        threads,
    )?;
    let live = Liveness::from_probes(&full, &probes)?;
    let pruned = prune(&full, &live, PATCH_FRAMES)?;
    let onnx = trunk_to_onnx(&pruned.weights, &TrunkOnnxOptions::default())?;
    // Exactness on the held-out fold: pruned vs full outputs.
    let full_file = work.join("trunk_full.onnx");
    std::fs::write(&full_file, trunk_to_onnx(&full, &TrunkOnnxOptions::default())?)?;
    let pruned_file = work.join("trunk_pruned.onnx");
    std::fs::write(&pruned_file, &onnx)?;
    let seg = &w.valid_score;
    let fo = trunk_outputs(&full);
    let po = trunk_outputs(&pruned.weights);
    let a = run_outputs(&full_file, INPUT_NAME, &INPUT_SHAPE, &fo, &seg.windows, seg.window_len, threads)?;
    let b = run_outputs(&pruned_file, INPUT_NAME, &INPUT_SHAPE, &po, &seg.windows, seg.window_len, threads)?;
    let max_rel_diff: Vec<(String, f32)> = pruned
        .output_differences(&fo, &po, &a, &b)
        .into_iter()
        .map(|(name, diff, mag)| (name, diff / mag.max(1e-12)))
        .collect();
    let macs = |m: &MusicnnWeights| m.macs(PATCH_FRAMES).iter().map(|x| x.1).sum::<u64>();
    let summary = PruneSummary {
        layers: live.counts(),
        macs_before: macs(&full),
        macs_after: macs(&pruned.weights),
        pooled_before: full.pooled_channels(),
        pooled_after: pruned.weights.pooled_channels(),
        max_rel_diff,
        probe_windows: w.train_fit.len(),
    };
    eprintln!(
        "trunk: kept {:?}; {:.0} -> {:.0} MMAC per window; max relative change on fold B {:?}",
        summary.layers,
        summary.macs_before as f64 / 1e6,
        summary.macs_after as f64 / 1e6,
        summary.max_rel_diff
    );
    Ok(Trunk { outputs: po, weights: pruned.weights, onnx, summary })
}

/// Step 5: embeddings of every window set with the shipped trunk.
pub struct Embedded {
    pub train_fit: Embeddings,
    pub train_score: Embeddings,
    pub valid_fit: Embeddings,
    pub valid_score: Embeddings,
}

pub fn embed(trunk_file: &Path, outputs: &[(String, usize)], w: &Windows, threads: usize) -> anyhow::Result<Embedded> {
    let e = |s: &Segments| Embeddings::compute(trunk_file, INPUT_NAME, &INPUT_SHAPE, outputs, s, threads);
    eprintln!(
        "embeddings: {} + {} training windows, {} + {} scoring segments",
        w.train_fit.len(),
        w.valid_fit.len(),
        w.train_score.len(),
        w.valid_score.len()
    );
    Ok(Embedded {
        train_fit: e(&w.train_fit)?,
        train_score: e(&w.train_score)?,
        valid_fit: e(&w.valid_fit)?,
        valid_score: e(&w.valid_score)?,
    })
}

/// Step 6.
pub struct Choice {
    pub cv: Vec<CvResult>,
    pub members: Vec<usize>,
    /// Vote CV score by ensemble size tried.
    pub size_curve: Vec<f32>,
}

pub fn base_config(seed: u64, max_epochs: usize) -> HeadConfig {
    HeadConfig {
        inputs: vec![TAGGRAM.into()],
        hidden: 0,
        dropout: 0.2,
        optimizer: OptimizerKind::Adam,
        lr: 1e-3,
        weight_decay: 1e-4,
        batch_size: 64,
        max_epochs,
        patience: 8,
        seed,
        corpus_weighting: Default::default(),
    }
}

pub fn folds(e: &Embedded) -> [Fold<'_>; 2] {
    [
        Fold { name: "A→B", train: &e.train_fit, test: &e.valid_score },
        Fold { name: "B→A", train: &e.valid_fit, test: &e.train_score },
    ]
}

pub fn choose_heads(
    e: &Embedded,
    groups: Groups,
    grid: HeadGrid,
    seed: u64,
    max_epochs: usize,
    max_members: usize,
) -> anyhow::Result<Choice> {
    let cands = candidates(grid, &base_config(seed, max_epochs));
    let folds = folds(e);
    let cv = cross_validate(&cands, &folds, groups)?;
    let (members, size_curve) = select_ensemble(&cv, &folds, groups, max_members);
    Ok(Choice { cv, members, size_curve })
}

/// The taggram of every window of `e`.
fn taggram(e: &Embeddings) -> anyhow::Result<Vec<f32>> {
    Ok(e.features(&[TAGGRAM.to_string()])?.0)
}

/// Step 7: the zero-shot member's scale and vote weight, by the same CV score as the heads (its
/// tag means fitted, without labels, on each direction's training windows).
#[derive(Clone, Debug, Serialize)]
pub struct ZeroShotChoice {
    /// Weight in the vote on the genres it has tags for (0: not in the vote).
    pub alpha: f32,
    pub scale: f32,
    /// `(alpha, scale, CV score)` of every candidate.
    pub tried: Vec<(f32, f32, f32)>,
}

/// Held-out zero-shot probabilities of each direction.
fn zero_shot_held_out(e: &Embedded, scale: f32) -> anyhow::Result<Vec<Vec<Probs>>> {
    folds(e).iter().map(|f| Ok(ZeroShot::fit(&taggram(f.train)?, scale)?.probs(&taggram(f.test)?))).collect()
}

/// Out-of-fold window probabilities of the vote (heads `members`, zero-shot with `alpha`,
/// `scale`), per direction, at temperature `t`.
pub fn vote_held_out(e: &Embedded, c: &Choice, z: &ZeroShotChoice, t: Option<f32>) -> anyhow::Result<Vec<Vec<Probs>>> {
    let zs = zero_shot_held_out(e, z.scale)?;
    Ok((0..2)
        .map(|d| {
            let mut m: Vec<&[Probs]> = c.members.iter().map(|&i| c.cv[i].held_out[d].as_slice()).collect();
            m.push(&zs[d]);
            pool(&m, &zeroshot::vote_weights(c.members.len(), z.alpha), t)
        })
        .collect())
}

pub fn choose_zero_shot(e: &Embedded, groups: Groups, c: &Choice) -> anyhow::Result<ZeroShotChoice> {
    let f = folds(e);
    let mut tried = Vec::new();
    let mut best = (0.0f32, 1.0f32, f32::MIN);
    for &scale in &[1.0f32, 3.0, 10.0] {
        for &alpha in &[0.0f32, 0.25, 0.5, 0.75] {
            let z = ZeroShotChoice { alpha, scale, tried: Vec::new() };
            let s = vote_score(&vote_held_out(e, c, &z, None)?, &f, groups);
            eprintln!("zero-shot member: weight {alpha} scale {scale}: CV score {s:.3}");
            tried.push((alpha, scale, s));
            // Ties: the smaller weight (fewer assumptions).
            if s > best.2 + 1e-6 {
                best = (alpha, scale, s);
            }
        }
    }
    Ok(ZeroShotChoice { alpha: best.0, scale: best.1, tried })
}

/// ECE of one corpus's out-of-fold windows in one direction.
#[derive(Clone, Debug, Serialize)]
pub struct EceRow {
    pub direction: String,
    pub corpus: String,
    pub windows: usize,
    pub before: f32,
    pub after: f32,
    /// What a perfectly calibrated model would show on as many windows by chance.
    pub floor: f32,
}

/// Step 8: what the calibration and the out-of-set threshold were fitted on, and what they do.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationSummary {
    pub temperature: f32,
    /// Per direction and corpus, of the out-of-fold windows.
    pub ece: Vec<EceRow>,
    pub threshold: Threshold,
    /// Per corpus: `(name, in-set tracks, flagged in-set, out-of-set tracks, flagged out-of-set)`
    /// out of fold at the threshold.
    pub flags: Vec<(String, usize, usize, usize, usize)>,
}

/// The temperature is fitted on the A→B direction's held-out windows only: the direction that
/// trains on the larger fold A, like the train-only model the report scores on fold B, and closer
/// in confidence to the shipped model (A + B) than B→A, whose heads see a third of the data (pooling
/// both directions gave a temperature that left the train-only model under-confident: measured,
/// ECE 0.09–0.14 on fold B at T = 1.53 against 0.04–0.07 at T ≈ 1.2). ECE is reported for both.
pub fn calibrate(
    e: &Embedded,
    d: &Dataset,
    c: &Choice,
    z: &ZeroShotChoice,
    budget: f32,
) -> anyhow::Result<CalibrationSummary> {
    let f = folds(e);
    let raw = vote_held_out(e, c, z, None)?;
    let (mut probs, mut labels, mut corpus) = (Vec::new(), Vec::new(), Vec::new());
    for (fd, p) in f.iter().zip(&raw) {
        probs.extend_from_slice(p);
        labels.extend_from_slice(&fd.test.labels);
        corpus.extend(fd.test.track.iter().map(|&t| d.clip_corpus[fd.test.track_clip[t]]));
    }
    let a_to_b = raw[0].len();
    let temperature = fit_temperature(&probs[..a_to_b], &labels[..a_to_b]);
    let cal: Vec<Probs> = probs.iter().map(|p| with_temperature(p, temperature)).collect();
    let mut ece_rows = Vec::new();
    for (dir, range) in [("A→B", 0..a_to_b), ("B→A", a_to_b..labels.len())] {
        for k in 0..d.names.len() {
            let idx: Vec<usize> = range.clone().filter(|&i| corpus[i] == k).collect();
            if idx.is_empty() {
                continue;
            }
            let y: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
            let before: Vec<Probs> = idx.iter().map(|&i| probs[i]).collect();
            let after: Vec<Probs> = idx.iter().map(|&i| cal[i]).collect();
            ece_rows.push(EceRow {
                direction: dir.into(),
                corpus: d.names[k].clone(),
                windows: idx.len(),
                before: ece(&before, &y),
                after: ece(&after, &y),
                floor: ece_floor(&after, 50, 7),
            });
        }
    }
    let ece = ece_rows;
    // Tracks: mean calibrated probabilities over their segments.
    let mut tracks = Vec::new();
    for (fd, p) in f.iter().zip(&raw) {
        let calp: Vec<Probs> = p.iter().map(|q| with_temperature(q, temperature)).collect();
        let tp = track_probs(&calp, &fd.test.track, fd.test.track_labels.len());
        for (t, q) in tp.iter().enumerate() {
            tracks.push(TrackOos {
                corpus: d.clip_corpus[fd.test.track_clip[t]],
                other: q[OUT_OF_SET],
                is_out_of_set: fd.test.track_labels[t] == OUT_OF_SET,
            });
        }
    }
    let threshold = choose_threshold(&tracks, budget);
    let flags = (0..d.names.len())
        .filter_map(|k| {
            let of: Vec<&TrackOos> = tracks.iter().filter(|t| t.corpus == k).collect();
            (!of.is_empty()).then(|| {
                let ins = of.iter().filter(|t| !t.is_out_of_set).count();
                let ins_f = of.iter().filter(|t| !t.is_out_of_set && t.other >= threshold.threshold).count();
                let oos = of.len() - ins;
                let oos_f = of.iter().filter(|t| t.is_out_of_set && t.other >= threshold.threshold).count();
                (d.names[k].clone(), ins, ins_f, oos, oos_f)
            })
        })
        .collect();
    eprintln!(
        "calibration: temperature {temperature:.3}; out-of-set threshold {:.2} flags {:.0} % of out-of-set tracks, at most {:.1} % of a corpus's in-set tracks (out of fold)",
        threshold.threshold,
        threshold.flagged * 100.0,
        threshold.worst_false_flags * 100.0
    );
    Ok(CalibrationSummary { temperature, ece, threshold, flags })
}

/// Step 9: one model folder (trunk + heads + zero-shot member + manifest + licence).
#[allow(clippy::too_many_arguments)] // one folder's parts, each used once
pub fn write_model(
    dir: &Path,
    name: &str,
    spec: &FrontEndSpec,
    trunk: &Trunk,
    heads: &[(HeadWeights, &CvResult, usize)],
    zero_shot: Option<(&ZeroShot, f32)>,
    calibration: Option<&CalibrationSummary>,
    licence: Option<&Path>,
    notes: String,
) -> anyhow::Result<ModelManifest> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("trunk.onnx"), &trunk.onnx)?;
    let mut members = Vec::new();
    for (i, (w, cv, epochs)) in heads.iter().enumerate() {
        let bytes = w.to_onnx()?;
        let file = format!("head_{i}.onnx");
        std::fs::write(dir.join(&file), &bytes)?;
        members.push(MemberEntry {
            file,
            sha256: genrescope_core::sha256_hex(&bytes),
            quantization: Quantization::Fp32,
            inputs: w.inputs.iter().map(|i| i.0.clone()).collect(),
            output: HEAD_OUTPUT.into(),
            val_accuracy: None,
            hyperparams: Some(serde_json::json!({
                "head": cv.config, "epochs": epochs, "cv_score": cv.score,
            })),
        });
    }
    let mut weights = None;
    if let Some((z, alpha)) = zero_shot.filter(|(_, a)| *a > 0.0) {
        let bytes = z.to_onnx()?;
        let file = "zero_shot_tags.onnx".to_string();
        std::fs::write(dir.join(&file), &bytes)?;
        members.push(MemberEntry {
            file,
            sha256: genrescope_core::sha256_hex(&bytes),
            quantization: Quantization::Fp32,
            inputs: vec![zeroshot::INPUT.into()],
            output: HEAD_OUTPUT.into(),
            val_accuracy: None,
            hyperparams: Some(serde_json::json!({
                "kind": "zero-shot MSD tags", "genre_tags": zeroshot::GENRE_TAGS, "scale": z.scale, "vote_weight": alpha,
            })),
        });
        weights = Some(zeroshot::vote_weights(heads.len(), alpha));
    }
    if let Some(l) = licence {
        std::fs::copy(l, dir.join("LICENSE-musicnn.md")).with_context(|| format!("copying {}", l.display()))?;
    }
    let mut labels: Vec<String> = GENRES.iter().map(|s| s.to_string()).collect();
    labels.truncate(NUM_CLASSES - 1);
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        name: name.into(),
        labels,
        front_end: spec.clone(),
        front_end_hash: spec.hash(),
        input: InputSpec {
            name: INPUT_NAME.into(),
            shape: vec![-1, INPUT_SHAPE[0], INPUT_SHAPE[1]],
            window_frames: PATCH_FRAMES,
        },
        trunk: Some(TrunkEntry {
            file: "trunk.onnx".into(),
            sha256: genrescope_core::sha256_hex(&trunk.onnx),
            quantization: Quantization::Fp32,
            outputs: trunk.outputs.iter().map(|(n, d)| TrunkOutput { name: n.clone(), dim: *d }).collect(),
            origin: Some(
                "musicnn 0.1.0 MSD_musicnn (J. Pons, X. Serra, Music Technology Group, Universitat Pompeu Fabra), \
                 ISC licence (LICENSE-musicnn.md); dead front-end filters pruned exactly by genrescope-trainer"
                    .into(),
            ),
        }),
        members,
        embedding: Some(PENULTIMATE.into()),
        out_of_set: calibration.map(|c| OutOfSet { label: OTHER_LABEL.into(), threshold: c.threshold.threshold }),
        vote: Some(Vote { rule: VoteRule::LogLinear, weights }),
        calibration: calibration.map(|c| Calibration::Temperature { temperature: c.temperature }),
        notes: Some(notes),
    };
    manifest.write(dir, MANIFEST_FILE)?;
    Ok(manifest)
}

/// Refits the chosen configs on `train` (member `i` with seed `seed + 1000·(i+1)`).
pub fn refit(
    choice: &Choice,
    train: &Embeddings,
    groups: Groups,
    seed: u64,
) -> anyhow::Result<Vec<(HeadWeights, usize)>> {
    choice
        .members
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let cfg = HeadConfig { seed: seed.wrapping_add(1000 * (i as u64 + 1)), ..choice.cv[m].config.clone() };
            fit_head(&cfg, train, groups)
        })
        .collect()
}

/// Data counts for the report, per corpus.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusSummary {
    pub name: String,
    pub source: String,
    /// Tracks per class (the genres, then out-of-set) in fold A and fold B.
    pub per_class_a: Vec<usize>,
    pub per_class_b: Vec<usize>,
    /// Out-of-set labels and their counts.
    pub out_of_set_labels: Vec<(String, usize)>,
    pub artists: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct DataSummary {
    pub corpora: Vec<CorpusSummary>,
    pub train_tracks: usize,
    pub valid_tracks: usize,
    pub train_windows: usize,
    pub valid_windows: usize,
    pub train_segments: usize,
    pub valid_segments: usize,
    pub skipped: Vec<(String, String)>,
    pub train_hop_frames: usize,
    pub level_reference: Option<f64>,
}

pub struct Outcome {
    pub data: DataSummary,
    pub dataset: Dataset,
    pub trunk: Trunk,
    pub choice: Choice,
    pub zero_shot: ZeroShotChoice,
    pub calibration: CalibrationSummary,
    pub spec: FrontEndSpec,
    pub shipped: ModelManifest,
    pub train_only_dir: PathBuf,
    pub embedded: Embedded,
}

/// Steps 1–9.
pub fn run(o: &MusicnnOptions) -> anyhow::Result<Outcome> {
    let d = load_data(o)?;
    anyhow::ensure!(!d.fold_a.is_empty() && !d.fold_b.is_empty(), "need clips in both folds");
    for c in &d.corpora {
        eprintln!("corpus {}: {} clips ({})", c.name, c.clips.len(), c.source);
    }
    // Mel frames do not depend on the normalization: one featurize for everything.
    let frames_input = ModelInput::musicnn();
    let feats = featurize(&d.clips, &frames_input, Some(&o.cache), o.threads);
    let skipped: Vec<(String, String)> =
        feats.skipped.iter().map(|(p, w)| (p.display().to_string(), w.clone())).collect();
    for (p, w) in &skipped {
        eprintln!("skipped {p}: {w}");
    }
    let reference_frames: Vec<&Vec<f32>> = d
        .fold_a
        .iter()
        .filter(|&&i| d.clips[i].label != OUT_OF_SET)
        .filter_map(|&i| feats.frames[i].as_ref())
        .collect();
    let (spec, level_reference) = front_end(&reference_frames, o.normalize_level)?;
    let input = ModelInput { spec: spec.clone(), window_frames: PATCH_FRAMES };
    let w = windows(&d, &feats, &input, o.train_hop);
    let data = DataSummary {
        corpora: d
            .corpora
            .iter()
            .map(|c| CorpusSummary {
                name: c.name.clone(),
                source: c.source.clone(),
                per_class_a: c.per_class(Half::A),
                per_class_b: c.per_class(Half::B),
                out_of_set_labels: c.out_of_set_labels().into_iter().collect(),
                artists: {
                    let mut a: Vec<&str> = c.clips.iter().filter_map(|c| c.artist.as_deref()).collect();
                    a.sort_unstable();
                    a.dedup();
                    a.len()
                },
            })
            .collect(),
        train_tracks: w.train_score.num_tracks(),
        valid_tracks: w.valid_score.num_tracks(),
        train_windows: w.train_fit.len(),
        valid_windows: w.valid_fit.len(),
        train_segments: w.train_score.len(),
        valid_segments: w.valid_score.len(),
        skipped,
        train_hop_frames: o.train_hop,
        level_reference,
    };
    let trunk = prune_trunk(&o.checkpoint, &w, &o.work, o.threads)?;
    let trunk_file = o.work.join("trunk_pruned.onnx");
    let embedded = embed(&trunk_file, &trunk.outputs, &w, o.threads)?;
    let groups = d.groups();
    let choice = choose_heads(&embedded, groups, o.grid, o.seed, o.max_epochs, o.max_members)?;
    let zero_shot = choose_zero_shot(&embedded, groups, &choice)?;
    let calibration = calibrate(&embedded, &d, &choice, &zero_shot, o.out_of_set_budget)?;
    let licence = o.checkpoint.parent().map(|p| p.join("LICENSE.md")).filter(|p| p.is_file());
    let describe = |what: &str| {
        format!(
            "{what} Trunk: musicnn MSD_musicnn, pruned exactly ({} -> {} MMAC per window). Heads chosen by 2-fold \
             artist-disjoint CV over the corpora {} ({} + {} tracks); see REPORT.md.",
            trunk.summary.macs_before / 1_000_000,
            trunk.summary.macs_after / 1_000_000,
            d.names.join(", "),
            data.train_tracks,
            data.valid_tracks
        )
    };
    // The shipped folder: the chosen heads refit on both folds, the tags' means over both folds.
    let both = embedded.train_fit.concat(&embedded.valid_fit);
    let zs_both = ZeroShot::fit(&taggram(&both)?, zero_shot.scale)?;
    let final_heads = refit(&choice, &both, groups, o.seed)?;
    let heads: Vec<_> =
        final_heads.into_iter().zip(&choice.members).map(|((w, e), &m)| (w, &choice.cv[m], e)).collect();
    let shipped = write_model(
        &o.out,
        "genrescope-musicnn",
        &spec,
        &trunk,
        &heads,
        Some((&zs_both, zero_shot.alpha)),
        Some(&calibration),
        licence.as_deref(),
        describe("Heads fit on folds A + B."),
    )?;
    // Fold A only: what the engine runs on fold B's audio for the report.
    let train_only_dir = o.work.join("model-train-only");
    let zs_a = ZeroShot::fit(&taggram(&embedded.train_fit)?, zero_shot.scale)?;
    let a_heads = refit(&choice, &embedded.train_fit, groups, o.seed)?;
    let heads: Vec<_> = a_heads.into_iter().zip(&choice.members).map(|((w, e), &m)| (w, &choice.cv[m], e)).collect();
    write_model(
        &train_only_dir,
        "genrescope-musicnn-train-only",
        &spec,
        &trunk,
        &heads,
        Some((&zs_a, zero_shot.alpha)),
        Some(&calibration),
        licence.as_deref(),
        describe("Heads fit on fold A only (for evaluation on fold B)."),
    )?;
    Ok(Outcome { data, dataset: d, trunk, choice, zero_shot, calibration, spec, shipped, train_only_dir, embedded })
}
