//! Genrescope's music library: [`scan`] folders into an SQLite file (one row per audio file:
//! whole-file genre probabilities, a coarse timeline, the mean embedding), then [`Library::find`]
//! by genre, [`Library::similar`] by embedding and [`Library::stats`].
//!
//! Rows remember the model (manifest SHA-256) and engine settings that made them; queries only
//! compare rows of one model, since another model's numbers mean something else.
pub mod db;
pub mod lock;
pub mod scan;
pub mod similar;
pub mod timeline;

pub use db::{ModelRow, SCHEMA_VERSION};
/// The SQLite binding the library uses, for callers that query the file directly.
pub use rusqlite;
pub use scan::{scan, scan_with, FileError, ModelIdentity, ScanEvent, ScanOptions, ScanSummary};

use genrescope_core::audio_file::decode_file;
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_engine::offline::file_embedding;
use genrescope_engine::{EngineError, OfflineSettings};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no library at {}: scan a folder into it first (`Genrescope scan DIR --db {}`)", .0.display(), .0.display())]
    NoLibrary(PathBuf),
    #[error("{}: not a Genrescope library (an SQLite or other file without its tables); pick another --db", .0.display())]
    NotALibrary(PathBuf),
    #[error("{}", schema_message(path, *found))]
    Schema { path: PathBuf, found: i64 },
    #[error("the library {} has no analysed tracks yet: run `Genrescope scan DIR --db {}`", .0.display(), .0.display())]
    Empty(PathBuf),
    #[error("library {}: {source}", path.display())]
    Db { path: PathBuf, source: rusqlite::Error },
    /// Another scan or import holds the library's write lock (see crate::lock).
    #[error(
        "the library {} is being written by another `Genrescope scan` or `import`{}: wait for it to finish, or \
         pass --wait to queue behind it",
        path.display(), pid.map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    Busy { path: PathBuf, pid: Option<u32> },
    #[error(
        "cannot write the library {}: {what} is read-only (permissions or a read-only disk); make it writable, \
         or pass another --db",
        path.display()
    )]
    ReadOnly { path: PathBuf, what: &'static str },
    #[error(
        "cannot write the library {}: the disk is full (or a file size limit was reached). The tracks stored so \
         far are kept; free some space and run the same command again to go on",
        path.display()
    )]
    DiskFull { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot scan {}: {source}", path.display())]
    Root { path: PathBuf, source: std::io::Error },
    #[error("{}: the path is not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),
    /// Loading the model, decoding or analysing a file failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Analysing the file `similar` compares failed.
    #[error("{}: {source}", path.display())]
    Analysis { path: PathBuf, source: EngineError },
    #[error("unknown genre {0:?}: use one of {genres}", genres = GENRES.join(", "))]
    UnknownGenre(String),
    #[error("{}: not a file", .0.display())]
    NotAFile(PathBuf),
    #[error(
        "model {name} ({}) has no embedding (its manifest names no `embedding` trunk output): `similar` needs \
         a model with one, such as the shipped model; pass it with --model DIR",
        dir.display()
    )]
    NoEmbedding { name: String, dir: PathBuf },
    /// `similar` with a model (or settings) other than the ones the library's rows were made with.
    #[error(
        "the library {} was analysed with {}, not with {name} (manifest {manifest}) from {}: pass that \
         model with --model DIR, or rescan the library with this one",
        library.display(), used.join(", "), dir.display()
    )]
    OtherModel { library: PathBuf, used: Vec<String>, name: String, manifest: String, dir: PathBuf },
    #[error(
        "{}: every window is below the level gate (silence) or the file is shorter than one window: nothing \
         to compare",
        .0.display()
    )]
    NothingToCompare(PathBuf),
    /// A file's decoder or analysis panicked (caught: the scan goes on).
    #[error("{}: the {what} crashed on this file", path.display())]
    Crashed { path: PathBuf, what: &'static str },
}

fn schema_message(path: &Path, found: i64) -> String {
    if found > SCHEMA_VERSION {
        format!(
            "{}: library schema version {found} was written by a newer Genrescope (this one knows up to {SCHEMA_VERSION}); use that version",
            path.display()
        )
    } else {
        format!("{}: library schema version {found} is older than {SCHEMA_VERSION}: run `Genrescope scan` on it once to upgrade it", path.display())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `<data dir>/genrescope/library.sqlite`, e.g. `~/.local/share/genrescope/library.sqlite`.
pub fn default_db_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("genrescope").join("library.sqlite"))
}

