//! Genrescope's music library: [`scan`] folders into an SQLite file (one row per audio file:
//! whole-file genre probabilities, a coarse timeline, the mean embedding), then [`Library::find`]
//! by genre, [`Library::similar`] by embedding and [`Library::stats`].
//!
//! Rows remember the model (manifest SHA-256) and engine settings that made them; queries only
//! compare rows of one model, since another model's numbers mean something else.
pub mod ann;
pub mod db;
pub mod import;
pub mod lock;
pub mod radio;
pub mod row;
pub mod scan;
pub mod similar;
pub mod timeline;

pub use db::{ModelRow, SCHEMA_VERSION};
pub use import::{import, ImportOptions, ImportSummary};
pub use radio::{Radio, RadioTrack};
pub use row::{map_files, Mapper, TrackRow, ROW_FORMAT};
/// The SQLite binding the library uses, for callers that query the file directly.
pub use rusqlite;
pub use scan::{list_audio_files, scan, scan_with, FileError, ModelIdentity, ScanEvent, ScanOptions, ScanSummary};

use genrescope_core::audio_file::decode_file;
use genrescope_core::labels::{tag_index, tag_slug, GENRES, MSD_TAGS, NUM_GENRES, NUM_TAGS};
use genrescope_engine::offline::file_embedding;
use genrescope_engine::{EngineError, OfflineSettings};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
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
    #[error("unknown tag {0:?}: use one of {tags}", tags = tag_list())]
    UnknownTag(String),
    /// A `find` word that is neither a genre nor a tag.
    #[error("{0:?} is neither a genre ({genres}) nor a tag ({tags})", genres = GENRES.join(", "), tags = tag_list())]
    UnknownStyle(String),
    #[error(
        "the library's tracks analysed with {model} have no tags: the model has no `taggram` trunk output, such as \
         the shipped model has"
    )]
    NoTags { model: String },
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
    /// The approximate-neighbour index file could not be written or read.
    #[error("{}: similarity index: {message}", path.display())]
    Ann { path: PathBuf, message: String },
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

/// The tags as typed on a command line, comma-separated.
fn tag_list() -> String {
    (0..NUM_TAGS).map(tag_slug).collect::<Vec<_>>().join(", ")
}

/// A tag name (any case; ' ', '-' and '_' alike) or an error listing the names.
pub fn parse_tag(name: &str) -> Result<usize> {
    tag_index(name).ok_or_else(|| Error::UnknownTag(name.to_string()))
}

/// What a `find` word names: a genre if it is one, else a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Genre(usize),
    Tag(usize),
}

/// `find rock` / `find chillout`: a genre name first (so "rock", "jazz", "pop", "metal", "blues"
/// and "country", which are tags too, mean the genre; `--tag rock` asks for the tag).
pub fn parse_style(word: &str) -> Result<Style> {
    if let Some(g) = genrescope_core::labels::genre_index(word) {
        return Ok(Style::Genre(g));
    }
    tag_index(word).map(Style::Tag).ok_or_else(|| Error::UnknownStyle(word.to_string()))
}

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
    /// The score tracks are ranked by: the stored whole-file probability of the genre asked for;
    /// with tags, the geometric mean of that and the tags' scores (see [`FindQuery`]).
    pub p: f32,
    pub duration_s: f64,
    pub top_genre: Option<String>,
    /// The asked tags' scores (empty when no tag was asked for).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<&'static str, f32>,
}

/// What `find` ranks by: a genre, tags, or both. Each track's score is the geometric mean of the
/// factors asked for (the genre's probability and each tag's score), so a track must have all of
/// them to rank high, and a genre alone ranks as its probability. `min` bounds the score.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindQuery {
    pub genre: Option<usize>,
    /// Indices into [`MSD_TAGS`].
    pub tags: Vec<usize>,
    pub min: f32,
    pub limit: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub model: String,
    /// The genre asked for, if any.
    pub genre: Option<&'static str>,
    /// The tags asked for (the trunk's names).
    pub tags: Vec<&'static str>,
    pub min_p: f32,
    /// Tracks at or above `min_p`, before the limit.
    pub matching: i64,
    pub tracks: Vec<FoundTrack>,
    /// Present tracks analysed with another model, not searched (a rescan redoes them).
    pub other_model_tracks: i64,
}

