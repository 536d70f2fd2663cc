//! `augment-cv`: what each augmentation of the training audio does, by the `train` run's 2-fold
//! artist-disjoint CV (train on fold A, score fold B, and the other way round).
//!
//! Each row trains the same heads on a fold's training windows plus the windows of augmented copies
//! of that fold's clips (`data::augment`, one or more kinds; a copy's windows join its original's
//! track, so early stopping's track split keeps them together), and scores the held-out fold:
//! - as is (the CV score, as `heads::cv`: mean over both directions of the mean over corpora of
//!   the track-level balanced accuracy; also per corpus);
//! - its in-set clips re-rendered at −20 dB and +10 dB, through an mp3 encoder at 96 kbit/s
//!   (ffmpeg), and with each augmentation kind applied (one seeded draw per clip, the same for
//!   every row): robustness.
//!
//! Every corpus (`--corpus`, as `train`) is split into folds and trained on; the former `--extra`
//! column (a `tracks.csv` corpus scored unseen) is now that corpus's own per-corpus CV column.
//!
//! Head sets: the soft-voting ensemble that `train`'s CV picks on the baseline (its configs, refit
//! per row; picked on the same folds, so the baseline has a slight edge), and one fixed linear head
//! on taggram + penultimate that no selection touched.
use super::{cv_ensemble, embed_cached, ensemble_probs, prepare, set_score, with_copies, CommonOptions, Prepared};
use crate::audio::load_mono;
use crate::data::augment::{
    featurize_augmented, featurize_renders, plan, plan_clips, Augment, AugmentedClip, Transform,
};
use crate::data::{featurize, Clip, Segments, OUT_OF_SET};
use crate::heads::cv::{fit_head, Groups, HeadGrid};
use crate::heads::embed::Embeddings;
use crate::heads::fit::HeadConfig;
use crate::heads::head::HeadWeights;
use crate::heads::run::base_config;
use crate::musicnn::onnx::{PENULTIMATE, TAGGRAM};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub struct AugmentCvOptions {
    pub common: CommonOptions,
    /// One row per entry: the kinds whose copies are added (empty: the baseline).
    pub rows: Vec<Vec<Augment>>,
    /// Augmented copies per clip and kind.
    pub copies: usize,
    /// Head trainings per row (seeds): scores are their mean, the CV column also gives their spread.
    pub head_seeds: usize,
    pub grid: HeadGrid,
    pub max_members: usize,
    /// Folder for `augment-cv.md` and `augment-cv.json`.
    pub out: PathBuf,
}

/// `none,gain,eq+noise,all` → rows (`none` = baseline, `all` = every kind, `+` joins kinds).
pub fn parse_rows(s: &str) -> anyhow::Result<Vec<Vec<Augment>>> {
    use clap::ValueEnum;
    s.split(',')
        .map(|row| match row.trim() {
            "none" => Ok(vec![]),
            "all" => Ok(Augment::ALL.to_vec()),
            r => r
                .split('+')
                .map(|k| Augment::from_str(k.trim(), true).map_err(|e| anyhow::anyhow!("augmentation {k:?}: {e}")))
                .collect(),
        })
        .collect()
}

fn row_name(kinds: &[Augment]) -> String {
    if kinds.is_empty() {
        "none (baseline)".into()
    } else if kinds.len() == Augment::ALL.len() {
        "all".into()
    } else {
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join("+")
    }
}

/// How held-out audio is changed before scoring.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Variant {
    AsIs,
    Gain(f32),
    /// ffmpeg libmp3lame at this many kbit/s and back.
    Mp3(u32),
    /// One draw of an augmentation kind per clip.
    Augmented(Augment),
}

impl Variant {
    pub fn label(&self) -> String {
        match self {
            Variant::AsIs => "as is (CV)".into(),
            Variant::Gain(db) => format!("{db:+} dB"),
            Variant::Mp3(k) => format!("mp3 {k}k"),
            Variant::Augmented(a) => a.name().into(),
        }
    }
}

/// Scored sets: per variant the two folds' scoring segments.
struct EvalSet {
    name: String,
    /// `[fold A, fold B]` (direction d scores fold 1 − d).
    sets: [Embeddings; 2],
}

/// One cell: a set scored by a head set, over both directions.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub set: String,
    /// Mean over the directions of the mean per-corpus track-level balanced accuracy.
    pub balanced: f32,
    pub accuracy: f32,
    /// `(corpus, balanced accuracy)`, mean over the directions.
    pub per_corpus: Vec<(String, f32)>,
    pub tracks: usize,
    /// Per scored track (both directions, in order): right or wrong; for paired comparisons.
    pub correct: Vec<bool>,
    /// `balanced` of each head seed (`balanced` is their mean).
    pub seeds: Vec<f32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RowResult {
    pub row: String,
    pub heads: String,
    pub training_windows: [usize; 2],
    pub cells: Vec<Cell>,
    pub fit_seconds: f32,
}

