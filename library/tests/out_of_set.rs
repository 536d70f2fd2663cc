//! "None of these" in the library: with a testkit model that has the out-of-set class (bright
//! tones are "other"), a scan stores each track's mean out-of-set probability (`p_other`) and its
//! claim (`'other'` or the top genre); `find_other` lists the tracks judged other, `stats` counts
//! them apart from the genres and from silence; a library of schema version 1 is migrated.
mod common;

use common::*;
use genrescope_core::features::FrontEndSpec;
use genrescope_core::labels::GENRES;
use genrescope_library::rusqlite::{params, Connection};
use genrescope_library::{db, scan, timeline, Error, Library, ScanOptions};
use std::path::{Path, PathBuf};

fn oos_model(dir: &Path) -> PathBuf {
    let d = dir.join("model-oos");
    genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn())
        .with_trunk(2)
        .seed(5)
        .out_of_set(0.5)
        .write(&d)
        .unwrap();
    d
}

/// (path, top_genre, p_other, claim) of a track.
type Claimed = (String, Option<String>, Option<f64>, Option<String>);

/// Every track's [`Claimed`], by path.
fn claims(db: &Path) -> Vec<Claimed> {
    let conn = Connection::open(db).unwrap();
    let mut st = conn.prepare("SELECT path, top_genre, p_other, claim FROM tracks ORDER BY path").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

fn name(path: &str) -> &str {
    Path::new(path).file_name().unwrap().to_str().unwrap()
}

/// Four music files, two of bright tones (the quieter one less surely other), one silent.
fn folder(root: &Path) {
    for v in 0..4 {
        write_wav(&root.join(format!("music{v}.wav")), 22050, &music(22050, 7.0, 1, v));
    }
    write_wav(&root.join("tones-a.wav"), 22050, &genrescope_testkit::bright_tones(22050, 7.0, 1));
    // Bright tones over a bass line: still other, but less surely.
    let mut mixed = genrescope_testkit::bright_tones(22050, 7.0, 1);
    let bass = music(22050, 7.0, 1, 0);
    mixed[0].iter_mut().zip(&bass[0]).for_each(|(t, b)| *t += 0.1 * b);
    write_wav(&root.join("tones-b.wav"), 22050, &mixed);
    write_wav(&root.join("silence.wav"), 22050, &[vec![0.0; 22050 * 7]]);
}

#[test]
fn a_scan_stores_p_other_and_the_claim_and_queries_read_them() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-oos");
    let root = dir.join("music");
    folder(&root);
    let db = dir.join("lib.sqlite");
    let model = oos_model(&dir);
    scan(&db, std::slice::from_ref(&root), &model, &ScanOptions { jobs: 2, ..Default::default() }).unwrap();

    let rows = claims(&db);
    assert_eq!(rows.len(), 7);
    let mut other = Vec::new();
    for (path, top, p_other, claim) in &rows {
        match name(path) {
            "silence.wav" => assert_eq!((top, p_other, claim), (&None, &None, &None)),
            n if n.starts_with("tones") => {
                assert_eq!(claim.as_deref(), Some("other"), "{n}");
                assert!(p_other.unwrap() >= 0.5, "{n}: {p_other:?}");
                // The most probable genre is kept beside the claim.
                assert!(top.as_deref().is_some_and(|g| GENRES.contains(&g)), "{n}: {top:?}");
                other.push((p_other.unwrap(), path.clone()));
            }
            n => {
                assert_eq!(claim, top, "{n}: a genre is claimed");
                assert!(p_other.unwrap() < 0.5, "{n}: {p_other:?}");
            }
        }
    }
    other.sort_by(|a, b| b.0.total_cmp(&a.0));

    let lib = Library::open(&db).unwrap();
    let found = lib.find_other(0.0, 10).unwrap();
    assert_eq!(found.genre, Some("other"));
    assert_eq!(found.matching, 2);
    let got: Vec<(f64, String)> = found.tracks.iter().map(|t| (t.p as f64, t.path.clone())).collect();
    assert_eq!(got, other, "ranked by p_other");
    let min = ((other[0].0 + other[1].0) / 2.0) as f32;
    let top = lib.find_other(min, 10).unwrap();
    assert_eq!((top.matching, top.tracks.len()), (1, 1));
    assert_eq!(top.tracks[0].path, other[0].1);
    assert_eq!(lib.find_other(0.0, 1).unwrap().tracks.len(), 1);
    // Other tracks are not hidden from genre queries: find ranks every analysed track.
    assert_eq!(lib.find(0, 0.0, 100).unwrap().matching, 6);

    let st = lib.stats().unwrap();
    assert_eq!((st.tracks, st.other, st.no_verdict), (7, 2, 1));
    assert_eq!(st.by_top_genre.iter().map(|g| g.tracks).sum::<i64>(), 4, "other tracks are not counted as genres");
    let share: f64 = st.by_top_genre.iter().map(|g| g.share).sum();
    assert!((share - 4.0 / 6.0).abs() < 1e-9, "shares are of the 6 tracks with a verdict: {share}");

    // The timeline: other windows claim no genre, and their raw genres sum to 1 - other.
    let conn = Connection::open(&db).unwrap();
    let blob: Vec<u8> = conn
        .query_row(
            "SELECT data FROM timelines JOIN tracks ON tracks.id = track_id WHERE path = ?1",
            params![other[0].1],
            |r| r.get(0),
        )
        .unwrap();
    let points = timeline::decode(&blob).unwrap();
    assert!(!points.is_empty() && points.iter().all(|p| p.top.is_none() && p.raw.iter().sum::<f32>() < 0.5));

    // A byte-identical copy is recognised and keeps the claim.
    std::fs::copy(root.join("tones-a.wav"), root.join("tones-copy.wav")).unwrap();
    scan(&db, std::slice::from_ref(&root), &model, &ScanOptions { jobs: 1, ..Default::default() }).unwrap();
    let rows = claims(&db);
    let a = rows.iter().find(|r| name(&r.0) == "tones-a.wav").unwrap();
    let copy = rows.iter().find(|r| name(&r.0) == "tones-copy.wav").unwrap();
    assert_eq!((&copy.1, copy.2, &copy.3), (&a.1, a.2, &a.3));
    assert_eq!(Library::open(&db).unwrap().stats().unwrap().other, 3);
}

