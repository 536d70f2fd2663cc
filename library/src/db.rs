//! The SQLite file: schema, migrations (`PRAGMA user_version`) and every query.
//!
//! One row per file path in `tracks`, analysed or failed; `models` names what analysed it; the
//! per-window timeline sits in `timelines`, so the rows that find / similar / stats read stay
//! small (about 1 KiB with a 200-dim embedding). WAL journal and one transaction per file, so a
//! killed scan leaves whole rows only.
use crate::{Error, Result};
use genrescope_core::labels::{Probs, GENRES, NUM_GENRES};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The schema this build writes; older files are migrated, newer ones refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `MIGRATIONS[i]` takes a file from `user_version` i to i + 1. One per schema change, never edited
/// once released: a library written by an older build replays the ones it lacks.
const MIGRATIONS: [&str; 5] = [
    r#"
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- SHA-256 of manifest.json, which lists every ONNX file's SHA-256: the model's identity.
    manifest_sha256 TEXT NOT NULL,
    -- The engine settings of the scan (JSON): other settings give other numbers.
    settings TEXT NOT NULL,
    embedding_dim INTEGER,
    window_s REAL NOT NULL,
    -- Unix seconds of the last scan with this model; find and stats read the latest.
    last_used INTEGER NOT NULL,
    UNIQUE (manifest_sha256, settings)
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    -- SHA-256 of the file's bytes; NULL only when the file could not be read.
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,
    -- Decoder notes on a damaged file that still decoded, one per line.
    warnings TEXT,
    model_id INTEGER NOT NULL REFERENCES models(id),
    analysed_at INTEGER NOT NULL,
    -- Unix seconds when a scan of its folder last found the file gone; NULL while present.
    missing_since INTEGER,
    duration_s REAL,
    sample_rate INTEGER,
    channels INTEGER,
    windows INTEGER,
    gated_windows INTEGER,
    -- Whole-file soft vote (file_verdict); all NULL when every window was gated.
    top_genre TEXT,
    p_blues REAL, p_classical REAL, p_country REAL, p_disco REAL, p_hiphop REAL,
    p_jazz REAL, p_metal REAL, p_pop REAL, p_reggae REAL, p_rock REAL,
    -- Mean embedding of the ungated windows (file_embedding), little-endian f32.
    embedding BLOB
);
-- See crate::timeline; only for analysed tracks.
CREATE TABLE timelines (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
CREATE INDEX tracks_sha256 ON tracks (sha256);
CREATE INDEX tracks_model_top ON tracks (model_id, top_genre);
"#,
    r#"
-- "None of these": the whole-file mean out-of-set probability (0 for a model without the class;
-- NULL when every window was gated, or for rows analysed before this column existed).
ALTER TABLE tracks ADD COLUMN p_other REAL;
-- What the file is judged: the top genre, or 'other' when p_other reached the model's
-- threshold; NULL without a verdict. top_genre stays the most probable genre either way.
ALTER TABLE tracks ADD COLUMN claim TEXT;
UPDATE tracks SET claim = top_genre;
CREATE INDEX tracks_model_claim ON tracks (model_id, claim);
"#,
    // 3: a content fingerprint (crate::scan::fingerprint), checked on every re-scan, so an edit that
    // keeps size and mtime is seen. NULL for rows of older versions: their next scan hashes them whole.
    r#"
ALTER TABLE tracks ADD COLUMN fingerprint BLOB;
"#,
    // 4: the trunk's 50 music tags (labels::MSD_TAGS), whole-file means over ungated windows, as
    // 50 u16 LE (p × 65535; read them in SQL with `tag(tags, i)`). NULL for a model without tags
    // and for rows of older versions, which the next scan with a tag model analyses again.
    r#"
ALTER TABLE tracks ADD COLUMN tags BLOB;
"#,
    // 5: approximate-neighbour indexes (crate::ann), kept in step with the rows: every change to a
    // row's embedding or model is logged, and an index records the last log entry it holds.
    r#"
CREATE TABLE ann_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, track_id INTEGER NOT NULL);
CREATE TRIGGER tracks_ann_insert AFTER INSERT ON tracks WHEN NEW.embedding IS NOT NULL
    BEGIN INSERT INTO ann_log (track_id) VALUES (NEW.id); END;