#[derive(Serialize)]
pub struct AugmentCvReport {
    pub heads: Vec<(String, Vec<HeadConfig>)>,
    pub rows: Vec<RowResult>,
    pub notes: Vec<String>,
}

fn mp3_render(clip: &Clip, kbps: u32, tmp: &Path, i: usize) -> anyhow::Result<(Vec<f32>, u32)> {
    let enc = tmp.join(format!("variant-{i}.mp3"));
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(&clip.path)
        .args(["-c:a", "libmp3lame", "-b:a", &format!("{kbps}k")])
        .arg(&enc)
        .status()?;
    anyhow::ensure!(st.success(), "ffmpeg failed on {}", clip.path.display());
    let r = load_mono(&enc);
    let _ = std::fs::remove_file(&enc);
    r
}

/// Scoring segments of the dataset's clips `fold` under `variant` (a fresh draw per clip for
/// augmentation kinds).
fn variant_embeddings(p: &Prepared, o: &AugmentCvOptions, fold: &[usize], v: &Variant) -> anyhow::Result<Embeddings> {
    let c = &o.common;
    let clips: Vec<Clip> = fold.iter().map(|&i| p.data.clips[i].clone()).collect();
    let clips = clips.as_slice();
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let (vclips, feats) = match v {
        Variant::AsIs => (clips.to_vec(), featurize(clips, &p.input, Some(&c.cache), c.threads)),
        Variant::Gain(db) => {
            let pl: Vec<AugmentedClip> = (0..clips.len())
                .map(|i| AugmentedClip {
                    clip: i,
                    kind: Augment::Gain,
                    transform: Transform::Gain { db: *db },
                    seed: 0,
                })
                .collect();
            (plan_clips(clips, &pl), featurize_augmented(clips, &pl, &p.input, Some(&c.cache), c.threads))
        }
        Variant::Mp3(kbps) => {
            let tmp = c.dir().join("tmp");
            std::fs::create_dir_all(&tmp)?;
            let items: Vec<(usize, String)> =
                (0..clips.len()).map(|i| (i, format!("ffmpeg libmp3lame {kbps}k"))).collect();
            let f = featurize_renders(
                clips,
                &items,
                |i| mp3_render(&clips[i], *kbps, &tmp, i),
                &p.input,
                Some(&c.cache),
                c.threads,
            );
            (clips.to_vec(), f)
        }
        Variant::Augmented(kind) => {
            // Another seed than the training copies': held-out clips get draws of their own.
            let pl = plan(clips, &[*kind], 1, c.seed ^ 0x6576_616c);
            (plan_clips(clips, &pl), featurize_augmented(clips, &pl, &p.input, Some(&c.cache), c.threads))
        }
    };
    for (path, why) in &feats.skipped {
        eprintln!("{}: skipped {}: {why}", v.label(), path.display());
    }
    let seg = Segments::build(&vclips, &feats, &all(vclips.len()), &p.input);
    let mut e = embed_cached(&p.trunk_file, &p.outputs, &seg, &c.dir(), c.threads)?;
    // `vclips[k]` is (a render of) `clips[k]`: back to the dataset's clip indices, for the corpora.
    e.track_clip = e.track_clip.iter().map(|&k| fold[k]).collect();
    Ok(e)
}

/// Training windows of `copies` augmented copies of the dataset's clips `fold` for `kind`.
fn copy_embeddings(p: &Prepared, o: &AugmentCvOptions, fold: &[usize], kind: Augment) -> anyhow::Result<Embeddings> {
    let c = &o.common;
    let clips: Vec<Clip> = fold.iter().map(|&i| p.data.clips[i].clone()).collect();
    let clips = clips.as_slice();
    let pl = plan(clips, &[kind], o.copies, c.seed);
    let feats = featurize_augmented(clips, &pl, &p.input, Some(&c.cache), c.threads);
    for (path, why) in &feats.skipped {
        eprintln!("copies {}: skipped {}: {why}", kind.name(), path.display());
    }
    let pc = plan_clips(clips, &pl);
    let seg = Segments::build_hop(&pc, &feats, &(0..pc.len()).collect::<Vec<_>>(), &p.input, c.train_hop);
    embed_cached(&p.trunk_file, &p.outputs, &seg, &c.dir(), c.threads)
}