impl Found {
    /// "jazz", "chillout + female vocalists", "jazz + chillout".
    pub fn what(&self) -> String {
        self.genre.into_iter().chain(self.tags.iter().copied()).collect::<Vec<_>>().join(" + ")
    }
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
    /// "index" (approximate-neighbour candidates, re-scored exactly) or "exact" (every row).
    pub search: &'static str,
    /// Library tracks searched: compared one by one ("exact"), or held by the index ("index").
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
    /// The database file plus its write-ahead log and similarity indexes.
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
    /// Each model's mapped similarity index, opened on first use (`None`: search exactly).
    searchers: std::cell::RefCell<std::collections::HashMap<i64, Option<std::rc::Rc<ann::Searcher>>>>,
}

const PRESENT_OK: &str = "status = 'ok' AND missing_since IS NULL";

impl Library {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { conn: db::open_ro(path)?, path: path.to_path_buf(), searchers: Default::default() })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
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
        self.find_by(&FindQuery { genre: Some(genre), tags: Vec::new(), min: min_p, limit })
    }

    /// Tracks ranked by the score of `q` (see [`FindQuery`]), highest first (ties by path).
    pub fn find_by(&self, q: &FindQuery) -> Result<Found> {
        let model = self.current_model()?;
        self.require_tracks(model.id)?;
        if !q.tags.is_empty()
            && self.count(&format!("{PRESENT_OK} AND model_id = ?1 AND tags IS NOT NULL"), model.id)? == 0
        {
            return Err(Error::NoTags { model: model.name.clone() });
        }
        // Column names and tag indices come from GENRES and MSD_TAGS, never from the user. The
        // product ranks as the geometric mean does, without a power in SQL.
        let mut factors: Vec<String> = q.genre.map(|g| db::prob_columns()[g].clone()).into_iter().collect();
        factors.extend(q.tags.iter().map(|&t| format!("tag(tags, {t})")));
        if factors.is_empty() {
            factors.push("1.0".into());
        }
        let k = factors.len();
        let product = factors.join(" * ");
        let filter = format!("{PRESENT_OK} AND model_id = ?1 AND {product} >= ?2");
        let min_product = (q.min.clamp(0.0, 1.0) as f64).powi(k as i32);
        let matching = self
            .conn
            .query_row(&format!("SELECT count(*) FROM tracks WHERE {filter}"), params![model.id, min_product], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        let tag_cols: String = q.tags.iter().map(|t| format!(", tag(tags, {t})")).collect();
        let sql = format!(
            "SELECT path, {product}, duration_s, top_genre{tag_cols} FROM tracks WHERE {filter}
             ORDER BY {product} DESC, path LIMIT ?3"
        );
        let mut st = self.conn.prepare(&sql).map_err(self.err())?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let tracks = st
            .query_map(params![model.id, min_product, limit], |r| {
                let product: f64 = r.get(1)?;
                let mut tags = BTreeMap::new();
                for (j, &t) in q.tags.iter().enumerate() {
                    tags.insert(MSD_TAGS[t], r.get::<_, f64>(4 + j)? as f32);
                }
                Ok(FoundTrack {
                    path: r.get(0)?,
                    // One factor: the stored value itself (f64 → f32 exact), as before tags.
                    p: if k == 1 { product as f32 } else { product.max(0.0).powf(1.0 / k as f64) as f32 },
                    duration_s: r.get(2)?,
                    top_genre: r.get(3)?,
                    tags,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        Ok(Found {
            model: model.name.clone(),
            genre: q.genre.map(|g| GENRES[g]),
            tags: q.tags.iter().map(|&t| MSD_TAGS[t]).collect(),
            min_p: q.min,
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
                    tags: BTreeMap::new(),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err())?;
        Ok(Found {
            model: model.name.clone(),
            genre: Some(db::OTHER_CLAIM),
            tags: Vec::new(),
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
        let (row, embedding, query_top) = self.analyse_query(&query_abs, query, model)?;
        let exclude: HashSet<i64> = match query_abs.to_str() {
            Some(p) => similar::path_id(&self.conn, p).map_err(self.err())?.into_iter().collect(),
            None => HashSet::new(),
        };
        let (hits, compared) = self.nearest(row.id, &embedding, top, &exclude)?;
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
            model: row.name.clone(),
            query: query_abs.display().to_string(),
            query_top_genre: query_top,
            search: if self.has_index(row.id)? { "index" } else { "exact" },
            compared: compared as i64,
            tracks,
            other_model_tracks: self.other_model_tracks(row.id)?,
        })
    }

    /// The library's model row for `model` (which must have made rows with embeddings here), and
    /// the file's mean embedding and top genre by it.
    pub(crate) fn analyse_query(
        &self,
        query_abs: &Path,
        query: &Path,
        model: &Path,
    ) -> Result<(ModelRow, Vec<f32>, Option<String>)> {
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
        let Some(row) = models.iter().find(same).cloned() else {
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
        let audio = decode_file(query_abs).map_err(EngineError::from)?;
        let predictions = engine
            .analyze(&audio, &settings)
            .map_err(|source| Error::Analysis { path: query.to_path_buf(), source })?;
        let Some(embedding) = file_embedding(&predictions) else {
            return Err(Error::NothingToCompare(query.to_path_buf()));
        };
        let top = genrescope_engine::file_verdict(&predictions)
            .map(|v| GENRES[genrescope_core::model::top_genre(&v).0].to_string());
        Ok((row, embedding, top))
    }

    /// The `top` present rows of `model_id` nearest to `query` (cosine), best first, leaving out
    /// `exclude`; and how many rows were searched.
    pub fn nearest(
        &self,
        model_id: i64,
        query: &[f32],
        top: usize,
        exclude: &HashSet<i64>,
    ) -> Result<(Vec<similar::Neighbour>, usize)> {
        if let Some(s) = self.searcher(model_id)? {
            if let Some(hits) = s.search(&self.conn, &self.path, model_id, query, top, exclude)? {
                return Ok((hits, s.vectors()));
            }
        }
        similar::search_excluding(&self.conn, model_id, query, exclude, top).map_err(self.err())
    }

    /// Whether `model_id`'s rows are searched through an index (else exactly).
    pub fn has_index(&self, model_id: i64) -> Result<bool> {
        Ok(self.searcher(model_id)?.is_some())
    }

    fn searcher(&self, model_id: i64) -> Result<Option<std::rc::Rc<ann::Searcher>>> {
        if let Some(s) = self.searchers.borrow().get(&model_id) {
            return Ok(s.clone());
        }
        let s = ann::Searcher::open(&self.conn, &self.path, model_id)?.map(std::rc::Rc::new);
        self.searchers.borrow_mut().insert(model_id, s.clone());
        Ok(s)
    }

    /// The library file.
    pub fn path(&self) -> &Path {
        &self.path
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
        let mut files = vec![self.path.clone(), PathBuf::from(format!("{}-wal", self.path.display()))];
        files.extend(db::models(&self.conn).map_err(self.err())?.iter().map(|m| ann::index_path(&self.path, m.id)));
        let db_bytes = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
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

#[derive(Clone, Debug, Serialize)]
pub struct TagScore {
    pub tag: &'static str,
    /// The whole-file mean of the tag's score over the ungated windows.
    pub p: f32,
}

/// `Genrescope tags FILE`: a file's music tags.
#[derive(Clone, Debug, Serialize)]
pub struct FileTags {
    pub file: String,
    pub model: String,
    pub windows: usize,
    pub gated_windows: usize,
    /// Every tag, highest score first; `None` when every window was gated (or there were none).
    pub tags: Option<Vec<TagScore>>,
}

/// Analyses `file` with `model` (the library's settings) and returns its tags.
pub fn file_tags(file: &Path, model: &Path) -> Result<FileTags> {
    let settings = OfflineSettings::default();
    let audio = decode_file(file).map_err(EngineError::from)?;
    let mut engine = genrescope_engine::OfflineEngine::new(model)?;
    let name = engine.manifest().name.clone();
    if engine.manifest().tags_output().is_none() {
        return Err(Error::NoTags { model: name });
    }
    let predictions =
        engine.analyze(&audio, &settings).map_err(|source| Error::Analysis { path: file.to_path_buf(), source })?;
    let tags = genrescope_engine::offline::file_tags(&predictions).map(|t| {
        let mut v: Vec<TagScore> = MSD_TAGS.iter().zip(t).map(|(&tag, p)| TagScore { tag, p }).collect();
        v.sort_by(|a, b| b.p.total_cmp(&a.p));
        v
    });
    Ok(FileTags {
        file: file.display().to_string(),
        model: name,
        windows: predictions.len(),
        gated_windows: predictions.iter().filter(|p| p.gated).count(),
        tags,
    })
}