CREATE TRIGGER tracks_ann_update AFTER UPDATE OF embedding, model_id, status ON tracks
    WHEN OLD.embedding IS NOT NULL OR NEW.embedding IS NOT NULL
    BEGIN INSERT INTO ann_log (track_id) VALUES (NEW.id); END;
CREATE TRIGGER tracks_ann_delete AFTER DELETE ON tracks WHEN OLD.embedding IS NOT NULL
    BEGIN INSERT INTO ann_log (track_id) VALUES (OLD.id); END;
CREATE TABLE ann_index (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    -- The file name, beside the library.
    file TEXT NOT NULL,
    -- The last ann_log entry the file holds.
    seq INTEGER NOT NULL,
    vectors INTEGER NOT NULL,
    built_at INTEGER NOT NULL
);
"#,
];

/// `claim` of a track judged out of set ("other / unsure").
pub const OTHER_CLAIM: &str = "other";

/// The ten probability columns, in GENRES order.
pub fn prob_columns() -> [String; NUM_GENRES] {
    GENRES.map(|g| format!("p_{g}"))
}

/// Opens (creating if needed) a library for writing and migrates it.
pub fn open_rw(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| match read_only(&e) {
            true => Error::ReadOnly { path: path.to_path_buf(), what: "its folder" },
            false => Error::Io { path: dir.to_path_buf(), source: e },
        })?;
    }
    // SQLite would open a write-protected file read-only without a word and fail at the first
    // write, after a scan has spent its time analysing: ask the file system first.
    if path.exists() {
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
            return Err(match read_only(&e) {
                true => Error::ReadOnly { path: path.to_path_buf(), what: "the file" },
                false => Error::Io { path: path.to_path_buf(), source: e },
            });
        }
    }
    let conn = Connection::open(path).map_err(db_err(path))?;
    configure(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err(path))?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens an existing library for queries; a missing file is an error that says what to do.
pub fn open_ro(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(Error::NoLibrary(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(db_err(path))?;
    configure(&conn, path)?;
    // Queries read every row (find sorts, similar compares all): map the file instead of copying
    // each page through SQLite's small page cache.
    conn.pragma_update(None, "mmap_size", 1i64 << 30).map_err(db_err(path))?;
    let version = user_version(&conn, path)?;
    if version == 0 {
        return Err(Error::NotALibrary(path.to_path_buf()));
    }
    if version != SCHEMA_VERSION {
        // Newer: refused. Older: a scan (read-write) migrates it.
        return Err(Error::Schema { path: path.to_path_buf(), found: version });
    }
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<()> {
    register_functions(conn).map_err(db_err(path))?;
    // Workers of one scan and a concurrent query share the file; writes are short.
    conn.busy_timeout(Duration::from_secs(60)).map_err(db_err(path))?;
    // In WAL mode NORMAL keeps the file consistent on a crash; only an OS crash may lose the last rows.
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err(path))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db_err(path))?;
    Ok(())
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_err(path))
}

fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version = user_version(conn, path)?;
    if version > SCHEMA_VERSION {
        return Err(Error::Schema { path: path.to_path_buf(), found: version });
    }
    if version == 0 {
        // A non-empty file without our version is someone else's database.
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(db_err(path))?;
        if tables > 0 {
            return Err(Error::NotALibrary(path.to_path_buf()));
        }
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        // One transaction per step, version bump included, so a crash never leaves half a schema.
        let batch = format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1);
        conn.execute_batch(&batch).map_err(db_err(path))?;
    }
    Ok(())
}

/// A permission or read-only-file-system error.
pub(crate) fn read_only(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem)
}

/// SQLite's errors on `path`, with the ones a user can fix named: a full disk, a read-only file.
pub fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::DiskFull { path: path.to_path_buf() },
        Some(rusqlite::ErrorCode::ReadOnly) => Error::ReadOnly { path: path.to_path_buf(), what: "the database" },
        _ => Error::Db { path: path.to_path_buf(), source },
    }
}

/// `tag(tags, i)`: tag `i` of a `tags` blob as a probability (NULL for a NULL blob or a tag it
/// does not have), so queries can rank by tags in SQL.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function("tag", 2, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        let i = usize::try_from(ctx.get::<i64>(1)?).ok();
        Ok(match (ctx.get_raw(0), i) {
            (ValueRef::Blob(b), Some(i)) => b.get(2 * i..2 * i + 2).map(|v| tag_value([v[0], v[1]]) as f64),
            _ => None,
        })
    })
}

