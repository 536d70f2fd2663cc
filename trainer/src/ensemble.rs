//! The whole training run: data -> cross-validated grid -> retrained members -> soft-voting
//! ensemble -> evaluation on the validation split -> fp32 + int8 ONNX export.
use crate::data::{featurize, scan, split, ModelInput, Segments};
use crate::export::{write_model_dir, ExportMember};
use crate::grid::{candidates, cross_validate, select, CvResult, GridSize};
use crate::metrics::{evaluate_both, soft_vote, Evaluation};
use crate::model::{Cnn, CnnConfig};
use crate::quantize::{ActivationRanges, RangeRecorder};
use crate::training::{normalize, predict, train, EpochStats, TrainConfig};
use burn::prelude::*;
use genrescope_core::model::Quantization;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct TrainOptions {
    pub data: PathBuf,
    pub out: PathBuf,
    /// Checkpoints, CV runs, plots and the JSON summary.
    pub work: PathBuf,
    pub cache: Option<PathBuf>,
    pub grid: GridSize,
    pub folds: usize,
    pub members: usize,
    pub seed: u64,
    /// Overrides the grid's epoch cap (tests, smoke runs).
    pub max_epochs: Option<usize>,
    pub threads: usize,
    /// Hop between the starts of training windows, in frames; `None` = non-overlapping
    /// (hop = window length). CV held-out folds and validation always use non-overlapping
    /// segments.
    pub train_hop_frames: Option<usize>,
    /// Class-weighted loss (see `TrainConfig::class_balanced`).
    pub class_balanced: bool,
}

#[derive(Serialize)]
pub struct MemberSummary {
    pub config: TrainConfig,
    pub cv_accuracy: f32,
    pub epochs: usize,
    pub valid_segment: Evaluation,
    pub valid_track: Evaluation,
    pub history: Vec<EpochStats>,
}

#[derive(Serialize)]
pub struct Summary {
    pub data: String,
    pub split_source: String,
    pub train_tracks: usize,
    pub train_segments: usize,
    /// Hop between training windows in frames (= window length when non-overlapping).
    pub train_hop_frames: usize,
    /// Windows the members (and CV folds) trained on.
    pub train_windows: usize,
    pub valid_tracks: usize,
    pub valid_segments: usize,
    pub skipped: Vec<(String, String)>,
    pub cv: Vec<CvResult>,
    pub members: Vec<MemberSummary>,
    pub ensemble_segment: Evaluation,
    pub ensemble_track: Evaluation,
    pub model_dir: String,
}

pub struct LoadedData {
    /// Non-overlapping segments of the training tracks (CV scores, normalization, calibration).
    pub train: Segments,
    /// Training windows every `hop` frames (same tracks and order as `train`).
    pub train_windows: Segments,
    pub valid: Segments,
    pub split_source: String,
    pub skipped: Vec<(PathBuf, String)>,
}

pub fn load_data(
    root: &Path,
    input: &ModelInput,
    cache: Option<&Path>,
    seed: u64,
    threads: usize,
    train_hop_frames: Option<usize>,
) -> anyhow::Result<LoadedData> {
    let clips = scan(root)?;
    let sp = split(root, &clips, 0.2, seed)?;
    let wanted: Vec<usize> = sp.train.iter().chain(&sp.valid).copied().collect();
    let subset: Vec<_> = wanted.iter().map(|&i| clips[i].clone()).collect();
    let feats = featurize(&subset, input, cache, threads);
    let n_train = sp.train.len();
    let train_idx: Vec<usize> = (0..n_train).collect();
    let train = Segments::build(&subset, &feats, &train_idx, input);
    let hop = train_hop_frames.unwrap_or(input.window_frames);
    let train_windows = Segments::build_hop(&subset, &feats, &train_idx, input, hop);
    let valid = Segments::build(&subset, &feats, &(n_train..subset.len()).collect::<Vec<_>>(), input);
    for (p, why) in &feats.skipped {
        eprintln!("skipped {}: {why}", p.display());
    }
    Ok(LoadedData { train, train_windows, valid, split_source: sp.source, skipped: feats.skipped })
}

