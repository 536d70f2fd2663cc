//! `import`: merges [`TrackRow`]s (JSON lines from `Genrescope analyze --jsonl`, e.g. written by a
//! cluster) into a library. Each row is stored exactly as a scan that analysed the file would
//! store it, under the row's canonical path, with the row's model; a row equal to the stored one
//! is left alone, so importing the same rows twice changes nothing. Rows are written in batches,
//! one transaction each, under the library's write lock (one writer at a time, like `scan`).
use crate::db::{self, FileId};
use crate::row::{RowError, TrackRow};
use crate::{Error, Result};
use crossbeam_channel::bounded;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rows per transaction: large enough that commits cost little, small enough that a stopped
/// import keeps most of its work.
const BATCH: usize = 5_000;
/// Invalid lines listed in the summary (all are counted).
const MAX_LISTED: usize = 20;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// When another scan or import is writing the library: wait for it instead of refusing.
    pub wait: bool,
    /// Rows of a model from which a similarity index is kept ([`crate::ann`]).
    pub index_min_rows: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { wait: false, index_min_rows: crate::ann::MIN_ROWS }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportSummary {
    pub db: String,
    /// Lines with a row.
    pub rows: usize,
    /// Rows for paths the library did not have.
    pub added: usize,
    /// Rows that replaced a different stored row of the same path.
    pub updated: usize,
    /// Rows equal to what the library holds already.
    pub unchanged: usize,
    /// Of the stored rows: files whose analysis failed (stored with their error, as a scan does).
    pub errors: usize,
    /// Rows of files the map step did not find (nothing to store).
    pub not_found: usize,
    /// Lines that are not a row this build reads (listed up to 20 in `invalid_lines`).
    pub invalid: usize,
    pub invalid_lines: Vec<String>,
    /// Models of the stored rows, "name (manifest sha256 prefix)".
    pub models: Vec<String>,
    /// Vectors in the similarity index of each model imported (0: searched exactly).
    pub index_vectors: Vec<usize>,
    pub wall_s: f64,
    pub rows_per_s: f64,
}

/// A line to store, or why it cannot be.
type Parsed = std::result::Result<TrackRow, String>;

/// What decides that an imported row is already stored: model, sha256, fingerprint, size, mtime,
/// analysis time, present.
type StoredId = (i64, Option<String>, Option<Vec<u8>>, i64, i64, i64, bool);