/// Tags as stored: u16 LE per tag, p × 65535 (like the timeline's probabilities).
pub fn tags_blob(tags: &[f32]) -> Vec<u8> {
    tags.iter().flat_map(|&p| crate::timeline::quantize(p).to_le_bytes()).collect()
}

pub fn blob_tags(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(2).map(|c| tag_value([c[0], c[1]])).collect()
}

fn tag_value(b: [u8; 2]) -> f32 {
    u16::from_le_bytes(b) as f32 / u16::MAX as f32
}

/// What analysed a row: a model and the engine settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub manifest_sha256: String,
    pub settings: String,
    pub embedding_dim: Option<usize>,
    pub window_s: f64,
    pub last_used: i64,
}

/// The row of a model, created if new; `touch` marks it as the latest scan's.
pub fn register_model(conn: &Connection, m: &ModelRow, touch: bool) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO models (name, manifest_sha256, settings, embedding_dim, window_s, last_used)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (manifest_sha256, settings) DO NOTHING",
        params![m.name, m.manifest_sha256, m.settings, m.embedding_dim.map(|d| d as i64), m.window_s, m.last_used],
    )?;
    let id = conn.query_row(
        "SELECT id FROM models WHERE manifest_sha256 = ?1 AND settings = ?2",
        params![m.manifest_sha256, m.settings],
        |r| r.get(0),
    )?;
    if touch {
        conn.execute("UPDATE models SET last_used = ?1, name = ?2 WHERE id = ?3", params![m.last_used, m.name, id])?;
    }
    Ok(id)
}

pub fn models(conn: &Connection) -> rusqlite::Result<Vec<ModelRow>> {
    let mut st = conn.prepare(
        "SELECT id, name, manifest_sha256, settings, embedding_dim, window_s, last_used FROM models ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(ModelRow {
            id: r.get(0)?,
            name: r.get(1)?,
            manifest_sha256: r.get(2)?,
            settings: r.get(3)?,
            embedding_dim: r.get::<_, Option<i64>>(4)?.map(|d| d as usize),
            window_s: r.get(5)?,
            last_used: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// Size and modification time: the cheap "unchanged?" test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileStat {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).ok(),
                Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
            })
            .unwrap_or(0);
        Self { size: meta.len(), mtime_ns }
    }
}

/// What the scan needs to know about a stored row to decide whether to redo it.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub id: i64,
    pub stat: FileStat,
    pub sha256: Option<String>,
    /// `None` for rows stored before fingerprints (schema 3) or for unreadable files.
    pub fingerprint: Option<Vec<u8>>,
    pub ok: bool,
    pub model_id: i64,
    pub missing: bool,
    /// Analysed, with a verdict but no tags: stored before the library kept tags (schema < 3).
    pub untagged: bool,
}

pub fn known_tracks(conn: &Connection) -> rusqlite::Result<HashMap<String, Known>> {
    let mut st = conn.prepare(
        "SELECT path, id, size, mtime_ns, sha256, status = 'ok', model_id, missing_since IS NOT NULL, fingerprint,
            top_genre IS NOT NULL AND tags IS NULL
         FROM tracks",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Known {
                id: r.get(1)?,
                stat: FileStat { size: r.get::<_, i64>(2)? as u64, mtime_ns: r.get(3)? },
                sha256: r.get(4)?,
                ok: r.get(5)?,
                model_id: r.get(6)?,
                missing: r.get(7)?,
                fingerprint: r.get(8)?,
                untagged: r.get(9)?,
            },
        ))
    })?;
    rows.collect()
}

/// Marks rows as gone (`missing_since = now` unless already set) or present again.
pub fn set_missing(conn: &mut Connection, ids: &[i64], missing: bool, now: i64) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = 0;
    {
        let mut st = if missing {
            tx.prepare("UPDATE tracks SET missing_since = ?2 WHERE id = ?1 AND missing_since IS NULL")?
        } else {
            tx.prepare("UPDATE tracks SET missing_since = NULL WHERE id = ?1")?
        };
        for &id in ids {
            n += if missing { st.execute(params![id, now])? } else { st.execute(params![id])? };
        }
    }
    tx.commit()?;
    Ok(n)
}

/// How many of `ids` are still marked missing.
pub fn still_missing(conn: &Connection, ids: &[i64]) -> rusqlite::Result<usize> {
    let mut st = conn.prepare("SELECT count(*) FROM tracks WHERE id = ?1 AND missing_since IS NOT NULL")?;
    let mut n = 0;
    for id in ids {
        n += st.query_row(params![id], |r| r.get::<_, i64>(0))? as usize;
    }
    Ok(n)
}

