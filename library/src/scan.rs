//! `scan`: walk folders, decide per file what to do, analyse on worker threads, one transaction
//! per file.
//!
//! Per file, in order: same path, size, mtime and [`fingerprint`] (size + the first and last 64 KiB)
//! and the same model → skipped, having read at most 128 KiB of it. Otherwise its SHA-256 is
//! taken: same bytes as its row → only size/mtime are updated; a new path
//! whose bytes match a row whose file is gone → that row is renamed; one whose file is still there
//! → its analysis is copied (the engine is deterministic); anything else is decoded and analysed.
//! Files of a scanned folder that are gone are marked `missing_since`, not deleted: an unmounted
//! disk must not cost the analyses, and a file moved elsewhere is still recognised by its hash
//! when that folder is scanned. `prune` deletes them.
//!
//! Paths are stored canonical (links resolved): a file reached through a symlink and through its
//! own path is one track. One scan at a time writes a library ([`crate::lock`]).
//!
//! The library prints nothing: [`scan_with`] reports progress and notes as [`ScanEvent`]s to a
//! callback (the CLI draws a progress bar and prints the notes).
use crate::db::{self, Analysis, FileId, FileStat, Known, ModelRow};
use crate::{timeline, Error, Result};
use crossbeam_channel::{unbounded, Receiver, Sender};
use genrescope_core::audio_file::{decode_file, has_audio_extension};
use genrescope_core::model::MANIFEST_FILE;
use genrescope_engine::offline::{file_embedding, file_tags};
use genrescope_engine::{Claim, EngineError, OfflineEngine, OfflineSettings};
use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Most worker threads, each with its own engine (ONNX Runtime sessions, 1 intra-op thread).
    pub jobs: usize,
    /// Delete the rows of files that are gone instead of only marking them.
    pub prune: bool,
    /// Analyse files whose last attempt failed even if they have not changed.
    pub retry_errors: bool,
    pub settings: OfflineSettings,
    /// Set (e.g. by Ctrl-C) to stop after the files in progress.
    pub cancel: Arc<AtomicBool>,
    /// When another scan or import is writing the library: wait for it (`true`) or refuse with
    /// [`Error::Busy`] (`false`).
    pub wait: bool,
    /// Rows of the model from which a similarity index is kept ([`crate::ann`]).
    pub index_min_rows: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            prune: false,
            retry_errors: false,
            settings: OfflineSettings::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            wait: false,
            index_min_rows: crate::ann::MIN_ROWS,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanSummary {
    pub db: String,
    pub model: String,
    pub model_sha256: String,
    /// Worker threads started (no more than there were files to analyse).
    pub jobs: usize,
    /// Audio files found under the roots.
    pub files: usize,
    /// Decoded and analysed this scan (including `redone`).
    pub analysed: usize,
    /// Of `analysed`: files that had been analysed with another model (or settings).
    pub redone: usize,
    /// Unchanged (same size and mtime, or same bytes) and already analysed with this model.
    pub skipped: usize,
    /// New paths recognised by their bytes as a stored file that is gone.
    pub renamed: usize,
    /// New paths whose bytes match a stored file that is still there: its analysis was copied.
    pub copied: usize,
    /// Files that could not be read, decoded or analysed (recorded with their error).
    pub errors: usize,
    /// Files analysed although the decoder found damage (see their warnings).
    pub warnings: usize,
    /// Rows of the scanned folders whose files were found gone this scan and did not turn up
    /// elsewhere (kept, marked missing).
    pub missing: usize,
    /// Rows deleted by `prune`.
    pub pruned: usize,
    /// Folders or entries the walk could not read.
    pub walk_errors: Vec<String>,
    pub error_files: Vec<FileError>,
    /// Seconds of audio in the analysed files.
    pub audio_s: f64,
    pub wall_s: f64,
    /// `audio_s / wall_s`.
    pub x_real_time: f64,
    /// Stopped by the cancel flag; the next scan goes on from here.
    pub interrupted: bool,
    /// The model's similarity index after the scan.
    pub index: crate::ann::Refreshed,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileError {
    pub path: String,
    pub error: String,
}

/// What a scan reports while it runs, in order: notes about the model and the walk, then
/// `Started`, then per finished file a `Progress` (after its `Damaged` or `Failed` note), then
/// `Finished`. Delivered on the thread that called [`scan_with`].
#[derive(Clone, Copy, Debug)]
pub enum ScanEvent<'a> {
    /// Something the user should know that does not stop the scan (a model without an embedding,
    /// a folder or entry the walk could not read).
    Warning(&'a str),
    /// A file was analysed although the decoder found damage.
    Damaged { path: &'a str, warnings: &'a [String] },
    /// A file could not be read, decoded or analysed (its error is stored in the library).
    Failed { path: &'a str, error: &'a str },
    /// The files to analyse are known (unchanged ones are not among them), with their total size.
    Started { files: usize, bytes: u64 },
    /// `done` of the `files` are finished (whatever their outcome), `bytes_done` of the bytes.
    Progress { done: usize, files: usize, bytes_done: u64 },
    /// No more files will be processed (all done, or the scan was cancelled or failed).
    Finished,
}

/// A model and engine settings, identified the way the library stores them.
pub struct ModelIdentity {
    pub row: ModelRow,
    pub has_embedding: bool,
    /// The trunk gives the 50 music tags (genrescope_core::labels::MSD_TAGS).
    pub has_tags: bool,
}

impl ModelIdentity {
    /// Loads the model once (the check that it works) and hashes its manifest file.
    pub fn load(model: &Path, settings: &OfflineSettings) -> Result<(Self, OfflineEngine)> {
        let engine = OfflineEngine::new(model)?;
        let manifest_file = if model.is_dir() { model.join(MANIFEST_FILE) } else { model.to_path_buf() };
        let bytes = std::fs::read(&manifest_file).map_err(|e| Error::Io { path: manifest_file.clone(), source: e })?;
        let m = engine.manifest();
        let dim =
            m.embedding.as_ref().and_then(|e| m.trunk.as_ref()?.outputs.iter().find(|o| &o.name == e)).map(|o| o.dim);
        let settings_json = serde_json::json!({
            "block": settings.block,
            "hop_s": engine.hop_s(settings),
            "smoothing_s": settings.smoothing_s,
            "gate_db": settings.gate_db,
        });
        let row = ModelRow {
            id: 0,
            name: m.name.clone(),
            manifest_sha256: genrescope_core::sha256_hex(&bytes),
            settings: settings_json.to_string(),
            embedding_dim: dim,
            window_s: m.window_seconds(),
            last_used: now(),
        };
        let has_tags = m.tags_output().is_some();
        Ok((Self { row, has_embedding: dim.is_some(), has_tags }, engine))
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

struct Job {
    path: String,
    stat: FileStat,
    known: Option<Known>,
}

enum Outcome {
    Analysed { audio_s: f64, redone: bool, warnings: Vec<String> },
    Unchanged,
    Renamed,
    Copied,
    Failed(String),
}

enum Event {
    Done {
        path: String,
        bytes: u64,
        outcome: Outcome,
    },
    /// A worker could not start (its engine failed to load) or lost the database.
    Fatal(Error),
}

/// Scans `roots` (folders or single files) into the library at `db_path`, silently.
pub fn scan(db_path: &Path, roots: &[PathBuf], model: &Path, opts: &ScanOptions) -> Result<ScanSummary> {
    scan_with(db_path, roots, model, opts, &mut |_| {})
}

/// [`scan`], reporting progress and notes to `on_event` as it goes.
pub fn scan_with(
    db_path: &Path,
    roots: &[PathBuf],
    model: &Path,
    opts: &ScanOptions,
    on_event: &mut dyn FnMut(ScanEvent<'_>),
) -> Result<ScanSummary> {
    let start = Instant::now();
    // The lock and the database first: a library that cannot be written should not wait for a model load.
    let _lock = crate::lock::acquire(db_path, opts.wait, &mut |pid| {
        let by = pid.map(|p| format!(" (process {p})")).unwrap_or_default();
        on_event(ScanEvent::Warning(&format!("waiting for another scan or import of this library to finish{by}")));
    })?;
    let mut conn = db::open_rw(db_path)?;
    let (identity, first_engine) = ModelIdentity::load(model, &opts.settings)?;
    let dberr = db::db_err(db_path);
    let model_id = db::register_model(&conn, &identity.row, true).map_err(&dberr)?;
    let mut summary = ScanSummary {
        db: db_path.display().to_string(),
        model: identity.row.name.clone(),
        model_sha256: identity.row.manifest_sha256.clone(),
        ..Default::default()
    };
    if !identity.has_embedding {
        let line = format!("model {} has no embedding: `similar` will not work on this library", summary.model);
        on_event(ScanEvent::Warning(&line));
    }

    let walked = walk(roots, &mut summary, on_event)?;
    summary.files = walked.files.len();
    let known = db::known_tracks(&conn).map_err(&dberr)?;

    // Gone from a scanned folder (and not under one the walk could not read).
    let found: HashSet<&str> = walked.files.iter().map(|(p, _)| p.as_str()).collect();
    let under = |p: &str, dirs: &[String]| dirs.iter().any(|d| p == d || p.starts_with(&format!("{d}/")));
    let gone: Vec<i64> = known
        .iter()
        .filter(|(p, k)| !k.missing && !found.contains(p.as_str()) && under(p, &walked.prefixes))
        .filter(|(p, _)| !under(p, &walked.unreadable) && !Path::new(p.as_str()).exists())
        .map(|(_, k)| k.id)
        .collect();
    db::set_missing(&mut conn, &gone, true, now()).map_err(&dberr)?;

    // Same stat and model: the fingerprint decides (read in parallel: one small read per file).
    let unchanged = |(path, stat): &(String, FileStat)| {
        known.get(path).is_some_and(|k| {
            k.stat == *stat
                && k.model_id == model_id
                && (k.ok || !opts.retry_errors)
                && k.fingerprint.is_some()
                && !(k.untagged && identity.has_tags)
        })
    };
    let candidates: Vec<&(String, FileStat)> = walked.files.iter().filter(|f| unchanged(f)).collect();
    let prints = parallel_map(&candidates, opts.jobs, |(p, _)| fingerprint(Path::new(p)).ok());
    let same_print: HashSet<String> = candidates
        .iter()
        .zip(prints)
        .filter(|((p, _), fp)| fp.is_some() && known[p].fingerprint == *fp)
        .map(|((p, _), _)| p.clone())
        .collect();
    let mut jobs = Vec::new();
    let mut back = Vec::new();
    for (path, stat) in walked.files {
        match known.get(&path) {
            Some(k) if same_print.contains(path.as_str()) => {
                summary.skipped += 1;
                if k.missing {
                    back.push(k.id);
                }
            }
            k => jobs.push(Job { path, stat, known: k.cloned() }),
        }
    }
    db::set_missing(&mut conn, &back, false, 0).map_err(&dberr)?;

    let total_bytes: u64 = jobs.iter().map(|j| j.stat.size).sum();
    let n_jobs = jobs.len();
    let workers = opts.jobs.max(1).min(n_jobs);
    summary.jobs = workers;
    on_event(ScanEvent::Started { files: n_jobs, bytes: total_bytes });
    let (job_tx, job_rx) = unbounded();
    for j in jobs {
        let _ = job_tx.send(j);
    }
    drop(job_tx);
    let (ev_tx, ev_rx) = unbounded();
    let ctx =
        Ctx { db: db_path, model_id, has_tags: identity.has_tags, settings: &opts.settings, cancel: &opts.cancel };

    let mut fatal = None;
    std::thread::scope(|s| {
        let mut first = Some(first_engine);
        for _ in 0..workers {
            let (rx, tx, ctx, engine) = (job_rx.clone(), ev_tx.clone(), &ctx, first.take());
            s.spawn(move || worker(engine, model, ctx, rx, tx));
        }
        drop(ev_tx);
        let (mut done, mut bytes_done) = (0, 0);
        for ev in ev_rx {
            match ev {
                Event::Fatal(e) => {
                    opts.cancel.store(true, Ordering::SeqCst);
                    fatal.get_or_insert(e);
                }
                Event::Done { path, bytes, outcome } => {
                    done += 1;
                    match outcome {
                        Outcome::Analysed { audio_s, redone, warnings } => {
                            summary.analysed += 1;
                            summary.redone += redone as usize;
                            summary.audio_s += audio_s;
                            if !warnings.is_empty() {
                                summary.warnings += 1;
                                on_event(ScanEvent::Damaged { path: &path, warnings: &warnings });
                            }
                        }
                        Outcome::Unchanged => summary.skipped += 1,
                        Outcome::Renamed => summary.renamed += 1,
                        Outcome::Copied => summary.copied += 1,
                        Outcome::Failed(error) => {
                            summary.errors += 1;
                            on_event(ScanEvent::Failed { path: &path, error: &error });
                            summary.error_files.push(FileError { path, error });
                        }
                    }
                    bytes_done += bytes;
                    on_event(ScanEvent::Progress { done, files: n_jobs, bytes_done });
                }
            }
        }
    });
    on_event(ScanEvent::Finished);
    if let Some(e) = fatal {
        return Err(e);
    }
    // Renames have taken their rows back by now: what is still marked is gone.
    summary.missing = db::still_missing(&conn, &gone).map_err(&dberr)?;
    if opts.prune && !opts.cancel.load(Ordering::SeqCst) {
        summary.pruned = db::prune_missing(&conn, &walked.prefixes).map_err(&dberr)?;
    }
    // Also after a cancelled scan: what it stored is searched through the index at once.
    summary.index = crate::ann::refresh(&conn, db_path, model_id, opts.index_min_rows)?;
    summary.interrupted = opts.cancel.load(Ordering::SeqCst);
    summary.wall_s = start.elapsed().as_secs_f64();
    summary.x_real_time = if summary.wall_s > 0.0 { summary.audio_s / summary.wall_s } else { 0.0 };
    Ok(summary)
}

struct Walked {
    /// (absolute path, stat), sorted, without duplicates.
    files: Vec<(String, FileStat)>,
    /// The roots as stored: rows under them can be found gone.
    prefixes: Vec<String>,
    /// Folders that could not be listed: their rows are not marked missing.
    unreadable: Vec<String>,
}

fn walk(roots: &[PathBuf], summary: &mut ScanSummary, on_event: &mut dyn FnMut(ScanEvent<'_>)) -> Result<Walked> {
    let mut files: HashMap<String, FileStat> = HashMap::new();
    let mut prefixes = Vec::new();
    let mut unreadable = Vec::new();
    let mut walk_note = |summary: &mut ScanSummary, line: String| {
        on_event(ScanEvent::Warning(&line));
        summary.walk_errors.push(line);
    };
    for root in roots {
        let abs = std::fs::canonicalize(root).map_err(|e| Error::Root { path: root.clone(), source: e })?;
        let Some(abs_str) = abs.to_str() else {
            return Err(Error::NotUtf8(root.clone()));
        };
        prefixes.push(abs_str.to_owned());
        // Links are followed (walkdir detects loops), so a linked music folder is scanned too; each
        // file is stored by its canonical path, so a link and its target are one track.
        for entry in walkdir::WalkDir::new(&abs).follow_links(true).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if let Some(p) = e.path() {
                        if p.is_dir() || e.depth() == 0 {
                            unreadable.push(p.to_string_lossy().into_owned());
                        }
                    }
                    walk_note(summary, e.to_string());
                    continue;
                }
            };
            if !entry.file_type().is_file() || !has_audio_extension(entry.path()) {
                continue;
            }
            let real = match std::fs::canonicalize(entry.path()) {
                Ok(p) => p,
                Err(e) => {
                    walk_note(summary, format!("{}: {e}", entry.path().display()));
                    continue;
                }
            };
            let Some(path) = real.to_str() else {
                walk_note(summary, format!("{}: not valid UTF-8, skipped", real.display()));
                continue;
            };
            match entry.metadata() {
                Ok(meta) => {
                    files.insert(path.to_owned(), FileStat::of(&meta));
                }
                Err(e) => walk_note(summary, format!("{path}: {e}")),
            }
        }
    }
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Walked { files, prefixes, unreadable })
}

struct Ctx<'a> {
    db: &'a Path,
    model_id: i64,
    has_tags: bool,
    settings: &'a OfflineSettings,
    cancel: &'a AtomicBool,
}

