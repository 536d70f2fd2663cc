//! Approximate nearest neighbours for `similar` and `radio`: one HNSW index per model (usearch),
//! in a file beside the library (`<db>-ann-<model id>.usearch`), memory-mapped by queries.
//!
//! Why usearch: HNSW with incremental adds and removals, an index file that is memory-mapped (a
//! one-shot `similar` does not read 10⁶ vectors to answer), int8 vectors (a quarter of the f32
//! bytes: the library's size budget), and it builds offline from crates.io (C++ through `cxx`,
//! no download). sqlite-vec would keep the vectors inside the database, but its `vec0` tables are
//! searched by brute force: no faster than our own scan. Pure-Rust HNSW crates rebuild in memory
//! on every load, or cannot remove a vector.
//!
//! The index is a cache of the rows, never the truth: every change to a row's embedding, model
//! or status is logged by triggers (`ann_log`, schema 5), and `ann_index.seq` says up to which log
//! entry the file holds. A query searches the index, adds the rows logged since (a scan in
//! progress, or one that was killed), and re-scores every candidate exactly from the row's f32
//! embedding, dropping rows that are missing, failed or of another model. So the answer reflects
//! the rows as they are, and int8 rounding only decides which rows are candidates. Libraries
//! below [`MIN_ROWS`] rows (or without an index) are searched exactly.
use crate::db::{self, blob_embedding};
use crate::similar::{self, Neighbour};
use crate::{Error, Result};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// Rows of one model from which `scan` and `import` keep an index: below it an exact search
/// costs less than 10 ms (BENCHMARKS.md, "Library").
pub const MIN_ROWS: usize = 20_000;
/// HNSW graph degree (usearch's "connectivity", M).
const CONNECTIVITY: usize = 16;
/// Candidate list while building (efConstruction).
const EXPANSION_ADD: usize = 128;
/// Candidate list while searching (ef): the recall/latency trade-off, measured in BENCHMARKS.md.
pub const EXPANSION_SEARCH: usize = 128;
/// Candidates re-scored exactly per result asked for (at least [`MIN_CANDIDATES`]).
const CANDIDATES_PER_RESULT: usize = 4;
const MIN_CANDIDATES: usize = 64;
/// More rows logged since the index than this: searched exactly (the index is far behind).
const MAX_PENDING: usize = 50_000;
/// An update that changes more than this share of the vectors rebuilds the index instead.
const REBUILD_SHARE: f64 = 0.2;

/// `<db>-ann-<model id>.usearch`.
pub fn index_path(db: &Path, model_id: i64) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(format!("-ann-{model_id}.usearch"));
    PathBuf::from(p)
}

/// What [`refresh`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Refreshed {
    /// Vectors in the index now (0: no index, the library is searched exactly).
    pub vectors: usize,
    /// Built from all rows (else updated from the log, or nothing to do).
    pub rebuilt: bool,
    /// Rows changed since the last update and applied to the index.
    pub applied: usize,
}

fn ann_err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Ann { path: path.to_path_buf(), message: e.to_string() }
}

