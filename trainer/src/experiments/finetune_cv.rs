//! `finetune-cv`: fine-tuning the trunk's back end (`musicnn::finetune`) against the frozen trunk,
//! by the `train` run's 2-fold artist-disjoint CV in both directions, on the pruned trunk that ships,
//! scored as `heads::cv` (mean over corpora of the track-level balanced accuracy; also per corpus:
//! the former `--extra` column, a `tracks.csv` corpus scored unseen, is now that corpus's own CV
//! column, as every corpus is split into folds and trained on).
//!
//! Per direction (train on one fold, score the other):
//! - frozen trunk + the soft-voting ensemble `train`'s CV picks (refit on the whole fold);
//! - frozen trunk + a linear head on `penultimate` (refit on the whole fold): what fine-tuning
//!   starts from;
//! - that head fitted on 80 % of the fold's tracks (the fine-tuning start, scored as is);
//! - per fine-tuning config: the linear head fitted on 80 % of the fold's tracks, then back end (+
//!   mid end) and head fine-tuned on those tracks with early stopping on the other 20 %; scored
//!   as is (its own head) and with the ensemble's configs refit on the fine-tuned trunk's
//!   embeddings of the whole fold (how it would ship: trunk replaced, heads retrained).
//!
//! Front ends of every window are computed once (burn) and cached on disk under
//! `<work>/experiments` by (trunk, windows); their size is printed and reported.
use super::{
    cv_ensemble, embed_cached, ensemble_probs, hash_f32, prepare, set_score, CommonOptions, Prepared, SetScore,
};
use crate::data::Segments;
use crate::heads::cv::{fit_head, inner_split, Groups, HeadGrid};
use crate::heads::embed::Embeddings;
use crate::heads::fit::HeadConfig;
use crate::heads::head::HeadWeights;
use crate::heads::run::base_config;
use crate::musicnn::finetune::{fine_tune, FineTuneConfig, FineTuned, FrontSet};
use crate::musicnn::onnx::{trunk_outputs, PENULTIMATE};
use crate::musicnn::weights::MusicnnWeights;
use genrescope_core::sha256_hex;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct FinetuneCvOptions {
    pub common: CommonOptions,
    /// One fine-tuning run per config (per direction).
    pub configs: Vec<FineTuneConfig>,
    pub grid: HeadGrid,
    pub max_members: usize,
    /// Folder for `finetune-cv.md` and `finetune-cv.json`; fine-tuned trunks are written beside.
    pub out: PathBuf,
}

/// A method's scores: per direction and per corpus.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    pub method: String,
    /// Mean per-corpus track-level balanced accuracy: A→B, B→A.
    pub directions: [f32; 2],
    /// Their mean: the CV score.
    pub cv: f32,
    /// Mean per-corpus track accuracy, mean over directions.
    pub accuracy: f32,
    /// `(corpus, balanced accuracy averaged over both directions)`.
    pub per_corpus: Vec<(String, f32)>,
    /// Per held-out in-set track of both directions: right or wrong.
    pub correct: Vec<bool>,
    /// Fine-tuning only: kept epochs per direction and seconds per epoch.
    pub epochs: Option<[usize; 2]>,
    pub seconds_per_epoch: Option<f32>,
}

#[derive(Serialize)]
pub struct FinetuneCvReport {
    pub device: String,
    pub front_channels: usize,
    pub frames: usize,
    /// Front-end cache: bytes per window and in total (all window sets of the run).
    pub front_bytes_per_window: usize,
    pub front_bytes_total: usize,
    pub front_compute_seconds: f32,
    pub ensemble: Vec<HeadConfig>,
    pub methods: Vec<MethodResult>,
}

