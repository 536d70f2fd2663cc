//! The per-file work of a scan as a pure map step: [`Mapper::row`] turns one path into one
//! self-contained [`TrackRow`] (everything the library stores about the file, and the model that
//! made it), and `crate::import` merges rows into a library. `Genrescope analyze --jsonl` prints
//! them one JSON object per line, so any engine that can run a program over a list of files (a Ray
//! cluster, a Slurm job array, a Kubernetes Indexed Job: `cluster/README.md`) can do a scan's
//! analyses; importing the rows gives the library a local `scan` of the same files gives.
//!
//! What a row does not carry: the library's row id, and whether a file is missing (only a walk of
//! its folder knows). Renames and copies are a scan's shortcuts; a row is always a fresh analysis.
use crate::db::{self, Analysis, FileStat};
use crate::scan::{analyse, fingerprint, hash_file, ModelIdentity};
use crate::{timeline, Error, Result};
use crossbeam_channel::{bounded, unbounded};
use genrescope_core::labels::{GENRES, MSD_TAGS, NUM_GENRES};
use genrescope_engine::{OfflineEngine, OfflineSettings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The row format this build writes and reads; a row of another format is refused by `import`.
pub const ROW_FORMAT: u32 = 1;

/// One file's analysis (or error), self-contained. See `library/README.md` for the JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackRow {
    /// [`ROW_FORMAT`].
    pub format: u32,
    /// The path as it was given to the map step.
    pub path: String,
    /// The path with links resolved, on the machine that analysed the file: what the library
    /// stores. `None` when the file was not found.
    pub canonical: Option<String>,
    /// Size and modification time (ns since 1970) when analysed; `None` when not found.
    pub size: Option<u64>,
    pub mtime_ns: Option<i64>,
    /// `crate::scan::fingerprint`, hex.
    pub fingerprint: Option<String>,
    /// SHA-256 of the whole file, hex.
    pub sha256: Option<String>,
    pub model: RowModel,
    /// Unix seconds of the analysis.
    pub analysed_at: i64,
    /// "ok" or "error".
    pub status: String,
    pub error: Option<String>,
    /// Decoder notes on a damaged file that still decoded.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub duration_s: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub windows: Option<u32>,
    pub gated_windows: Option<u32>,
    /// The genre with the highest whole-file probability; `None` without a verdict (silence).
    pub top_genre: Option<String>,
    /// Whole-file probability per genre (the soft vote over ungated windows).
    pub genres: Option<BTreeMap<String, f32>>,
    /// Whole-file mean out-of-set probability ("other"); 0 for a model without the class, `None`
    /// without a verdict.
    #[serde(default)]
    pub other: Option<f32>,
    /// The model judged the file "other / unsure" (`other` reached its threshold).
    #[serde(default)]
    pub out_of_set: bool,
    /// Whole-file mean score per music tag (the trunk's tag names).
    pub tags: Option<BTreeMap<String, f32>>,
    /// Mean embedding of the ungated windows (the model's `embedding` trunk output).
    pub embedding: Option<Vec<f32>>,
    /// Per window: end time, smoothed top genre (`None` while gated), raw probabilities.
    #[serde(default)]
    pub timeline: Vec<RowWindow>,
}

/// The model and engine settings that made a row (what `models` holds in the library).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowModel {
    pub name: String,
    /// SHA-256 of its manifest.json: the model's identity.
    pub manifest_sha256: String,
    /// Engine settings (block, hop_s, smoothing_s, gate_db).
    pub settings: serde_json::Value,
    pub embedding_dim: Option<usize>,
    pub window_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowWindow {
    /// Seconds from the start of the file to the end of the window.
    pub t: f32,
    pub top: Option<String>,
    /// Raw ensemble probabilities, in the order of the genres' names (alphabetical, as in `genres`).
    pub p: [f32; NUM_GENRES],
}

/// Why a row cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("row format {0} (this build reads {ROW_FORMAT})")]
    Format(u32),
    #[error("the file was not found when it was analysed: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl RowModel {
    pub fn of(identity: &ModelIdentity) -> Self {
        let m = &identity.row;
        Self {
            name: m.name.clone(),
            manifest_sha256: m.manifest_sha256.clone(),
            // ModelIdentity writes the settings as JSON: this parses.
            settings: serde_json::from_str(&m.settings).unwrap_or(serde_json::Value::Null),
            embedding_dim: m.embedding_dim,
            window_s: m.window_s,
        }
    }

    /// The library's model row (serde_json writes the settings the way `ModelIdentity` does:
    /// keys sorted, floats round-tripped, so the same model and settings meet in one row).
    pub fn model_row(&self, last_used: i64) -> db::ModelRow {
        db::ModelRow {
            id: 0,
            name: self.name.clone(),
            manifest_sha256: self.manifest_sha256.clone(),
            settings: self.settings.to_string(),
            embedding_dim: self.embedding_dim,
            window_s: self.window_s,
            last_used,
        }
    }
}