/// A genre name (case-insensitive) or an error listing the names.
pub fn parse_genre(name: &str) -> Result<usize> {
    genrescope_core::labels::genre_index(name).ok_or_else(|| Error::UnknownGenre(name.to_string()))
}

#[derive(Clone, Debug, Serialize)]
pub struct FoundTrack {
    pub path: String,
    /// The stored whole-file probability of the genre asked for.
    pub p: f32,
    pub duration_s: f64,
    pub top_genre: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub model: String,
    pub genre: &'static str,
    pub min_p: f32,
    /// Tracks at or above `min_p`, before the limit.
    pub matching: i64,
    pub tracks: Vec<FoundTrack>,
    /// Present tracks analysed with another model, not searched (a rescan redoes them).
    pub other_model_tracks: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimilarTrack {
    pub path: String,
    pub similarity: f32,
    pub duration_s: f64,
    pub top_genre: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Similar {
    pub model: String,
    pub query: String,
    pub query_top_genre: Option<String>,
    /// Library tracks compared with the query.
    pub compared: i64,
    pub tracks: Vec<SimilarTrack>,
    pub other_model_tracks: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GenreCount {
    pub genre: &'static str,
    pub tracks: i64,
    /// Of the tracks with a verdict (a genre, or "other").
    pub share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub db: String,
    /// The database file plus its write-ahead log.
    pub db_bytes: u64,
    /// The model counted (the latest scan's), if any track was analysed.
    pub model: Option<String>,
    pub model_sha256: Option<String>,
    /// Present files analysed with that model.
    pub tracks: i64,
    pub total_duration_s: f64,
    /// Tracks by their whole-file top genre, in GENRES order (tracks judged "other" are counted
    /// in `other` instead).
    pub by_top_genre: Vec<GenreCount>,
    /// Tracks judged "other / unsure" (out of set) by a model with that class.
    pub other: i64,
    /// Analysed, but every window was below the gate (silence) or the file is shorter than a window.
    pub no_verdict: i64,
    /// Present files whose last analysis failed.
    pub errors: i64,
    pub error_files: Vec<FileError>,
    /// Analysed with decoder warnings (damaged but partly decodable).
    pub with_warnings: i64,
    /// Rows whose file a scan found gone (kept; `scan --prune` deletes them).
    pub missing: i64,
    pub other_model_tracks: i64,
}

/// A library opened read-only for queries (a scan may run meanwhile: WAL).
pub struct Library {
    conn: Connection,
    path: PathBuf,
}

const PRESENT_OK: &str = "status = 'ok' AND missing_since IS NULL";

impl Library {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { conn: db::open_ro(path)?, path: path.to_path_buf() })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        db::db_err(&self.path)
    }

    fn count(&self, sql_where: &str, model_id: i64) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM tracks WHERE {sql_where}");
        self.conn.query_row(&sql, params![model_id], |r| r.get(0)).map_err(self.err())
    }

    /// The latest scan's model; an error saying to scan when nothing was analysed yet.
    pub fn current_model(&self) -> Result<ModelRow> {
        db::latest_model(&self.conn).map_err(self.err())?.ok_or_else(|| Error::Empty(self.path.clone()))
    }

    fn other_model_tracks(&self, model_id: i64) -> Result<i64> {
        self.count(&format!("{PRESENT_OK} AND model_id != ?1"), model_id)
    }

    fn require_tracks(&self, model_id: i64) -> Result<()> {
        match self.count(&format!("{PRESENT_OK} AND model_id = ?1"), model_id)? {
            0 => Err(Error::Empty(self.path.clone())),
            _ => Ok(()),
        }
    }