/// Front ends of `seg` with the frozen front end of `w`, through the on-disk cache.
fn fronts(w: &MusicnnWeights, seg: &Segments, dir: &Path) -> anyhow::Result<FrontSet> {
    let key = sha256_hex(
        format!("front-v1\n{}\n{}", sha256_hex(&serde_json::to_vec(&w.front)?), hash_f32(&[&seg.windows])).as_bytes(),
    );
    let file = dir.join(format!("front-{key}.f32"));
    if let Some(f) = FrontSet::load_values(&file, w, seg) {
        return Ok(f);
    }
    let f = FrontSet::compute(w, seg)?;
    f.save_values(&file)?;
    Ok(f)
}

fn fit_all(cfgs: &[HeadConfig], train: &Embeddings, seed: u64, groups: Groups) -> anyhow::Result<Vec<HeadWeights>> {
    cfgs.iter()
        .enumerate()
        .map(|(i, cfg)| {
            let cfg = HeadConfig { seed: seed.wrapping_add(1000 * (i as u64 + 1)), ..cfg.clone() };
            fit_head(&cfg, train, groups).map(|w| w.0)
        })
        .collect()
}

/// Accumulates one method's per-direction scores.
struct Acc {
    method: String,
    dirs: Vec<f32>,
    acc: f32,
    per_corpus: Vec<(String, f32)>,
    correct: Vec<bool>,
    epochs: Vec<usize>,
    sec: Vec<f32>,
}

impl Acc {
    fn new(method: String) -> Self {
        Self { method, dirs: vec![], acc: 0.0, per_corpus: vec![], correct: vec![], epochs: vec![], sec: vec![] }
    }

    fn add(&mut self, test: SetScore) {
        self.dirs.push(test.balanced);
        self.acc += test.accuracy / 2.0;
        self.correct.extend(test.correct);
        for (n, v) in test.per_corpus {
            match self.per_corpus.iter_mut().find(|e| e.0 == n) {
                Some(e) => e.1 += v / 2.0,
                None => self.per_corpus.push((n, v / 2.0)),
            }
        }
    }

    fn finish(self) -> MethodResult {
        let directions = [self.dirs[0], self.dirs[1]];
        MethodResult {
            method: self.method,
            cv: (directions[0] + directions[1]) / 2.0,
            directions,
            accuracy: self.acc,
            per_corpus: self.per_corpus,
            correct: self.correct,
            epochs: (self.epochs.len() == 2).then(|| [self.epochs[0], self.epochs[1]]),
            seconds_per_epoch: (!self.sec.is_empty()).then(|| self.sec.iter().sum::<f32>() / self.sec.len() as f32),
        }
    }
}