/// Cells averaged over head seeds (the per-track verdicts are the first seed's).
fn mean_over_seeds(per_seed: Vec<Vec<Cell>>) -> Vec<Cell> {
    let n = per_seed.len() as f32;
    let mut out = per_seed[0].clone();
    for (j, cell) in out.iter_mut().enumerate() {
        cell.seeds = per_seed.iter().map(|s| s[j].balanced).collect();
        cell.balanced = cell.seeds.iter().sum::<f32>() / n;
        cell.accuracy = per_seed.iter().map(|s| s[j].accuracy).sum::<f32>() / n;
        for (k, pc) in cell.per_corpus.iter_mut().enumerate() {
            pc.1 = per_seed.iter().map(|s| s[j].per_corpus[k].1).sum::<f32>() / n;
        }
    }
    out
}

/// Track-level scores of `heads[d]` (direction d's heads) on the set, per corpus.
fn score_set(heads: &[Vec<HeadWeights>; 2], set: &EvalSet, groups: Groups) -> anyhow::Result<Cell> {
    let (mut bal, mut acc, mut tracks, mut correct) = (0.0, 0.0, 0, Vec::new());
    let mut per_corpus: Vec<(String, f32)> = Vec::new();
    for (d, h) in heads.iter().enumerate() {
        let e = &set.sets[1 - d];
        let s = set_score(&ensemble_probs(h, e)?, e, groups);
        bal += s.balanced / 2.0;
        acc += s.accuracy / 2.0;
        tracks += s.tracks;
        correct.extend(s.correct);
        for (name, v) in s.per_corpus {
            match per_corpus.iter_mut().find(|x| x.0 == name) {
                Some(x) => x.1 += v / 2.0,
                None => per_corpus.push((name, v / 2.0)),
            }
        }
    }
    Ok(Cell { set: set.name.clone(), balanced: bal, accuracy: acc, per_corpus, tracks, correct, seeds: vec![bal] })
}