impl TrackRow {
    fn new(path: &str, model: RowModel, analysed_at: i64) -> Self {
        Self {
            format: ROW_FORMAT,
            path: path.to_string(),
            canonical: None,
            size: None,
            mtime_ns: None,
            fingerprint: None,
            sha256: None,
            model,
            analysed_at,
            status: "error".into(),
            error: None,
            warnings: Vec::new(),
            duration_s: None,
            sample_rate: None,
            channels: None,
            windows: None,
            gated_windows: None,
            top_genre: None,
            genres: None,
            other: None,
            out_of_set: false,
            tags: None,
            embedding: None,
            timeline: Vec::new(),
        }
    }

    fn failed(mut self, error: String) -> Self {
        self.status = "error".into();
        self.error = Some(error);
        self
    }

    fn analysed(mut self, a: Analysis, points: Vec<timeline::Point>) -> Self {
        self.status = "ok".into();
        self.duration_s = Some(a.duration_s);
        self.sample_rate = Some(a.sample_rate);
        self.channels = Some(a.channels as u32);
        self.windows = Some(a.windows as u32);
        self.gated_windows = Some(a.gated_windows as u32);
        self.top_genre = a.verdict.map(|v| GENRES[genrescope_core::model::top_genre(&v).0].to_string());
        self.genres = a.verdict.map(|v| GENRES.iter().zip(v).map(|(g, p)| (g.to_string(), p)).collect());
        self.other = a.other;
        self.out_of_set = a.out_of_set;
        self.tags = a.tags.map(|t| MSD_TAGS.iter().zip(t).map(|(n, p)| (n.to_string(), p)).collect());
        self.embedding = a.embedding;
        self.warnings = a.warnings;
        self.timeline = points
            .into_iter()
            .map(|p| RowWindow { t: p.time_s, top: p.top.map(|g| GENRES[g].to_string()), p: p.raw })
            .collect();
        self
    }

    /// The path the library stores the row under.
    pub fn stored_path(&self) -> &str {
        self.canonical.as_deref().unwrap_or(&self.path)
    }

    /// What the library stores: the file's identity and its analysis (or error text).
    pub fn to_db(&self) -> Result<(FileStat, std::result::Result<Analysis, String>), RowError> {
        if self.format != ROW_FORMAT {
            return Err(RowError::Format(self.format));
        }
        let (Some(size), Some(mtime_ns)) = (self.size, self.mtime_ns) else {
            return Err(RowError::NotFound(self.error.clone().unwrap_or_else(|| self.path.clone())));
        };
        let invalid = |m: String| RowError::Invalid(format!("{}: {m}", self.path));
        let stat = FileStat { size, mtime_ns };
        let result = match self.status.as_str() {
            "error" => Err(self.error.clone().unwrap_or_default()),
            "ok" => {
                let verdict = match &self.genres {
                    None => None,
                    Some(g) => {
                        let mut v = [0f32; NUM_GENRES];
                        for (i, name) in GENRES.iter().enumerate() {
                            v[i] = *g.get(*name).ok_or_else(|| invalid(format!("no probability for {name}")))?;
                        }
                        Some(v)
                    }
                };
                let tags = match &self.tags {
                    None => None,
                    Some(t) => Some(
                        MSD_TAGS
                            .iter()
                            .map(|n| t.get(*n).copied().ok_or_else(|| invalid(format!("no score for tag {n:?}"))))
                            .collect::<Result<Vec<f32>, _>>()?,
                    ),
                };
                let mut points = Vec::with_capacity(self.timeline.len());
                for w in &self.timeline {
                    let top = match &w.top {
                        None => None,
                        Some(g) => Some(
                            genrescope_core::labels::genre_index(g)
                                .ok_or_else(|| invalid(format!("unknown genre {g:?}")))?,
                        ),
                    };
                    points.push(timeline::Point { time_s: w.t, top, raw: w.p });
                }
                let need = |v: Option<u32>, what: &str| v.ok_or_else(|| invalid(format!("an ok row without {what}")));
                Ok(Analysis {
                    duration_s: self.duration_s.ok_or_else(|| invalid("an ok row without duration_s".into()))?,
                    sample_rate: need(self.sample_rate, "sample_rate")?,
                    channels: need(self.channels, "channels")? as usize,
                    windows: need(self.windows, "windows")? as usize,
                    gated_windows: need(self.gated_windows, "gated_windows")? as usize,
                    verdict,
                    other: self.other,
                    out_of_set: self.out_of_set,
                    timeline: timeline::encode_points(&points),
                    embedding: self.embedding.clone(),
                    tags,
                    warnings: self.warnings.clone(),
                })
            }
            other => return Err(invalid(format!("status {other:?} (ok or error)"))),
        };
        Ok((stat, result))
    }
}