/// Deletes the rows marked missing whose paths start with one of `prefixes`.
pub fn prune_missing(conn: &Connection, prefixes: &[String]) -> rusqlite::Result<usize> {
    let mut n = 0;
    for p in prefixes {
        n += conn.execute(
            "DELETE FROM tracks WHERE missing_since IS NOT NULL
             AND (path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/')",
            params![p],
        )?;
    }
    Ok(n)
}

/// A file's analysis, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub duration_s: f64,
    pub sample_rate: u32,
    pub channels: usize,
    pub windows: usize,
    pub gated_windows: usize,
    /// `None` when every window was gated (or the file is shorter than one window).
    pub verdict: Option<Probs>,
    /// Mean out-of-set probability over the same windows (`None` with `verdict`).
    pub other: Option<f32>,
    /// The model judged the file "other / unsure" (its mean out-of-set probability reached the
    /// model's threshold).
    pub out_of_set: bool,
    pub timeline: Vec<u8>,
    pub embedding: Option<Vec<f32>>,
    /// Mean [`genrescope_core::labels::MSD_TAGS`] scores; `None` for a model without tags or
    /// when every window was gated.
    pub tags: Option<Vec<f32>>,
    pub warnings: Vec<String>,
}

pub fn embedding_blob(e: &[f32]) -> Vec<u8> {
    e.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn blob_embedding(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// What a row records about a file's bytes.
#[derive(Clone, Copy, Debug)]
pub struct FileId<'a> {
    pub stat: FileStat,
    /// SHA-256 of the whole file (hex); `None` when it could not be read.
    pub sha256: Option<&'a str>,
    /// See crate::scan::fingerprint.
    pub fingerprint: Option<&'a [u8]>,
}

/// Inserts or replaces the row of `path` (and its timeline) with an analysis or an error. Two
/// statements: call it inside a transaction.
pub fn store(
    conn: &Connection,
    path: &str,
    file: &FileId<'_>,
    model_id: i64,
    now: i64,
    result: &std::result::Result<Analysis, String>,
) -> rusqlite::Result<()> {
    let FileId { stat, sha256, fingerprint } = *file;
    let cols = prob_columns();
    let sql = format!(
        "INSERT INTO tracks (path, size, mtime_ns, sha256, status, error, warnings, model_id, analysed_at,
            missing_since, duration_s, sample_rate, channels, windows, gated_windows, top_genre, {p}, embedding,
            p_other, claim, fingerprint, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, ?11, ?12, ?13, ?14, ?15, {q}, ?26, ?27, ?28, ?29, ?30)
         ON CONFLICT (path) DO UPDATE SET size = ?2, mtime_ns = ?3, sha256 = ?4, status = ?5, error = ?6,
            warnings = ?7, model_id = ?8, analysed_at = ?9, missing_since = NULL, duration_s = ?10,
            sample_rate = ?11, channels = ?12, windows = ?13, gated_windows = ?14, top_genre = ?15, {set},
            embedding = ?26, p_other = ?27, claim = ?28, fingerprint = ?29, tags = ?30
         RETURNING id",
        p = cols.join(", "),
        q = (16..26).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", "),
        set = cols.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", 16 + i)).collect::<Vec<_>>().join(", "),
    );
    let mut st = conn.prepare_cached(&sql)?;
    let (status, error, a) = match result {
        Ok(a) => ("ok", None, Some(a)),
        Err(e) => ("error", Some(e.as_str()), None),
    };
    let probs: [Option<f64>; NUM_GENRES] = match a.and_then(|a| a.verdict) {
        Some(v) => v.map(|p| Some(p as f64)),
        None => [None; NUM_GENRES],
    };
    let top = a.and_then(|a| a.verdict).map(|v| GENRES[genrescope_core::model::top_genre(&v).0]);
    let warnings = a.filter(|a| !a.warnings.is_empty()).map(|a| a.warnings.join("\n"));
    let mut values: Vec<Box<dyn rusqlite::ToSql>> = vec![
        Box::new(path.to_owned()),
        Box::new(stat.size as i64),
        Box::new(stat.mtime_ns),
        Box::new(sha256.map(str::to_owned)),
        Box::new(status),
        Box::new(error.map(str::to_owned)),
        Box::new(warnings),
        Box::new(model_id),
        Box::new(now),
        Box::new(a.map(|a| a.duration_s)),
        Box::new(a.map(|a| a.sample_rate)),
        Box::new(a.map(|a| a.channels as i64)),
        Box::new(a.map(|a| a.windows as i64)),
        Box::new(a.map(|a| a.gated_windows as i64)),
        Box::new(top),
    ];
    values.extend(probs.into_iter().map(|p| Box::new(p) as Box<dyn rusqlite::ToSql>));
    values.push(Box::new(a.and_then(|a| a.embedding.as_deref().map(embedding_blob))));
    values.push(Box::new(a.and_then(|a| a.other).map(|p| p as f64)));
    let claim = match a {
        Some(a) if a.verdict.is_some() && a.out_of_set => Some(OTHER_CLAIM),
        _ => top,
    };
    values.push(Box::new(claim));
    values.push(Box::new(fingerprint.map(<[u8]>::to_vec)));
    values.push(Box::new(a.and_then(|a| a.tags.as_deref().map(tags_blob))));
    let id: i64 = st.query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))?;
    match a {
        Some(a) => conn
            .prepare_cached("INSERT OR REPLACE INTO timelines (track_id, data) VALUES (?1, ?2)")?
            .execute(params![id, a.timeline])?,
        None => conn.prepare_cached("DELETE FROM timelines WHERE track_id = ?1")?.execute(params![id])?,
    };
    Ok(())
}