/// Brings `model_id`'s index in step with the rows (called by `scan` and `import`, under the
/// library's write lock): builds it once the model has `min_rows` rows with embeddings, updates it
/// from the log, removes it when the rows fall below. Then trims the log.
pub fn refresh(conn: &Connection, db_path: &Path, model_id: i64, min_rows: usize) -> Result<Refreshed> {
    let dberr = db::db_err(db_path);
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM tracks WHERE model_id = ?1 AND status = 'ok' AND embedding IS NOT NULL",
            params![model_id],
            |r| r.get(0),
        )
        .map_err(&dberr)?;
    let rows = rows as usize;
    let current: Option<(String, i64)> = conn
        .query_row("SELECT file, seq FROM ann_index WHERE model_id = ?1", params![model_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(&dberr)?;
    let last_seq: i64 =
        conn.query_row("SELECT coalesce(max(seq), 0) FROM ann_log", [], |r| r.get(0)).map_err(&dberr)?;
    let file = index_path(db_path, model_id);
    let mut out = Refreshed::default();
    if rows < min_rows.max(1) {
        if current.is_some() {
            drop_index(conn, db_path, model_id)?;
        }
    } else {
        let dim: Option<i64> = conn
            .query_row(
                "SELECT length(embedding) / 4 FROM tracks WHERE model_id = ?1 AND embedding IS NOT NULL LIMIT 1",
                params![model_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(&dberr)?;
        let dim = dim.unwrap_or(0) as usize;
        let changed: Vec<i64> = match &current {
            Some((_, seq)) => conn
                .prepare("SELECT DISTINCT track_id FROM ann_log WHERE seq > ?1")
                .and_then(|mut st| st.query_map(params![seq], |r| r.get(0))?.collect())
                .map_err(&dberr)?,
            None => Vec::new(),
        };
        let loaded = match &current {
            Some(_) if (changed.len() as f64) <= REBUILD_SHARE * rows as f64 => {
                Index::restore(&file.to_string_lossy()).ok().filter(|i| i.dimensions() == dim)
            }
            _ => None,
        };
        let index = match loaded {
            Some(index) => {
                if changed.is_empty() {
                    out.vectors = index.size();
                    trim_log(conn, db_path)?;
                    return Ok(out);
                }
                let mut st = conn
                    .prepare(
                        "SELECT embedding FROM tracks WHERE id = ?1 AND model_id = ?2 AND status = 'ok'
                         AND embedding IS NOT NULL",
                    )
                    .map_err(&dberr)?;
                index.reserve(index.size() + changed.len()).map_err(ann_err(&file))?;
                for &id in &changed {
                    if index.contains(id as u64) {
                        index.remove(id as u64).map_err(ann_err(&file))?;
                    }
                    let blob: Option<Vec<u8>> =
                        st.query_row(params![id, model_id], |r| r.get(0)).optional().map_err(&dberr)?;
                    if let Some(v) = blob.map(|b| unit(&blob_embedding(&b))).filter(|v| v.len() == dim) {
                        index.add(id as u64, &v).map_err(ann_err(&file))?;
                    }
                }
                out.applied = changed.len();
                index
            }
            None => {
                out.rebuilt = true;
                build(conn, db_path, model_id, dim, rows, &file)?
            }
        };
        out.vectors = index.size();
        // A new file, then renamed over the old: a query that mapped the old one keeps it.
        let tmp = file.with_extension("usearch.tmp");
        index.save(&tmp.to_string_lossy()).map_err(ann_err(&file))?;
        std::fs::rename(&tmp, &file).map_err(|e| Error::Io { path: file.clone(), source: e })?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        conn.execute(
            "INSERT INTO ann_index (model_id, file, seq, vectors, built_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (model_id) DO UPDATE SET file = ?2, seq = ?3, vectors = ?4, built_at = ?5",
            params![model_id, name, last_seq, out.vectors as i64, crate::scan::now()],
        )
        .map_err(&dberr)?;
    }
    // Indexes of models without rows any more go.
    let orphans: Vec<i64> = conn
        .prepare(
            "SELECT model_id FROM ann_index a WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.model_id = a.model_id)",
        )
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(&dberr)?;
    for m in orphans {
        drop_index(conn, db_path, m)?;
    }
    trim_log(conn, db_path)?;
    Ok(out)
}

fn drop_index(conn: &Connection, db_path: &Path, model_id: i64) -> Result<()> {
    conn.execute("DELETE FROM ann_index WHERE model_id = ?1", params![model_id]).map_err(db::db_err(db_path))?;
    let file = index_path(db_path, model_id);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: file, source: e }),
        _ => Ok(()),
    }
}

/// Log entries every index holds are not needed any more (all of them when there is no index).
fn trim_log(conn: &Connection, db_path: &Path) -> Result<()> {
    conn.execute(
        "DELETE FROM ann_log WHERE seq <= coalesce((SELECT min(seq) FROM ann_index), (SELECT max(seq) FROM ann_log))",
        [],
    )
    .map_err(db::db_err(db_path))?;
    Ok(())
}

