//! The genre model on the musicnn trunk, end to end. Each step is a function below, in order:
//!
//! 1. [`load_clips`]: the dataset's artist-filtered split (fold A = train, fold B = valid);
//! 2. [`front_end`]: musicnn's front end with a window level normalization whose reference is
//!    the training windows' median mean mel power;
//! 3. [`windows`]: training windows every `train_hop` frames and non-overlapping scoring segments;
//! 4. [`prune_trunk`]: the checkpoint's trunk, dead front-end filters found on fold A's windows and
//!    removed exactly, checked on fold B;
//! 5. [`embed`]: the pruned trunk's outputs (the exact trunk that ships) for every window;
//! 6. [`choose_heads`]: head grid by 2-fold artist-disjoint CV, greedy soft-voting ensemble;
//! 7. [`refit`] + [`write_model`]: the chosen heads refit on A ∪ B → the `--out` folder, and on
//!    A alone → a "train-only" folder that the engine then runs on fold B's audio (REPORT's engine
//!    numbers, `heads::report`).
use super::cv::{candidates, cross_validate, fit_head, select_ensemble, CvResult, Fold, HeadGrid};
use super::embed::Embeddings;
use super::fit::HeadConfig;
use super::head::{HeadWeights, HEAD_OUTPUT};
use crate::data::{featurize, scan, split, Clip, ClipFeatures, ModelInput, Segments};
use crate::inference::run_outputs;
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
    InputSpec, MemberEntry, ModelManifest, Quantization, TrunkEntry, TrunkOutput, FORMAT_VERSION, MANIFEST_FILE,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct MusicnnOptions {
    pub data: PathBuf,
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
    /// Normalize each window's mean mel power (the shipped choice) or feed the level as is.
    pub normalize_level: bool,
    /// Cap on head epochs (smoke runs and tests).
    pub max_epochs: usize,
}

/// Step 1.
pub struct Clips {
    pub train: Vec<Clip>,
    pub valid: Vec<Clip>,
    pub source: String,
}

pub fn load_clips(root: &Path, seed: u64) -> anyhow::Result<Clips> {
    let all = scan(root)?;
    let sp = split(root, &all, 0.2, seed)?;
    Ok(Clips {
        train: sp.train.iter().map(|&i| all[i].clone()).collect(),
        valid: sp.valid.iter().map(|&i| all[i].clone()).collect(),
        source: sp.source,
    })
}

/// Step 2: musicnn's front end, level-normalized with the median mean mel power of fold A's
/// non-overlapping windows as the reference (typical clips keep their level), capped at +60 dB.
pub fn front_end(train_frames: &ClipFeatures, normalize: bool) -> anyhow::Result<(FrontEndSpec, Option<f64>)> {
    let spec = FrontEndSpec::musicnn();
    if !normalize {
        return Ok((spec, None));
    }
    let dim = spec.mel_dim();
    let len = PATCH_FRAMES * dim;
    let mut means: Vec<f64> = train_frames
        .frames
        .iter()
        .flatten()
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

/// Step 3: training windows (every `hop` frames) and scoring segments (side by side) of both folds.
pub struct Windows {
    pub train_fit: Segments,
    pub train_score: Segments,
    pub valid_fit: Segments,
    pub valid_score: Segments,
}

pub fn windows(c: &Clips, tf: &ClipFeatures, vf: &ClipFeatures, input: &ModelInput, hop: usize) -> Windows {
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    Windows {
        train_fit: Segments::build_hop(&c.train, tf, &all(c.train.len()), input, hop),
        train_score: Segments::build(&c.train, tf, &all(c.train.len()), input),
        valid_fit: Segments::build_hop(&c.valid, vf, &all(c.valid.len()), input, hop),
        valid_score: Segments::build(&c.valid, vf, &all(c.valid.len()), input),
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
    /// Soft-vote CV score by ensemble size tried.
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
    }
}

pub fn folds(e: &Embedded) -> [Fold<'_>; 2] {
    [
        Fold { name: "train→valid", train: &e.train_fit, test: &e.valid_score },
        Fold { name: "valid→train", train: &e.valid_fit, test: &e.train_score },
    ]
}

pub fn choose_heads(
    e: &Embedded,
    grid: HeadGrid,
    seed: u64,
    max_epochs: usize,
    max_members: usize,
) -> anyhow::Result<Choice> {
    let cands = candidates(grid, &base_config(seed, max_epochs));
    let folds = folds(e);
    let cv = cross_validate(&cands, &folds)?;
    let (members, size_curve) = select_ensemble(&cv, &folds, max_members);
    Ok(Choice { cv, members, size_curve })
}

/// Step 7: one model folder (trunk + heads + manifest + licence).
pub fn write_model(
    dir: &Path,
    name: &str,
    spec: &FrontEndSpec,
    trunk: &Trunk,
    heads: &[(HeadWeights, &CvResult, usize)],
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
            val_accuracy: cv.directions.first().map(|d| d.track.accuracy),
            hyperparams: Some(serde_json::json!({
                "head": cv.config, "epochs": epochs, "cv_score_balanced_track": cv.score,
            })),
        });
    }
    if let Some(l) = licence {
        std::fs::copy(l, dir.join("LICENSE-musicnn.md")).with_context(|| format!("copying {}", l.display()))?;
    }
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        name: name.into(),
        labels: GENRES.iter().map(|s| s.to_string()).collect(),
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
        out_of_set: None,
        vote: None,
        calibration: None,
        notes: Some(notes),
    };
    manifest.write(dir, MANIFEST_FILE)?;
    Ok(manifest)
}