/// Rows analysed by `model_id` whose content has this hash: (id, path, marked missing).
pub fn same_content(conn: &Connection, sha256: &str, model_id: i64) -> rusqlite::Result<Vec<(i64, String, bool)>> {
    let mut st = conn.prepare_cached(
        "SELECT id, path, missing_since IS NOT NULL FROM tracks
         WHERE sha256 = ?1 AND model_id = ?2 AND status = 'ok' ORDER BY missing_since IS NULL, id",
    )?;
    let rows = st.query_map(params![sha256, model_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// Points a row at a new path (a renamed or moved file): its analysis stays.
pub fn rename(conn: &Connection, id: i64, path: &str, stat: FileStat, fingerprint: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE tracks SET path = ?2, size = ?3, mtime_ns = ?4, fingerprint = ?5, missing_since = NULL WHERE id = ?1",
        params![id, path, stat.size as i64, stat.mtime_ns, fingerprint],
    )?;
    Ok(())
}

/// A new row for a byte-identical copy of an analysed file: the engine is deterministic, so the
/// numbers are what analysing it would give.
pub fn copy(conn: &Connection, from: i64, path: &str, stat: FileStat, now: i64) -> rusqlite::Result<()> {
    let cols = prob_columns().join(", ");
    // Same bytes, so the same fingerprint too.
    let rest = format!(
        "sha256, fingerprint, status, error, warnings, model_id, duration_s, sample_rate, channels, windows,
         gated_windows, top_genre, {cols}, embedding, p_other, claim, tags"
    );
    conn.execute(
        &format!(
            "INSERT INTO tracks (path, size, mtime_ns, analysed_at, {rest})
             SELECT ?2, ?3, ?4, ?5, {rest} FROM tracks WHERE id = ?1"
        ),
        params![from, path, stat.size as i64, stat.mtime_ns, now],
    )?;
    conn.execute(
        "INSERT INTO timelines (track_id, data) SELECT last_insert_rowid(), data FROM timelines WHERE track_id = ?1",
        params![from],
    )?;
    Ok(())
}

/// New size/mtime for a file whose bytes are unchanged (touched, copied back in place...).
pub fn touch(conn: &Connection, id: i64, stat: FileStat, fingerprint: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE tracks SET size = ?2, mtime_ns = ?3, fingerprint = ?4, missing_since = NULL WHERE id = ?1",
        params![id, stat.size as i64, stat.mtime_ns, fingerprint],
    )?;
    Ok(())
}

/// The model `find` and `stats` read by default: the last one a scan used that has rows.
pub fn latest_model(conn: &Connection) -> rusqlite::Result<Option<ModelRow>> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT m.id FROM models m WHERE EXISTS (SELECT 1 FROM tracks t WHERE t.model_id = m.id)
             ORDER BY m.last_used DESC, m.id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.and_then(|id| models(conn).ok()?.into_iter().find(|m| m.id == id)))
}