pub fn run(o: &FinetuneCvOptions) -> anyhow::Result<FinetuneCvReport> {
    let c = &o.common;
    let p = prepare(c)?;
    let groups = p.groups();
    let dir = c.dir();
    let ensemble = cv_ensemble(&p, o.grid, o.max_members, c)?;

    // Front ends of every window set, once.
    let t = Instant::now();
    let w = &p.weights;
    let fit_fronts = [fronts(w, &p.windows.train_fit, &dir)?, fronts(w, &p.windows.valid_fit, &dir)?];
    let test_fronts = [fronts(w, &p.windows.valid_score, &dir)?, fronts(w, &p.windows.train_score, &dir)?];
    let front_compute_seconds = t.elapsed().as_secs_f32();
    let all_fronts = fit_fronts.iter().chain(&test_fronts);
    let front_bytes_total: usize = all_fronts.clone().map(FrontSet::bytes).sum();
    let windows: usize = all_fronts.map(FrontSet::len).sum();
    let per_window = front_bytes_total / windows.max(1);
    eprintln!(
        "front ends: {windows} windows × [{}, {}] = {:.0} MB ({per_window} bytes each), {front_compute_seconds:.0} s \
         (0 when cached)",
        w.front_channels(),
        fit_fronts[0].frames,
        front_bytes_total as f64 / 1e6
    );

    let fit_emb = [&p.train_fit, &p.valid_fit];
    let test_emb = [&p.valid_score, &p.train_score];
    let score = |heads: &[HeadWeights], e: &Embeddings| -> anyhow::Result<SetScore> {
        Ok(set_score(&ensemble_probs(heads, e)?, e, groups))
    };
    let linear = HeadConfig { inputs: vec![PENULTIMATE.into()], hidden: 0, ..base_config(c.seed, c.max_epochs) };

    let mut frozen_ens = Acc::new("frozen trunk + CV ensemble".into());
    let mut frozen_lin = Acc::new("frozen trunk + linear head on penultimate".into());
    let mut frozen_start = Acc::new("frozen trunk + linear head on penultimate, 80 % of tracks (the start)".into());
    let mut tuned: Vec<(Acc, Acc)> = o
        .configs
        .iter()
        .map(|f| {
            let what = format!(
                "lr {:e}, wd {:e}, dropout {}, {}",
                f.lr,
                f.weight_decay,
                f.dropout,
                if f.train_mid { "mid + back end" } else { "back end" }
            );
            (
                Acc::new(format!("fine-tuned ({what}) + its head")),
                Acc::new(format!("fine-tuned ({what}) + CV ensemble refit")),
            )
        })
        .collect();
    for d in 0..2 {
        let (fe, te) = (fit_emb[d], test_emb[d]);
        let heads = fit_all(&ensemble, fe, c.seed, groups)?;
        frozen_ens.add(score(&heads, te)?);
        let lin = fit_all(std::slice::from_ref(&linear), fe, c.seed, groups)?;
        frozen_lin.add(score(&lin, te)?);
        eprintln!("direction {d}: frozen ensemble {:.3}, frozen linear {:.3}", frozen_ens.dirs[d], frozen_lin.dirs[d]);

        // Fine-tuning: linear head on 80 % of the tracks, fine-tune there, stop on the other 20 %.
        let (fit_t, stop_t) = inner_split(&fe.track_labels, 0.2, c.seed ^ 0x6674);
        let start = fit_all(std::slice::from_ref(&linear), &fe.select_tracks(&fit_t), c.seed, groups)?.remove(0);
        frozen_start.add(score(std::slice::from_ref(&start), te)?);
        let (ff, fs) = (fit_fronts[d].select_tracks(&fit_t), fit_fronts[d].select_tracks(&stop_t));
        for (k, cfg) in o.configs.iter().enumerate() {
            let cfg = FineTuneConfig { seed: c.seed.wrapping_add(d as u64), ..cfg.clone() };
            let ft = fine_tune(w, &start, &cfg, &ff, Some(&fs), groups)?;
            eprintln!(
                "direction {d}, config {k}: kept epoch {} of {}, {:.1} s/epoch, losses {:?}",
                ft.epochs,
                ft.history.len(),
                ft.seconds_per_epoch,
                ft.history.iter().map(|h| (h.train, h.valid.unwrap_or(f32::NAN))).collect::<Vec<_>>()
            );
            // The test front ends are `te`'s windows: same tracks and clips.
            let test_probs = ft.predict(&test_fronts[d])?;
            let (a, b) = &mut tuned[k];
            a.add(set_score(&test_probs, te, groups));
            a.epochs.push(ft.epochs);
            a.sec.push(ft.seconds_per_epoch);
            // How it would ship: the fine-tuned trunk's embeddings, the ensemble's heads refit on them.
            let (trunk_file, emb) =
                embed_fine_tuned(&ft, &p, o, d, k, [&p.windows.train_fit, &p.windows.valid_fit][d])?;
            let test_seg = [&p.windows.valid_score, &p.windows.train_score][d];
            let te2 = embed_cached(&trunk_file, &p.outputs, test_seg, &dir, c.threads)?;
            let heads2 = fit_all(&ensemble, &emb, c.seed, groups)?;
            b.add(score(&heads2, &te2)?);
            b.epochs.push(ft.epochs);
            eprintln!("direction {d}, config {k}: own head {:.3}, ensemble refit {:.3}", a.dirs[d], b.dirs[d]);
        }
    }
    let mut methods = vec![frozen_ens.finish(), frozen_lin.finish(), frozen_start.finish()];
    for (a, b) in tuned {
        methods.push(a.finish());
        methods.push(b.finish());
    }
    let report = FinetuneCvReport {
        device: crate::backend::selected().to_string(),
        front_channels: w.front_channels(),
        frames: fit_fronts[0].frames,
        front_bytes_per_window: per_window,
        front_bytes_total,
        front_compute_seconds,
        ensemble,
        methods,
    };
    std::fs::create_dir_all(&o.out)?;
    std::fs::write(o.out.join("finetune-cv.json"), serde_json::to_vec_pretty(&report)?)?;
    std::fs::write(o.out.join("finetune-cv.md"), markdown(&report))?;
    Ok(report)
}