pub fn run(o: &AugmentCvOptions) -> anyhow::Result<AugmentCvReport> {
    let c = &o.common;
    let p = prepare(c)?;
    let groups = p.groups();
    let mut notes = Vec::new();
    let chosen = cv_ensemble(&p, o.grid, o.max_members, c)?;
    let fixed = HeadConfig { inputs: vec![TAGGRAM.into(), PENULTIMATE.into()], ..base_config(c.seed, c.max_epochs) };
    let head_sets = vec![("CV ensemble".to_string(), chosen), ("linear taggram+penultimate".to_string(), vec![fixed])];

    // Scored sets.
    let mut variants = vec![Variant::AsIs, Variant::Gain(-20.0), Variant::Gain(10.0)];
    if crate::heads::evaluate::ffmpeg_version().is_some() {
        variants.push(Variant::Mp3(96));
    } else {
        notes.push("ffmpeg not installed: no mp3 column".into());
    }
    variants.extend(Augment::ALL.map(Variant::Augmented));
    let mut sets = Vec::new();
    for v in &variants {
        let t = Instant::now();
        // Variants of the in-set clips only: out-of-set tracks are not part of the score.
        let in_set = |f: &[usize]| -> Vec<usize> {
            f.iter().copied().filter(|&i| p.data.clips[i].label != OUT_OF_SET).collect()
        };
        let folds = match v {
            Variant::AsIs => [p.train_score.clone(), p.valid_score.clone()],
            _ => [
                variant_embeddings(&p, o, &in_set(&p.data.fold_a), v)?,
                variant_embeddings(&p, o, &in_set(&p.data.fold_b), v)?,
            ],
        };
        eprintln!("scored set {}: {:.0} s", v.label(), t.elapsed().as_secs_f32());
        sets.push(EvalSet { name: v.label(), sets: folds });
    }
    // Augmented copies of each fold's clips, per kind used by any row.
    let kinds: BTreeSet<Augment> = o.rows.iter().flatten().copied().collect();
    let mut copies = std::collections::HashMap::new();
    for &k in &kinds {
        let t = Instant::now();
        let a = copy_embeddings(&p, o, &p.data.fold_a, k)?;
        let b = copy_embeddings(&p, o, &p.data.fold_b, k)?;
        eprintln!("copies {}: {} + {} windows, {:.0} s", k.name(), a.len(), b.len(), t.elapsed().as_secs_f32());
        copies.insert(k, [a, b]);
    }

    let mut rows = Vec::new();
    for kinds in &o.rows {
        let mut train = [p.train_fit.clone(), p.valid_fit.clone()];
        for k in kinds {
            for (f, t) in train.iter_mut().enumerate() {
                *t = with_copies(t, &copies[k][f]);
            }
        }
        for (hname, cfgs) in &head_sets {
            let t = Instant::now();
            let mut per_seed: Vec<Vec<Cell>> = Vec::new();
            for s in 0..o.head_seeds.max(1) {
                let seed = c.seed.wrapping_add(7919 * s as u64);
                let fit = |d: usize| {
                    cfgs.iter()
                        .enumerate()
                        .map(|(i, cfg)| {
                            let cfg = HeadConfig { seed: seed.wrapping_add(1000 * (i as u64 + 1)), ..cfg.clone() };
                            fit_head(&cfg, &train[d], groups).map(|w| w.0)
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                };
                let heads = [fit(0)?, fit(1)?];
                per_seed.push(sets.iter().map(|s| score_set(&heads, s, groups)).collect::<anyhow::Result<Vec<_>>>()?);
            }
            let fit_seconds = t.elapsed().as_secs_f32();
            let cells = mean_over_seeds(per_seed);
            let r = RowResult {
                row: row_name(kinds),
                heads: hname.clone(),
                training_windows: [train[0].len(), train[1].len()],
                cells,
                fit_seconds,
            };
            eprintln!(
                "{} / {}: {}",
                r.row,
                r.heads,
                r.cells.iter().map(|c| format!("{} {:.3}", c.set, c.balanced)).collect::<Vec<_>>().join(", ")
            );
            rows.push(r);
        }
    }
    let report = AugmentCvReport { heads: head_sets, rows, notes };
    std::fs::create_dir_all(&o.out)?;
    std::fs::write(o.out.join("augment-cv.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(o.out.join("augment-cv.md"), markdown(&report))?;
    Ok(report)
}

/// One table per head set: balanced accuracy per scored set, and the paired change against the
/// baseline row in tracks (`+fixed −broken`) for the CV column.
pub fn markdown(r: &AugmentCvReport) -> String {
    let mut s = String::from(
        "# augment-cv\n\nTrack-level balanced accuracy, mean over both CV directions and the head seeds (± their \
         standard deviation over seeds in the CV column; paired track changes from the first seed).\n\n",
    );
    for (hname, cfgs) in &r.heads {
        s += &format!("## {hname}\n\nConfigs: {}\n\n", cfgs.iter().map(|c| c.label()).collect::<Vec<_>>().join("; "));
        let rows: Vec<&RowResult> = r.rows.iter().filter(|x| &x.heads == hname).collect();
        let Some(first) = rows.first() else { continue };
        let base = rows.iter().find(|x| x.row.starts_with("none"));
        // The CV column, then its per-corpus scores, then the robustness variants.
        let corpora: Vec<String> = first.cells[0].per_corpus.iter().map(|c| format!("CV: {}", c.0)).collect();
        s += "| added copies | ";
        s += &first.cells[..1]
            .iter()
            .map(|c| c.set.clone())
            .chain(corpora.iter().cloned())
            .collect::<Vec<_>>()
            .join(" | ");
        for c in &first.cells[1..] {
            s += &format!(" | {}", c.set);
        }
        s += " | vs baseline (CV tracks) | mean of variants |\n|---|";
        s += &"---|".repeat(first.cells.len() + corpora.len() + 2);
        s += "\n";
        for row in &rows {
            let mut cells: Vec<String> = row.cells.iter().map(|c| format!("{:.3}", c.balanced)).collect();
            if row.cells[0].seeds.len() > 1 {
                let c = &row.cells[0];
                let var = c.seeds.iter().map(|v| (v - c.balanced).powi(2)).sum::<f32>() / (c.seeds.len() - 1) as f32;
                cells[0] = format!("{:.3} ± {:.3}", c.balanced, var.sqrt());
            }
            let per_corpus = row.cells[0].per_corpus.iter().map(|c| format!("{:.3}", c.1));
            cells.splice(1..1, per_corpus);
            let paired = match base {
                Some(b) if b.cells[0].correct.len() == row.cells[0].correct.len() => {
                    let (b, x) = (&b.cells[0].correct, &row.cells[0].correct);
                    let fixed = b.iter().zip(x).filter(|(b, x)| !**b && **x).count();
                    let broken = b.iter().zip(x).filter(|(b, x)| **b && !**x).count();
                    format!("+{fixed} −{broken}")
                }
                _ => "-".into(),
            };
            // Robustness summary: the variant columns (all but "as is").
            let var: Vec<f32> = row.cells.iter().skip(1).map(|c| c.balanced).collect();
            let mean = var.iter().sum::<f32>() / var.len().max(1) as f32;
            s += &format!("| {} | {} | {paired} | {mean:.3} |\n", row.row, cells.join(" | "));
        }
        s += "\n";
    }
    for n in &r.notes {
        s += &format!("- {n}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_kinds_joined_by_plus() {
        let r = parse_rows("none,gain,eq+noise,all").unwrap();
        assert_eq!(r[0], vec![]);
        assert_eq!(r[1], vec![Augment::Gain]);
        assert_eq!(r[2], vec![Augment::Eq, Augment::Noise]);
        assert_eq!(r[3], Augment::ALL.to_vec());
        assert!(parse_rows("gain,wobble").is_err());
        assert_eq!(row_name(&r[2]), "eq+noise");
    }
}