/// Min/max of every quantization point over `norm` windows, using the burn model.
pub fn calibrate_burn(model: &Cnn, cfg: &CnnConfig, norm: &[f32], n: usize) -> ActivationRanges {
    let device = crate::backend::device();
    let wl = cfg.frames * cfg.dim;
    let mut rec = RangeRecorder::new(cfg.depth);
    rec.record_input(&norm[..n * wl]);
    for start in (0..n).step_by(128) {
        let end = (start + 128).min(n);
        let x = Tensor::<4>::from_data(
            TensorData::new(norm[start * wl..end * wl].to_vec(), [end - start, 1, cfg.frames, cfg.dim]),
            &device,
        );
        let t = model.forward_trace(x, true);
        let mm = |t: Tensor<4>| [t.clone().min().into_scalar::<f32>(), t.max().into_scalar::<f32>()];
        for (i, b) in t.block_relu.into_iter().enumerate() {
            rec.record_block(i, &mm(b));
        }
        let h = t.hidden_relu;
        rec.record_hidden(&[h.clone().min().into_scalar::<f32>(), h.max().into_scalar::<f32>()]);
    }
    rec.finish()
}

pub fn run(opts: &TrainOptions, feat_cfg: &ModelInput) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(&opts.work)?;
    let data = load_data(&opts.data, feat_cfg, opts.cache.as_deref(), opts.seed, opts.threads, opts.train_hop_frames)?;
    let (tr, va) = (&data.train, &data.valid);
    let tw = &data.train_windows;
    let hop = opts.train_hop_frames.unwrap_or(feat_cfg.window_frames);
    eprintln!(
        "data: {} train tracks / {} segments ({} training windows, hop {} frames), {} valid tracks / {} segments ({})",
        tr.num_tracks(),
        tr.len(),
        tw.len(),
        hop,
        va.num_tracks(),
        va.len(),
        data.split_source
    );
    anyhow::ensure!(!tr.is_empty() && !va.is_empty(), "need training and validation segments");
    let dim = feat_cfg.frame_dim();

    let mut base = TrainConfig { seed: opts.seed, class_balanced: opts.class_balanced, ..Default::default() };
    base.model.frames = feat_cfg.window_frames;
    base.model.dim = dim;
    if let Some(e) = opts.max_epochs {
        base.max_epochs = e;
        base.patience = base.patience.min(e);
    }
    let cands = candidates(opts.grid, &base);
    let cv = cross_validate(&cands, tr, Some(tw), opts.folds, dim, Some(&opts.work))?;
    let chosen = select(&cv, opts.members);

    // Members: the chosen configs retrained on all training tracks for their CV epoch count,
    // each with its own seed. The validation split stays unseen until evaluation.
    let (mean, inv_std) = tr.coefficient_stats(dim);
    let train_norm = normalize(tr, &mean, &inv_std);
    let valid_norm = normalize(va, &mean, &inv_std);
    let mut members = Vec::new();
    let mut exports = Vec::new();
    let mut member_probs = Vec::new();
    for (i, c) in chosen.iter().enumerate() {
        let mut cfg = c.config.clone();
        cfg.seed = opts.seed.wrapping_add(1000 * (i as u64 + 1));
        cfg.max_epochs = c.retrain_epochs();
        let ckpt = opts.work.join(format!("member{i}"));
        let t = train(&cfg, tw, None, &mean, &inv_std, Some(&ckpt), &format!("member {}/{}", i + 1, chosen.len()))?;
        let probs = predict(&t.model, &cfg.model, &valid_norm, va.len());
        let (seg_e, track_e) = evaluate_both(&probs, va);
        eprintln!(
            "member {i}: valid segment acc {:.3} ({}/{}), track acc {:.3} ({}/{})",
            seg_e.accuracy, seg_e.correct, seg_e.count, track_e.accuracy, track_e.correct, track_e.count
        );
        let weights = t.model.to_weights(&cfg.model, &mean, &inv_std);
        let ranges = calibrate_burn(&t.model, &cfg.model, &train_norm, tr.len());
        exports.push(ExportMember {
            weights,
            ranges: Some(ranges),
            val_accuracy: Some(seg_e.accuracy),
            hyperparams: Some(serde_json::json!({
                "optimizer": cfg.optimizer, "lr": cfg.lr, "dropout": cfg.model.dropout,
                "width": cfg.model.width, "depth": cfg.model.depth, "hidden": cfg.model.hidden,
                "epochs": cfg.max_epochs, "batch_size": cfg.batch_size, "weight_decay": cfg.weight_decay,
                "seed": cfg.seed, "cv_accuracy": c.mean_accuracy,
            })),
        });
        member_probs.push(probs);
        members.push(MemberSummary {
            config: cfg.clone(),
            cv_accuracy: c.mean_accuracy,
            epochs: cfg.max_epochs,
            valid_segment: seg_e,
            valid_track: track_e,
            history: t.history,
        });
    }
    let ens = soft_vote(&member_probs);
    let (ensemble_segment, ensemble_track) = evaluate_both(&ens, va);
    eprintln!(
        "ensemble: valid segment acc {:.3} ({}/{}), track acc {:.3} ({}/{})",
        ensemble_segment.accuracy,
        ensemble_segment.correct,
        ensemble_segment.count,
        ensemble_track.accuracy,
        ensemble_track.correct,
        ensemble_track.count
    );

    let notes = format!(
        "Trained by genrescope-trainer on {} ({} train tracks / {} windows of 130 frames every {} frames; split: {}). \
         Members chosen by {}-fold track CV on the training tracks, retrained on all of them; \
         validation split ({} tracks / {} segments) used only for evaluation. \
         Ensemble valid accuracy: segment {:.3}, track {:.3}.",
        opts.data.display(),
        tr.num_tracks(),
        tw.len(),
        hop,
        data.split_source,
        opts.folds,
        va.num_tracks(),
        va.len(),
        ensemble_segment.accuracy,
        ensemble_track.accuracy
    );
    let name = "genrescope-gtzan-cnn-ensemble";
    write_model_dir(&opts.out, feat_cfg, name, &exports, Quantization::Int8Qdq, "manifest.json", Some(notes.clone()))?;
    write_model_dir(
        &opts.out,
        feat_cfg,
        name,
        &exports,
        Quantization::Fp32,
        crate::export::FP32_MANIFEST_FILE,
        Some(notes),
    )?;

    let summary = Summary {
        data: opts.data.display().to_string(),
        split_source: data.split_source.clone(),
        train_tracks: tr.num_tracks(),
        train_segments: tr.len(),
        train_hop_frames: hop,
        train_windows: tw.len(),
        valid_tracks: va.num_tracks(),
        valid_segments: va.len(),
        skipped: data.skipped.iter().map(|(p, w)| (p.display().to_string(), w.clone())).collect(),
        cv,
        members,
        ensemble_segment,
        ensemble_track,
        model_dir: opts.out.display().to_string(),
    };
    std::fs::write(opts.work.join("summary.json"), serde_json::to_string_pretty(&summary)?)?;
    crate::plots::confusion_png(
        &summary.ensemble_segment,
        &opts.work.join("confusion_valid_segments.png"),
        "ensemble, valid segments",
    )?;
    let mut curves = Vec::new();
    for (i, c) in chosen.iter().enumerate() {
        for (f, h) in c.fold_history.iter().enumerate() {
            curves.push((format!("m{i} cv fold {f}"), h.clone()));
        }
    }
    crate::plots::curves_png(&curves, &opts.work.join("training_curves.png"))?;
    Ok(summary)
}