/// Imports the JSON-lines files `sources` (`-` reads standard input) into the library at `db_path`.
pub fn import(db_path: &Path, sources: &[PathBuf], opts: &ImportOptions) -> Result<ImportSummary> {
    let _lock = crate::lock::acquire(db_path, opts.wait, &mut |_| {})?;
    // Check every source before writing anything.
    for s in sources.iter().filter(|s| s.as_os_str() != "-") {
        if !s.is_file() {
            return Err(Error::NotAFile(s.clone()));
        }
    }
    let start = Instant::now();
    let mut conn = db::open_rw(db_path)?;
    let dberr = db::db_err(db_path);
    let mut summary = ImportSummary { db: db_path.display().to_string(), ..Default::default() };
    // JSON parsing costs about as much as the inserts: one thread reads and parses, this one writes.
    let (tx, rx) = bounded::<Parsed>(4 * 1024);
    let mut read_err = None;
    let mut model_ids = Vec::new();
    std::thread::scope(|s| {
        let reader = s.spawn(move || -> Result<()> {
            for src in sources {
                let (name, input): (String, Box<dyn BufRead>) = if src.as_os_str() == "-" {
                    ("<stdin>".into(), Box::new(std::io::stdin().lock()))
                } else {
                    let f = std::fs::File::open(src).map_err(|e| Error::Io { path: src.clone(), source: e })?;
                    (src.display().to_string(), Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
                };
                for (n, line) in input.lines().enumerate() {
                    let line = line.map_err(|e| Error::Io { path: src.clone(), source: e })?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let parsed = serde_json::from_str::<TrackRow>(&line).map_err(|e| format!("{name}:{}: {e}", n + 1));
                    if tx.send(parsed).is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        });
        let written = write_rows(&mut conn, db_path, rx.iter(), &mut summary, &mut model_ids);
        // A write error stops the reader (its channel closes) before it is joined.
        drop(rx);
        read_err = match (written, reader.join()) {
            (Err(e), _) => Some(e),
            (Ok(()), Ok(Err(e))) => Some(e),
            (Ok(()), Err(p)) => std::panic::resume_unwind(p),
            (Ok(()), Ok(Ok(()))) => None,
        };
    });
    if let Some(e) = read_err {
        return Err(e);
    }
    for id in model_ids {
        summary.index_vectors.push(crate::ann::refresh(&conn, db_path, id, opts.index_min_rows)?.vectors);
    }
    conn.execute_batch("PRAGMA optimize").map_err(&dberr)?;
    summary.wall_s = start.elapsed().as_secs_f64();
    summary.rows_per_s = if summary.wall_s > 0.0 { summary.rows as f64 / summary.wall_s } else { 0.0 };
    Ok(summary)
}

fn write_rows(
    conn: &mut rusqlite::Connection,
    db_path: &Path,
    rows: impl Iterator<Item = Parsed>,
    summary: &mut ImportSummary,
    model_ids: &mut Vec<i64>,
) -> Result<()> {
    let dberr = db::db_err(db_path);
    let mut models: HashMap<(String, String), i64> = HashMap::new();
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&dberr)?;
        for parsed in rows.by_ref().take(BATCH) {
            let row = match parsed {
                Ok(r) => r,
                Err(e) => {
                    invalid(summary, e);
                    continue;
                }
            };
            summary.rows += 1;
            let (stat, result) = match row.to_db() {
                Ok(x) => x,
                Err(RowError::NotFound(_)) => {
                    summary.not_found += 1;
                    continue;
                }
                Err(e) => {
                    invalid(summary, e.to_string());
                    continue;
                }
            };
            let fingerprint = match row.fingerprint.as_deref().map(unhex) {
                None => None,
                Some(Some(b)) => Some(b),
                Some(None) => {
                    invalid(summary, format!("{}: fingerprint is not hex", row.path));
                    continue;
                }
            };
            let key = (row.model.manifest_sha256.clone(), row.model.settings.to_string());
            let model_id = match models.get(&key) {
                Some(&id) => id,
                None => {
                    let id = db::register_model(&tx, &row.model.model_row(crate::scan::now()), true).map_err(&dberr)?;
                    summary.models.push(format!("{} ({})", row.model.name, short(&row.model.manifest_sha256)));
                    models.insert(key, id);
                    model_ids.push(id);
                    id
                }
            };
            let path = row.stored_path();
            let stored: Option<StoredId> = tx
                .prepare_cached(
                    "SELECT model_id, sha256, fingerprint, size, mtime_ns, analysed_at, missing_since IS NULL
                     FROM tracks WHERE path = ?1",
                )
                .and_then(|mut st| {
                    st.query_row(params![path], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                    })
                    .optional()
                })
                .map_err(&dberr)?;
            let this = (
                model_id,
                row.sha256.clone(),
                fingerprint.clone(),
                stat.size as i64,
                stat.mtime_ns,
                row.analysed_at,
                true,
            );
            if stored.as_ref() == Some(&this) {
                summary.unchanged += 1;
                continue;
            }
            let file = FileId { stat, sha256: row.sha256.as_deref(), fingerprint: fingerprint.as_deref() };
            db::store(&tx, path, &file, model_id, row.analysed_at, &result).map_err(&dberr)?;
            summary.errors += result.is_err() as usize;
            match stored {
                Some(_) => summary.updated += 1,
                None => summary.added += 1,
            }
        }
        tx.commit().map_err(&dberr)?;
    }
    Ok(())
}

fn invalid(summary: &mut ImportSummary, line: String) {
    summary.invalid += 1;
    if summary.invalid_lines.len() < MAX_LISTED {
        summary.invalid_lines.push(line);
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