/// Index options: cosine over int8 vectors (usearch scales each unit vector to ±127).
fn options(dim: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: ScalarKind::I8,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

/// `v / |v|`: usearch's int8 cast scales by the norm; unit vectors keep the scale the same for
/// every row.
fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// A new index of all rows of `model_id` with embeddings, built on every core.
fn build(conn: &Connection, db_path: &Path, model_id: i64, dim: usize, rows: usize, file: &Path) -> Result<Index> {
    let dberr = db::db_err(db_path);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let index = Index::new(&options(dim)).map_err(ann_err(file))?;
    index.reserve_capacity_and_threads(rows, threads).map_err(ann_err(file))?;
    let mut st = conn
        .prepare("SELECT id, embedding FROM tracks WHERE model_id = ?1 AND status = 'ok' AND embedding IS NOT NULL")
        .map_err(&dberr)?;
    let mut q = st.query(params![model_id]).map_err(&dberr)?;
    // Read in chunks on this thread, add on all of them (usearch's adds are thread-safe).
    const CHUNK: usize = 16_384;
    loop {
        let mut chunk: Vec<(u64, Vec<f32>)> = Vec::with_capacity(CHUNK);
        while chunk.len() < CHUNK {
            let Some(r) = q.next().map_err(&dberr)? else { break };
            let id: i64 = r.get(0).map_err(&dberr)?;
            if let ValueRef::Blob(b) = r.get_ref(1).map_err(&dberr)? {
                let v = unit(&blob_embedding(b));
                if v.len() == dim {
                    chunk.push((id as u64, v));
                }
            }
        }
        if chunk.is_empty() {
            break;
        }
        let per = chunk.len().div_ceil(threads);
        let failed = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .chunks(per)
                .map(|part| s.spawn(|| part.iter().try_for_each(|(k, v)| index.add(*k, v).map_err(|e| e.to_string()))))
                .collect();
            handles.into_iter().find_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)).err())
        });
        if let Some(message) = failed {
            return Err(Error::Ann { path: file.to_path_buf(), message });
        }
    }
    Ok(index)
}

/// An index ready to search, or `None` when the model has none (or it cannot be read: the exact
/// search answers then).
pub struct Searcher {
    index: Index,
    seq: i64,
}

impl Searcher {
    pub fn open(conn: &Connection, db_path: &Path, model_id: i64) -> Result<Option<Self>> {
        let row: Option<(String, i64)> = conn
            .query_row("SELECT file, seq FROM ann_index WHERE model_id = ?1", params![model_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db::db_err(db_path))?;
        let Some((name, seq)) = row else { return Ok(None) };
        let file = db_path.with_file_name(name);
        if !file.is_file() {
            return Ok(None);
        }
        let Ok(index) = Index::restore_view(&file.to_string_lossy()) else { return Ok(None) };
        index.change_expansion_search(EXPANSION_SEARCH);
        Ok(Some(Self { index, seq }))
    }

    pub fn vectors(&self) -> usize {
        self.index.size()
    }

    /// The `top` present rows of `model_id` nearest to `query`, best first, without `exclude`;
    /// `None` when the exact search should answer instead (the index is far behind the rows, or
    /// too few of its candidates are still valid).
    pub fn search(
        &self,
        conn: &Connection,
        db_path: &Path,
        model_id: i64,
        query: &[f32],
        top: usize,
        exclude: &HashSet<i64>,
    ) -> Result<Option<Vec<Neighbour>>> {
        let dberr = db::db_err(db_path);
        if query.len() != self.index.dimensions() || top == 0 {
            return Ok(None);
        }
        // Rows changed since the index was written: scored exactly, whatever the index says.
        let pending: Vec<i64> = conn
            .prepare_cached("SELECT DISTINCT track_id FROM ann_log WHERE seq > ?1 LIMIT ?2")
            .and_then(|mut st| st.query_map(params![self.seq, MAX_PENDING as i64 + 1], |r| r.get(0))?.collect())
            .map_err(&dberr)?;
        if pending.len() > MAX_PENDING {
            return Ok(None);
        }
        let pending_set: HashSet<i64> = pending.iter().copied().collect();
        let q = unit(query);
        let mut want = (top * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let mut st = conn
            .prepare_cached(
                "SELECT embedding FROM tracks WHERE id = ?1 AND model_id = ?2 AND status = 'ok'
                 AND missing_since IS NULL AND embedding IS NOT NULL",
            )
            .map_err(&dberr)?;
        loop {
            let hits = self
                .index
                .filtered_search(&q, want, |k| {
                    let id = k as i64;
                    !exclude.contains(&id) && !pending_set.contains(&id)
                })
                .map_err(ann_err(db_path))?;
            let exhausted = hits.keys.len() < want;
            let mut scored = Vec::with_capacity(hits.keys.len() + pending.len());
            for id in hits.keys.iter().map(|&k| k as i64).chain(pending.iter().copied()) {
                if exclude.contains(&id) {
                    continue;
                }
                let blob: Option<Vec<u8>> =
                    st.query_row(params![id, model_id], |r| r.get(0)).optional().map_err(&dberr)?;
                if let Some(similarity) = blob.and_then(|b| similar::cosine(query, &b)) {
                    scored.push(Neighbour { id, similarity });
                }
            }
            if scored.len() >= top || exhausted {
                scored.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
                scored.truncate(top);
                return Ok(Some(scored));
            }
            // Many candidates were missing files or rows of another model: ask for more.
            if want >= self.index.size() {
                return Ok(None);
            }
            want *= 4;
        }
    }
}
