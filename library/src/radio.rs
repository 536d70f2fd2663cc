//! `radio`: a playlist that walks from a seed track through similar ones.
//!
//! The rule, step by step: the next track is, among the [`POOL`] nearest neighbours of the track
//! just played (by embedding, as `similar` finds them), the one with the highest mean of its
//! similarity to that track and to the seed, leaving out tracks already played (and byte copies
//! of them) and tracks in the same folder as the track just played (the library knows files, not
//! artists: an `Artist/Album/track` layout makes the folder the album). Similar to the last track
//! keeps each step smooth; similar to the seed keeps the walk from drifting away. When no
//! neighbour passes, the pool grows fourfold, up to the whole library; a playlist that runs out
//! of such tracks ends early and says so.
use crate::{similar, Error, Library, Result};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

pub const RULE_ANY_FOLDER: &str = "each next track: among the nearest neighbours of the last one, the unplayed track \
    with the highest mean similarity to the last track and to the seed";

/// Neighbours looked at per step before the pool grows.
pub const POOL: usize = 50;

pub const RULE: &str = "each next track: among the nearest neighbours of the last one, the unplayed track with the \
    highest mean similarity to the last track and to the seed, never from the last track's folder";

#[derive(Clone, Debug, Serialize)]
pub struct RadioTrack {
    pub path: String,
    pub duration_s: f64,
    pub top_genre: Option<String>,
    /// Cosine similarity to the track before it (1 for the seed).
    pub similarity_to_previous: f32,
    pub similarity_to_seed: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Radio {
    pub model: String,
    pub seed: String,
    /// The seed's row was in the library (else it was analysed).
    pub seed_in_library: bool,
    pub rule: &'static str,
    /// The seed first, then the walk.
    pub tracks: Vec<RadioTrack>,
    /// Why the playlist is shorter than asked, if it is.
    pub ended_early: Option<String>,
}

/// What a step needs of a stored track.
struct Stored {
    path: String,
    sha256: Option<String>,
    duration_s: f64,
    top_genre: Option<String>,
    embedding: Vec<u8>,
}

fn folder(path: &str) -> Option<&Path> {
    Path::new(path).parent()
}

impl Library {
    /// A playlist of up to `count` tracks (the seed first) by [`RULE`]. A seed in the library
    /// uses its stored embedding and model; any other file is analysed with `model`, which must be
    /// the library's (as for `similar`).
    /// `any_folder` lifts the folder rule (a library kept in one flat folder).
    pub fn radio(&self, seed: &Path, model: &Path, count: usize, any_folder: bool) -> Result<Radio> {
        let seed_abs = std::fs::canonicalize(seed).map_err(|e| Error::Io { path: seed.to_path_buf(), source: e })?;
        if !seed_abs.is_file() {
            return Err(Error::NotAFile(seed.to_path_buf()));
        }
        let seed_str = seed_abs.to_str().ok_or_else(|| Error::NotUtf8(seed_abs.clone()))?.to_owned();
        let err = self.err();
        let conn = self.connection();
        let stored: Option<(i64, i64, Vec<u8>)> = conn
            .query_row(
                "SELECT id, model_id, embedding FROM tracks WHERE path = ?1 AND status = 'ok'
                 AND missing_since IS NULL AND embedding IS NOT NULL",
                params![seed_str],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&err)?;
        let (model_row, seed_emb, seed_id) = match stored {
            Some((id, model_id, blob)) => {
                let m = crate::db::models(conn).map_err(&err)?.into_iter().find(|m| m.id == model_id);
                let m = m.ok_or_else(|| Error::Empty(self.path().to_path_buf()))?;
                (m, crate::db::blob_embedding(&blob), Some(id))
            }
            None => {
                let (row, emb, _) = self.analyse_query(&seed_abs, seed, model)?;
                (row, emb, None)
            }
        };
        let seed_sha =
            crate::scan::hash_file(&seed_abs).map_err(|e| Error::Io { path: seed_abs.clone(), source: e })?;

        let mut played: HashSet<i64> = seed_id.into_iter().collect();
        played.extend(self.ids_with_content(&seed_sha)?);
        let seed_track = RadioTrack {
            path: seed_str.clone(),
            duration_s: match seed_id {
                Some(id) => self.stored(id)?.map_or(0.0, |s| s.duration_s),
                None => genrescope_core::audio_file::decode_file(&seed_abs).map_or(0.0, |a| a.duration_s()),
            },
            top_genre: match seed_id {
                Some(id) => self.stored(id)?.and_then(|s| s.top_genre),
                None => None,
            },
            similarity_to_previous: 1.0,
            similarity_to_seed: 1.0,
        };
        let mut tracks = vec![seed_track];
        let mut current = seed_emb.clone();
        let mut ended_early = None;
        while tracks.len() < count {
            let last_folder = folder(&tracks[tracks.len() - 1].path).map(Path::to_path_buf);
            let mut pool = POOL;
            let next = loop {
                let (hits, _) = self.nearest(model_row.id, &current, pool, &played)?;
                let mut best: Option<(f32, i64, Stored, f32, f32)> = None;
                for h in &hits {
                    let Some(s) = self.stored(h.id)? else { continue };
                    if !any_folder && folder(&s.path).map(Path::to_path_buf) == last_folder {
                        continue;
                    }
                    let to_seed = similar::cosine(&seed_emb, &s.embedding).unwrap_or(-1.0);
                    let score = (h.similarity + to_seed) / 2.0;
                    if best.as_ref().is_none_or(|b| score > b.0) {
                        best = Some((score, h.id, s, h.similarity, to_seed));
                    }
                }
                if best.is_some() || hits.len() < pool {
                    break best;
                }
                pool *= 4;
            };
            let Some((_, id, s, to_prev, to_seed)) = next else {
                ended_early = Some(format!(
                    "after {} tracks: every track left is already in the playlist or in the folder of the last one",
                    tracks.len()
                ));
                break;
            };
            played.insert(id);
            if let Some(sha) = &s.sha256 {
                played.extend(self.ids_with_content(sha)?);
            }
            current = crate::db::blob_embedding(&s.embedding);
            tracks.push(RadioTrack {
                path: s.path,
                duration_s: s.duration_s,
                top_genre: s.top_genre,
                similarity_to_previous: to_prev,
                similarity_to_seed: to_seed,
            });
        }
        Ok(Radio {
            model: model_row.name,
            seed: seed_str,
            seed_in_library: seed_id.is_some(),
            rule: if any_folder { RULE_ANY_FOLDER } else { RULE },
            tracks,
            ended_early,
        })
    }

    fn stored(&self, id: i64) -> Result<Option<Stored>> {
        self.connection()
            .prepare_cached(
                "SELECT path, sha256, duration_s, top_genre, embedding FROM tracks WHERE id = ?1
                 AND embedding IS NOT NULL",
            )
            .and_then(|mut st| {
                st.query_row(params![id], |r| {
                    Ok(Stored {
                        path: r.get(0)?,
                        sha256: r.get(1)?,
                        duration_s: r.get(2)?,
                        top_genre: r.get(3)?,
                        embedding: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(self.err())
    }

    fn ids_with_content(&self, sha256: &str) -> Result<Vec<i64>> {
        self.connection()
            .prepare_cached("SELECT id FROM tracks WHERE sha256 = ?1")
            .and_then(|mut st| st.query_map(params![sha256], |r| r.get(0))?.collect())
            .map_err(self.err())
    }
}