/// The fine-tuned trunk as ONNX (`<out>/trunk-d<d>-c<k>.onnx`) and its embeddings of `fit`.
fn embed_fine_tuned(
    ft: &FineTuned,
    p: &Prepared,
    o: &FinetuneCvOptions,
    d: usize,
    k: usize,
    fit: &Segments,
) -> anyhow::Result<(PathBuf, Embeddings)> {
    let (trunk, _) = ft.to_onnx()?;
    std::fs::create_dir_all(&o.out)?;
    let file = o.out.join(format!("trunk-d{d}-c{k}.onnx"));
    std::fs::write(&file, trunk)?;
    anyhow::ensure!(trunk_outputs(&ft.weights) == p.outputs, "fine-tuning changed the trunk's outputs");
    let e = embed_cached(&file, &p.outputs, fit, &o.common.dir(), o.common.threads)?;
    Ok((file, e))
}

pub fn markdown(r: &FinetuneCvReport) -> String {
    let mut s = format!(
        "# finetune-cv\n\nDevice {}. Front ends cached: [{} channels, {} frames] = {} bytes per window, {:.0} MB for all \
         windows of the run ({:.0} s to compute, 0 when cached). Track-level balanced accuracy, mean over corpora.\n\n",
        r.device,
        r.front_channels,
        r.frames,
        r.front_bytes_per_window,
        r.front_bytes_total as f64 / 1e6,
        r.front_compute_seconds
    );
    let corpora: Vec<String> =
        r.methods.first().map(|m| m.per_corpus.iter().map(|e| e.0.clone()).collect()).unwrap_or_default();
    s += "| method | A→B | B→A | CV | CV track acc | ";
    s += &corpora.iter().map(|n| format!("CV: {n} | ")).collect::<String>();
    s += " vs frozen ensemble (tracks) | epochs kept | s / epoch |\n|---|---|---|---|---|";
    s += &"---|".repeat(corpora.len() + 3);
    s += "\n";
    let base = r.methods.first().map(|m| m.correct.clone()).unwrap_or_default();
    for m in &r.methods {
        let paired = if m.correct.len() == base.len() {
            let fixed = base.iter().zip(&m.correct).filter(|(b, x)| !**b && **x).count();
            let broken = base.iter().zip(&m.correct).filter(|(b, x)| **b && !**x).count();
            format!("+{fixed} −{broken}")
        } else {
            "-".into()
        };
        s += &format!(
            "| {} | {:.3} | {:.3} | **{:.3}** | {:.3} | {}{paired} | {} | {} |\n",
            m.method,
            m.directions[0],
            m.directions[1],
            m.cv,
            m.accuracy,
            m.per_corpus.iter().map(|e| format!("{:.3} | ", e.1)).collect::<String>(),
            m.epochs.map(|e| format!("{} / {}", e[0], e[1])).unwrap_or_default(),
            m.seconds_per_epoch.map(|v| format!("{v:.1}")).unwrap_or_default()
        );
    }
    s += &format!("\nEnsemble configs: {}\n", r.ensemble.iter().map(|c| c.label()).collect::<Vec<_>>().join("; "));
    s
}