#[test]
fn a_model_without_the_class_claims_genres() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-oos-plain");
    let root = dir.join("music");
    folder(&root);
    let db = dir.join("lib.sqlite");
    scan(&db, &[root], &model(&dir, 5), &ScanOptions { jobs: 2, ..Default::default() }).unwrap();
    for (path, top, p_other, claim) in claims(&db) {
        if name(&path) == "silence.wav" {
            continue;
        }
        assert_eq!((&claim, p_other), (&top, Some(0.0)), "{path}");
    }
    let lib = Library::open(&db).unwrap();
    assert_eq!(lib.find_other(0.0, 10).unwrap().matching, 0);
    assert_eq!(lib.stats().unwrap().other, 0);
}

#[test]
fn a_version_1_library_is_migrated_by_a_scan() {
    let dir = genrescope_testkit::scratch_dir("lib-oos-migrate");
    let path = dir.join("v1.sqlite");
    // A version-1 file: today's schema without what versions 2 to 5 added.
    {
        let conn = db::open_rw(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER tracks_ann_insert; DROP TRIGGER tracks_ann_update; DROP TRIGGER tracks_ann_delete;
             DROP TABLE ann_index; DROP TABLE ann_log; ALTER TABLE tracks DROP COLUMN tags;
             ALTER TABLE tracks DROP COLUMN fingerprint; DROP INDEX tracks_model_claim; ALTER TABLE tracks DROP COLUMN claim;
             ALTER TABLE tracks DROP COLUMN p_other; PRAGMA user_version = 1;
             INSERT INTO models (name, manifest_sha256, settings, window_s, last_used) VALUES ('m', 'x', '{}', 3.0, 1);
             INSERT INTO tracks (path, size, mtime_ns, status, model_id, analysed_at, top_genre, p_jazz)
             VALUES ('/a.wav', 1, 1, 'ok', 1, 1, 'jazz', 0.9),
                    ('/b.wav', 1, 1, 'ok', 1, 1, NULL, NULL);",
        )
        .unwrap();
    }
    // Queries refuse it and say to scan; a scan (read-write open) migrates it.
    let e = Library::open(&path).err().unwrap();
    assert!(matches!(e, Error::Schema { found: 1, .. }) && e.to_string().contains("Genrescope scan"), "{e}");
    db::open_rw(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, db::SCHEMA_VERSION);
    let rows = claims(&path);
    assert_eq!(rows[0], ("/a.wav".into(), Some("jazz".into()), None, Some("jazz".into())));
    assert_eq!(rows[1], ("/b.wav".into(), None, None, None));
    let st = Library::open(&path).unwrap().stats().unwrap();
    assert_eq!((st.other, st.by_top_genre[5].tracks), (0, 1));
}