fn worker(engine: Option<OfflineEngine>, model: &Path, ctx: &Ctx, jobs: Receiver<Job>, events: Sender<Event>) {
    let engine = match engine.map_or_else(|| OfflineEngine::new(model), Ok) {
        Ok(e) => e,
        Err(e) => {
            let _ = events.send(Event::Fatal(e.into()));
            return;
        }
    };
    let mut conn = match db::open_rw(ctx.db) {
        Ok(c) => c,
        Err(e) => {
            let _ = events.send(Event::Fatal(e));
            return;
        }
    };
    let mut engine = Some(engine);
    for job in jobs {
        if ctx.cancel.load(Ordering::SeqCst) {
            break;
        }
        let bytes = job.stat.size;
        let path = job.path.clone();
        match process(&mut engine, model, &mut conn, ctx, job) {
            Ok(outcome) => {
                let _ = events.send(Event::Done { path, bytes, outcome });
            }
            Err(e) => {
                let _ = events.send(Event::Fatal(e));
                return;
            }
        }
    }
}

/// One file; database errors are fatal (the scan stops), file errors are recorded.
fn process(
    engine: &mut Option<OfflineEngine>,
    model: &Path,
    conn: &mut Connection,
    ctx: &Ctx,
    job: Job,
) -> Result<Outcome> {
    let dberr = db::db_err(ctx.db);
    let now = now();
    let (sha, print) = match hash_file(Path::new(&job.path)).and_then(|h| Ok((h, fingerprint(Path::new(&job.path))?))) {
        Ok(h) => h,
        Err(e) => {
            let msg = format!("cannot read {}: {e}", job.path);
            let file = FileId { stat: job.stat, sha256: None, fingerprint: None };
            store(conn, &job.path, &file, ctx.model_id, now, &Err(msg.clone())).map_err(&dberr)?;
            return Ok(Outcome::Failed(msg));
        }
    };
    match &job.known {
        Some(k)
            if k.ok
                && k.model_id == ctx.model_id
                && k.sha256.as_deref() == Some(sha.as_str())
                && !(k.untagged && ctx.has_tags) =>
        {
            db::touch(conn, k.id, job.stat, &print).map_err(&dberr)?;
            return Ok(Outcome::Unchanged);
        }
        Some(_) => {}
        None => {
            // Decided and written in one immediate transaction: two workers holding copies of
            // the same moved file cannot both take its row.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&dberr)?;
            let same = db::same_content(&tx, &sha, ctx.model_id).map_err(&dberr)?;
            let outcome =
                if let Some((id, _, _)) = same.iter().find(|(_, p, missing)| *missing || !Path::new(p).exists()) {
                    db::rename(&tx, *id, &job.path, job.stat, &print).map_err(&dberr)?;
                    Some(Outcome::Renamed)
                } else if let Some((id, _, _)) = same.first() {
                    db::copy(&tx, *id, &job.path, job.stat, now).map_err(&dberr)?;
                    Some(Outcome::Copied)
                } else {
                    None
                };
            tx.commit().map_err(&dberr)?;
            if let Some(o) = outcome {
                return Ok(o);
            }
        }
    }
    let redone = job.known.as_ref().is_some_and(|k| k.model_id != ctx.model_id);
    // The error is stored as text: the library's rows are read by people (`stats`) and the CLI.
    let result = analyse(engine, model, Path::new(&job.path), ctx.settings).map_err(|e| e.to_string());
    let file = FileId { stat: job.stat, sha256: Some(&sha), fingerprint: Some(&print) };
    store(conn, &job.path, &file, ctx.model_id, now, &result).map_err(&dberr)?;
    Ok(match result {
        Ok(a) => Outcome::Analysed { audio_s: a.duration_s, redone, warnings: a.warnings },
        Err(e) => Outcome::Failed(e),
    })
}