    /// Tracks ranked by their stored probability of `genre`, highest first (ties by path).
    pub fn find(&self, genre: usize, min_p: f32, limit: usize) -> Result<Found> {
        let model = self.current_model()?;
        self.require_tracks(model.id)?;
        // The column name comes from GENRES, never from the user.
        let col = &db::prob_columns()[genre];
        let filter = format!("{PRESENT_OK} AND model_id = ?1 AND {col} >= ?2");
        let matching = self
            .conn
            .query_row(&format!("SELECT count(*) FROM tracks WHERE {filter}"), params![model.id, min_p as f64], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        let sql = format!(
            "SELECT path, {col}, duration_s, top_genre FROM tracks WHERE {filter} ORDER BY {col} DESC, path LIMIT ?3"
        );
        let mut st = self.conn.prepare(&sql).map_err(self.err())?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let tracks = st
            .query_map(params![model.id, min_p as f64, limit], |r| {
                Ok(FoundTrack {
                    path: r.get(0)?,
                    p: r.get::<_, f64>(1)? as f32,
                    duration_s: r.get(2)?,
                    top_genre: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        Ok(Found {
            model: model.name.clone(),
            genre: GENRES[genre],
            min_p,
            matching,
            tracks,
            other_model_tracks: self.other_model_tracks(model.id)?,
        })
    }

    /// The tracks judged "other / unsure" (out of set), ranked by their mean out-of-set
    /// probability, highest first (ties by path), at least `min_p`. `Found::genre` is "other".
    pub fn find_other(&self, min_p: f32, limit: usize) -> Result<Found> {
        let model = self.current_model()?;
        self.require_tracks(model.id)?;
        let filter = format!("{PRESENT_OK} AND model_id = ?1 AND claim = '{}' AND p_other >= ?2", db::OTHER_CLAIM);
        let matching = self
            .conn
            .query_row(&format!("SELECT count(*) FROM tracks WHERE {filter}"), params![model.id, min_p as f64], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        let sql = format!(
            "SELECT path, p_other, duration_s, top_genre FROM tracks WHERE {filter} ORDER BY p_other DESC, path LIMIT ?3"
        );
        let mut st = self.conn.prepare(&sql).map_err(self.err())?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let tracks = st
            .query_map(params![model.id, min_p as f64, limit], |r| {
                Ok(FoundTrack {
                    path: r.get(0)?,
                    p: r.get::<_, f64>(1)? as f32,
                    duration_s: r.get(2)?,
                    top_genre: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        Ok(Found {
            model: model.name.clone(),
            genre: db::OTHER_CLAIM,
            min_p,
            matching,
            tracks,
            other_model_tracks: self.other_model_tracks(model.id)?,
        })
    }

    /// The `top` tracks whose embeddings are closest (cosine) to `query`'s, which is analysed
    /// with `model` (the same model as the library's rows, or an error saying so).
    pub fn similar(&self, query: &Path, model: &Path, top: usize) -> Result<Similar> {
        let query_abs = std::fs::canonicalize(query).map_err(|e| Error::Io { path: query.to_path_buf(), source: e })?;
        if !query_abs.is_file() {
            return Err(Error::NotAFile(query.to_path_buf()));
        }
        let settings = OfflineSettings::default();
        let (identity, mut engine) = ModelIdentity::load(model, &settings)?;
        let name = identity.row.name.clone();
        if !identity.has_embedding {
            return Err(Error::NoEmbedding { name, dir: model.to_path_buf() });
        }
        // Only models that still have comparable rows count.
        let with_embeddings = format!("{PRESENT_OK} AND model_id = ?1 AND embedding IS NOT NULL");
        let mut models = Vec::new();
        for m in db::models(&self.conn).map_err(self.err())? {
            if self.count(&with_embeddings, m.id)? > 0 {
                models.push(m);
            }
        }
        let same =
            |m: &&ModelRow| m.manifest_sha256 == identity.row.manifest_sha256 && m.settings == identity.row.settings;
        let Some(row) = models.iter().find(same) else {
            if models.is_empty() {
                return Err(Error::Empty(self.path.clone()));
            }
            let used: Vec<String> =
                models.iter().map(|m| format!("{} (manifest {})", m.name, &m.manifest_sha256[..12])).collect();
            return Err(Error::OtherModel {
                library: self.path.clone(),
                used,
                name,
                manifest: identity.row.manifest_sha256[..12].to_string(),
                dir: model.to_path_buf(),
            });
        };

        let audio = decode_file(&query_abs).map_err(EngineError::from)?;
        let predictions = engine
            .analyze(&audio, &settings)
            .map_err(|source| Error::Analysis { path: query.to_path_buf(), source })?;
        let Some(embedding) = file_embedding(&predictions) else {
            return Err(Error::NothingToCompare(query.to_path_buf()));
        };
        let query_top = genrescope_engine::file_verdict(&predictions)
            .map(|v| GENRES[genrescope_core::model::top_genre(&v).0].to_string());
        let exclude = query_abs.to_str();
        let (hits, compared) = similar::search(&self.conn, row.id, &embedding, exclude, top).map_err(self.err())?;
        let mut st =
            self.conn.prepare("SELECT path, duration_s, top_genre FROM tracks WHERE id = ?1").map_err(self.err())?;
        let mut tracks = Vec::with_capacity(hits.len());
        for h in hits {
            let t = st
                .query_row(params![h.id], |r| {
                    Ok(SimilarTrack {
                        path: r.get(0)?,
                        similarity: h.similarity,
                        duration_s: r.get(1)?,
                        top_genre: r.get(2)?,
                    })
                })
                .optional()
                .map_err(self.err())?;
            tracks.extend(t);
        }
        Ok(Similar {
            model: name,
            query: query_abs.display().to_string(),
            query_top_genre: query_top,
            compared: compared as i64,
            tracks,
            other_model_tracks: self.other_model_tracks(row.id)?,
        })
    }

    pub fn stats(&self) -> Result<Stats> {
        let any: i64 = self.conn.query_row("SELECT count(*) FROM tracks", [], |r| r.get(0)).map_err(self.err())?;
        if any == 0 {
            return Err(Error::Empty(self.path.clone()));
        }
        let model = db::latest_model(&self.conn).map_err(self.err())?;
        let id = model.as_ref().map_or(-1, |m| m.id);
        let mine = format!("{PRESENT_OK} AND model_id = ?1");
        let (tracks, total_duration_s): (i64, f64) = self
            .conn
            .query_row(
                &format!("SELECT count(*), coalesce(sum(duration_s), 0) FROM tracks WHERE {mine}"),
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        let mut counts = [0i64; NUM_GENRES];
        let mut other = 0;
        // By claim: a track judged "other" counts there, not under its most probable genre.
        let mut st = self
            .conn
            .prepare(&format!("SELECT claim, count(*) FROM tracks WHERE {mine} AND claim IS NOT NULL GROUP BY claim"))
            .map_err(self.err())?;
        let rows = st
            .query_map(params![id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        for (g, n) in rows {
            if let Some(i) = genrescope_core::labels::genre_index(&g) {
                counts[i] += n;
            } else if g == db::OTHER_CLAIM {
                other += n;
            }
        }
        let with_verdict: i64 = counts.iter().sum();
        let mut st = self
            .conn
            .prepare("SELECT path, coalesce(error, '') FROM tracks WHERE status = 'error' AND missing_since IS NULL ORDER BY path")
            .map_err(self.err())?;
        let error_files = st
            .query_map([], |r| Ok(FileError { path: r.get(0)?, error: r.get(1)? }))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        let db_bytes = [self.path.clone(), PathBuf::from(format!("{}-wal", self.path.display()))]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(Stats {
            db: self.path.display().to_string(),
            db_bytes,
            model: model.as_ref().map(|m| m.name.clone()),
            model_sha256: model.as_ref().map(|m| m.manifest_sha256.clone()),
            tracks,
            total_duration_s,
            by_top_genre: GENRES
                .iter()
                .zip(counts)
                .map(|(&genre, n)| GenreCount {
                    genre,
                    tracks: n,
                    share: if with_verdict + other > 0 { n as f64 / (with_verdict + other) as f64 } else { 0.0 },
                })
                .collect(),
            other,
            no_verdict: tracks - with_verdict - other,
            errors: error_files.len() as i64,
            error_files,
            with_warnings: self.count(&format!("{mine} AND warnings IS NOT NULL"), id)?,
            missing: self
                .conn
                .query_row("SELECT count(*) FROM tracks WHERE missing_since IS NOT NULL", [], |r| r.get(0))
                .map_err(self.err())?,
            other_model_tracks: self.other_model_tracks(id)?,
        })
    }
}