/// Analyses files one at a time with one engine; each call gives one row, errors included.
pub struct Mapper {
    model_dir: PathBuf,
    model: RowModel,
    settings: OfflineSettings,
    engine: Option<OfflineEngine>,
}

impl Mapper {
    /// Loads the model (an error here is the whole map step's: no row could be made).
    pub fn new(model: &Path, settings: &OfflineSettings) -> Result<Self> {
        let (identity, engine) = ModelIdentity::load(model, settings)?;
        Ok(Self::with_engine(model, &identity, engine, settings))
    }

    fn with_engine(model: &Path, identity: &ModelIdentity, engine: OfflineEngine, settings: &OfflineSettings) -> Self {
        Self {
            model_dir: model.to_path_buf(),
            model: RowModel::of(identity),
            settings: settings.clone(),
            engine: Some(engine),
        }
    }

    /// The row of the file at `path`, exactly as a scan would store it (same canonical path, same
    /// hashes, same analysis, same error text).
    pub fn row(&mut self, path: &str) -> TrackRow {
        let row = TrackRow::new(path, self.model.clone(), crate::scan::now());
        let canonical = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) => return row.failed(format!("{path}: {e}")),
        };
        let Some(canon) = canonical.to_str().map(str::to_owned) else {
            return row.failed(Error::NotUtf8(canonical).to_string());
        };
        let mut row = TrackRow { canonical: Some(canon.clone()), ..row };
        match std::fs::metadata(&canonical) {
            Ok(m) if m.is_file() => {
                let stat = FileStat::of(&m);
                (row.size, row.mtime_ns) = (Some(stat.size), Some(stat.mtime_ns));
            }
            Ok(_) => return row.failed(Error::NotAFile(canonical).to_string()),
            Err(e) => return row.failed(format!("{canon}: {e}")),
        }
        // The same order and error text as `scan::process`.
        match hash_file(&canonical).and_then(|h| Ok((h, fingerprint(&canonical)?))) {
            Ok((sha, print)) => {
                row.sha256 = Some(sha);
                row.fingerprint = Some(genrescope_core::hex(&print));
            }
            Err(e) => return row.failed(format!("cannot read {canon}: {e}")),
        }
        match analyse(&mut self.engine, &self.model_dir, &canonical, &self.settings) {
            Ok(a) => {
                let points = timeline::decode(&a.timeline).unwrap_or_default();
                row.analysed(a, points)
            }
            Err(e) => row.failed(e.to_string()),
        }
    }
}

/// Runs the map step over `paths` on `jobs` threads (one engine each) and hands the rows to
/// `on_row` in the order of `paths`. `on_row` may stop the run by returning an error (a closed
/// output), which is returned.
pub fn map_files(
    model: &Path,
    settings: &OfflineSettings,
    paths: impl Iterator<Item = String> + Send,
    jobs: usize,
    on_row: &mut dyn FnMut(TrackRow) -> std::io::Result<()>,
) -> Result<()> {
    let (identity, first) = ModelIdentity::load(model, settings)?;
    let jobs = jobs.max(1);
    // Bounded: a long list on stdin is read as the workers go, not all at once.
    let (job_tx, job_rx) = bounded::<(usize, String)>(4 * jobs);
    let (row_tx, row_rx) = unbounded::<std::result::Result<(usize, TrackRow), Error>>();
    let mut first = Some(first);
    let mut out_err = None;
    std::thread::scope(|s| {
        s.spawn(move || {
            for (i, p) in paths.enumerate() {
                if job_tx.send((i, p)).is_err() {
                    break;
                }
            }
        });
        for _ in 0..jobs {
            let (rx, tx) = (job_rx.clone(), row_tx.clone());
            let engine = first.take();
            let identity = &identity;
            s.spawn(move || {
                let engine = match engine.map_or_else(|| OfflineEngine::new(model), Ok) {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                };
                let mut mapper = Mapper::with_engine(model, identity, engine, settings);
                for (i, p) in rx {
                    if tx.send(Ok((i, mapper.row(&p)))).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, row_tx));
        // Rows come back in any order; they leave in input order.
        let mut pending = HashMap::new();
        let mut next = 0;
        for r in row_rx.iter() {
            match r {
                Ok((i, row)) => {
                    pending.insert(i, row);
                }
                Err(e) => {
                    out_err.get_or_insert(e);
                    break;
                }
            }
            while let Some(row) = pending.remove(&next) {
                next += 1;
                if let Err(e) = on_row(row) {
                    out_err.get_or_insert(Error::Io { path: PathBuf::from("<output>"), source: e });
                    break;
                }
            }
            if out_err.is_some() {
                break;
            }
        }
        // Dropping the receiver stops the workers after their current file.
        drop(row_rx);
    });
    match out_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