/// Refits the chosen configs on `train` (member `i` with seed `seed + 1000·(i+1)`).
pub fn refit(choice: &Choice, train: &Embeddings, seed: u64) -> anyhow::Result<Vec<(HeadWeights, usize)>> {
    choice
        .members
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let cfg = HeadConfig { seed: seed.wrapping_add(1000 * (i as u64 + 1)), ..choice.cv[m].config.clone() };
            fit_head(&cfg, train)
        })
        .collect()
}

/// Data counts for the report.
#[derive(Clone, Debug, Serialize)]
pub struct DataSummary {
    pub source: String,
    pub train_tracks: usize,
    pub valid_tracks: usize,
    pub train_windows: usize,
    pub valid_windows: usize,
    pub train_segments: usize,
    pub valid_segments: usize,
    pub train_per_genre: Vec<usize>,
    pub valid_per_genre: Vec<usize>,
    pub skipped: Vec<(String, String)>,
    pub train_hop_frames: usize,
    pub level_reference: Option<f64>,
}

pub struct Outcome {
    pub data: DataSummary,
    pub trunk: Trunk,
    pub choice: Choice,
    pub spec: FrontEndSpec,
    pub shipped: ModelManifest,
    pub train_only_dir: PathBuf,
    pub embedded: Embedded,
}

/// Steps 1–7.
pub fn run(o: &MusicnnOptions) -> anyhow::Result<Outcome> {
    let clips = load_clips(&o.data, o.seed)?;
    anyhow::ensure!(!clips.train.is_empty() && !clips.valid.is_empty(), "need clips in both folds");
    // Mel frames do not depend on the normalization: one featurize for both.
    let frames_input = ModelInput::musicnn();
    let tf = featurize(&clips.train, &frames_input, Some(&o.cache), o.threads);
    let vf = featurize(&clips.valid, &frames_input, Some(&o.cache), o.threads);
    let skipped: Vec<(String, String)> =
        tf.skipped.iter().chain(&vf.skipped).map(|(p, w)| (p.display().to_string(), w.clone())).collect();
    for (p, w) in &skipped {
        eprintln!("skipped {p}: {w}");
    }
    let (spec, level_reference) = front_end(&tf, o.normalize_level)?;
    let input = ModelInput { spec: spec.clone(), window_frames: PATCH_FRAMES };
    let w = windows(&clips, &tf, &vf, &input, o.train_hop);
    let per_genre = |s: &Segments| {
        let mut v = vec![0; GENRES.len()];
        s.track_labels.iter().for_each(|&l| v[l] += 1);
        v
    };
    let data = DataSummary {
        source: clips.source.clone(),
        train_tracks: w.train_score.num_tracks(),
        valid_tracks: w.valid_score.num_tracks(),
        train_windows: w.train_fit.len(),
        valid_windows: w.valid_fit.len(),
        train_segments: w.train_score.len(),
        valid_segments: w.valid_score.len(),
        train_per_genre: per_genre(&w.train_score),
        valid_per_genre: per_genre(&w.valid_score),
        skipped,
        train_hop_frames: o.train_hop,
        level_reference,
    };
    let trunk = prune_trunk(&o.checkpoint, &w, &o.work, o.threads)?;
    let trunk_file = o.work.join("trunk_pruned.onnx");
    let embedded = embed(&trunk_file, &trunk.outputs, &w, o.threads)?;
    let choice = choose_heads(&embedded, o.grid, o.seed, o.max_epochs, o.max_members)?;
    let licence = o.checkpoint.parent().map(|p| p.join("LICENSE.md")).filter(|p| p.is_file());
    let describe = |what: &str| {
        format!(
            "{what} Trunk: musicnn MSD_musicnn, pruned exactly ({} -> {} MMAC per window). Heads chosen by 2-fold \
             artist-disjoint CV on {} ({} + {} tracks); see REPORT.md.",
            trunk.summary.macs_before / 1_000_000,
            trunk.summary.macs_after / 1_000_000,
            clips.source,
            data.train_tracks,
            data.valid_tracks
        )
    };
    // The shipped folder: the chosen heads refit on both folds.
    let both = embedded.train_fit.concat(&embedded.valid_fit);
    let final_heads = refit(&choice, &both, o.seed)?;
    let heads: Vec<_> =
        final_heads.into_iter().zip(&choice.members).map(|((w, e), &m)| (w, &choice.cv[m], e)).collect();
    let shipped = write_model(
        &o.out,
        "genrescope-musicnn-gtzan",
        &spec,
        &trunk,
        &heads,
        licence.as_deref(),
        describe("Heads fit on train + valid."),
    )?;
    // Fold A only: what the engine runs on fold B's audio for the report.
    let train_only_dir = o.work.join("model-train-only");
    let a_heads = refit(&choice, &embedded.train_fit, o.seed)?;
    let heads: Vec<_> = a_heads.into_iter().zip(&choice.members).map(|((w, e), &m)| (w, &choice.cv[m], e)).collect();
    write_model(
        &train_only_dir,
        "genrescope-musicnn-gtzan-train-only",
        &spec,
        &trunk,
        &heads,
        licence.as_deref(),
        describe("Heads fit on train only (for evaluation on valid)."),
    )?;
    Ok(Outcome { data, trunk, choice, spec, shipped, train_only_dir, embedded })
}