/// One file's row and timeline, in one transaction.
fn store(
    conn: &mut Connection,
    path: &str,
    file: &FileId<'_>,
    model_id: i64,
    now: i64,
    result: &std::result::Result<Analysis, String>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    db::store(&tx, path, file, model_id, now, result)?;
    tx.commit()
}

/// Decodes and analyses one file. A panic in a decoder (malformed input) is this file's error;
/// the engine is rebuilt after one, since it may have been left mid-file.
pub(crate) fn analyse(
    engine: &mut Option<OfflineEngine>,
    model: &Path,
    path: &Path,
    settings: &OfflineSettings,
) -> Result<Analysis> {
    let crashed = |what| Error::Crashed { path: path.to_path_buf(), what };
    let audio =
        std::panic::catch_unwind(|| decode_file(path)).map_err(|_| crashed("decoder"))?.map_err(EngineError::from)?;
    if engine.is_none() {
        *engine = Some(OfflineEngine::new(model)?);
    }
    let run =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.as_mut().map(|e| e.analyze(&audio, settings))));
    let predictions = match run {
        Ok(Some(r)) => r.map_err(|source| Error::Analysis { path: path.to_path_buf(), source })?,
        _ => {
            *engine = None;
            return Err(crashed("analysis"));
        }
    };
    // With the model's out-of-set threshold, if it has the class.
    let verdict = engine.as_ref().and_then(|e| e.verdict(&predictions));
    Ok(Analysis {
        duration_s: audio.duration_s(),
        sample_rate: audio.sample_rate,
        channels: audio.channels.len(),
        windows: predictions.len(),
        gated_windows: predictions.iter().filter(|p| p.gated).count(),
        verdict: verdict.map(|v| v.probs),
        other: verdict.map(|v| v.other),
        out_of_set: verdict.is_some_and(|v| v.claim == Claim::Other),
        timeline: timeline::encode(&predictions),
        embedding: file_embedding(&predictions),
        tags: file_tags(&predictions),
        warnings: audio.warnings,
    })
}

pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(genrescope_core::hex(&h.finalize()))
}

/// Bytes read from each end of a file for its [`fingerprint`].
pub const FINGERPRINT_CHUNK: u64 = 64 * 1024;

/// A cheap content check for re-scans: SHA-256 over the size (u64 LE), the first 64 KiB and the
/// last 64 KiB (the whole file when it is at most 128 KiB), truncated to 16 bytes. Audio files keep
/// their tags at the start or the end, so a tag edit that keeps size and mtime changes it; an
/// edit in the middle that keeps both is left to the full hash of a changed stat.
pub fn fingerprint(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; FINGERPRINT_CHUNK as usize];
    if size <= 2 * FINGERPRINT_CHUNK {
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else {
        f.read_exact(&mut buf)?;
        h.update(&buf);
        f.seek(SeekFrom::Start(size - FINGERPRINT_CHUNK))?;
        f.read_exact(&mut buf)?;
        h.update(&buf);
    }
    Ok(h.finalize()[..16].to_vec())
}

/// `f` over `items` on up to `threads` scoped threads, results in order. (No thread pool crate for
/// one call site.)
fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// The audio files a scan of `roots` would look at (canonical paths, sorted), and the notes of
/// entries the walk could not read: the file list a map step (`analyze --jsonl`) is given.
pub fn list_audio_files(roots: &[PathBuf]) -> Result<(Vec<String>, Vec<String>)> {
    let mut summary = ScanSummary::default();
    let walked = walk(roots, &mut summary, &mut |_| {})?;
    Ok((walked.files.into_iter().map(|(p, _)| p).collect(), summary.walk_errors))
}
