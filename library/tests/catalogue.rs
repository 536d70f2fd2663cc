//! The library at catalogue scale (issue 20): the map step and `import` give the library a local
//! scan gives, row for row; tags are stored and found; the similarity index answers as the exact
//! search does and follows the rows; the radio keeps its rule.
mod common;

use common::*;
use genrescope_core::audio_file::decode_file;
use genrescope_core::labels::{tag_index, GENRES, NUM_TAGS};
use genrescope_engine::offline::file_tags;
use genrescope_engine::{OfflineEngine, OfflineSettings};
use genrescope_library::rusqlite::{types::Value, Connection};
use genrescope_library::{
    ann, db, import, list_audio_files, map_files, scan, similar, FindQuery, ImportOptions, Library, ScanOptions,
    TrackRow,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Every column of every track (but the row id and the analysis time), its timeline and its
/// model's identity, by path.
fn table(db: &Path) -> BTreeMap<String, Vec<Value>> {
    let conn = Connection::open(db).unwrap();
    let cols: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('tracks')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|c: &String| c != "id" && c != "analysed_at")
        .collect();
    assert!(cols.contains(&"tags".to_string()) && cols.contains(&"fingerprint".to_string()), "{cols:?}");
    let sql = format!(
        "SELECT path, {}, (SELECT data FROM timelines WHERE track_id = t.id),
         (SELECT name || ' ' || manifest_sha256 || ' ' || settings || ' ' || coalesce(embedding_dim, '') || ' ' || window_s
          FROM models WHERE id = t.model_id)
         FROM tracks t",
        cols.iter().map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ")
    );
    let n = cols.len() + 3;
    let mut st = conn.prepare(&sql).unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (1..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>()?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

fn music_folder(dir: &Path, n: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|v| {
            let (rate, ch) = [(22050, 1), (44100, 2), (16000, 1)][v as usize % 3];
            write_wav(&dir.join(format!("album{}/track{v:02}.wav", v % 3)), rate, &music(rate, 7.0, ch, v))
        })
        .collect()
}

fn map_rows(model: &Path, files: &[String], jobs: usize) -> Vec<TrackRow> {
    let mut rows = Vec::new();
    map_files(model, &OfflineSettings::default(), files.iter().cloned(), jobs, &mut |r| {
        rows.push(r);
        Ok(())
    })
    .unwrap();
    rows
}

fn write_jsonl(path: &Path, rows: &[TrackRow]) {
    let text: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn importing_map_rows_gives_the_library_a_local_scan_gives() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-import");
    let model = model(&dir, 7);
    let root = dir.join("music");
    music_folder(&root, 7);
    std::fs::copy(root.join("album0/track00.wav"), root.join("copy.wav")).unwrap();
    write_wav(&root.join("silence.wav"), 22050, &[vec![0.0; 22050 * 7]]);
    std::fs::write(root.join("broken.flac"), b"fLaC not really").unwrap();
    let full = wav_bytes(22050, &music(22050, 8.0, 1, 3));
    std::fs::write(root.join("cut.wav"), &full[..full.len() / 2]).unwrap();
    for (i, clip) in gtzan_clips(2).iter().enumerate() {
        std::fs::copy(clip, root.join(format!("gtzan{i}.{}", clip.extension().unwrap().to_str().unwrap()))).unwrap();
    }
    let local = dir.join("local.sqlite");
    let s = scan(&local, std::slice::from_ref(&root), &model, &ScanOptions { jobs: 2, ..Default::default() }).unwrap();
    assert_eq!(s.errors, 1, "{s:?}");

    // The map step over the files a scan would walk, given as relative paths through a link.
    let (files, notes) = list_audio_files(std::slice::from_ref(&root)).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(files.len(), s.files);
    std::os::unix::fs::symlink(&root, dir.join("link")).unwrap();
    let prefix = format!("{}/", root.to_str().unwrap());
    let given: Vec<String> = files
        .iter()
        .map(|f| dir.join("link").join(f.strip_prefix(&prefix).unwrap()).to_string_lossy().into())
        .collect();
    let rows = map_rows(&model, &given, 2);
    assert_eq!(rows.iter().map(|r| r.path.clone()).collect::<Vec<_>>(), given, "rows in input order, paths as given");
    assert_eq!(rows.iter().map(|r| r.stored_path().to_owned()).collect::<Vec<_>>(), files);
    for r in &rows {
        let back: TrackRow = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
        assert_eq!(&back, r, "a row survives JSON unchanged");
    }
    let broken = rows.iter().find(|r| r.path.ends_with("broken.flac")).unwrap();
    assert_eq!((broken.status.as_str(), broken.embedding.is_none()), ("error", true));
    assert!(broken.error.as_deref().unwrap().contains("broken.flac"));
    let good = rows.iter().find(|r| r.path.ends_with("track01.wav")).unwrap();
    assert_eq!(good.tags.as_ref().unwrap().len(), NUM_TAGS);
    assert_eq!(good.genres.as_ref().unwrap().len(), GENRES.len());

    let jsonl = dir.join("rows.jsonl");
    write_jsonl(&jsonl, &rows);
    let imported = dir.join("imported.sqlite");
    let opts = ImportOptions::default();
    let sum = import(&imported, std::slice::from_ref(&jsonl), &opts).unwrap();
    assert_eq!(
        (sum.rows, sum.added, sum.updated, sum.unchanged, sum.errors),
        (rows.len(), rows.len(), 0, 0, 1),
        "{sum:?}"
    );
    let (a, b) = (table(&local), table(&imported));
    assert_eq!(a.len(), b.len());
    for (path, row) in &a {
        assert_eq!(Some(row), b.get(path), "{path}: the imported row differs from the scanned one");
    }

    // Idempotent: the same rows again change nothing.
    let sum = import(&imported, std::slice::from_ref(&jsonl), &opts).unwrap();
    assert_eq!((sum.unchanged, sum.added, sum.updated), (rows.len(), 0, 0), "{sum:?}");
    assert_eq!(table(&imported), b);
    // The imported library is a library like any: a scan finds every file unchanged.
    let s = scan(&imported, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap();
    assert_eq!((s.skipped, s.analysed), (files.len(), 0), "{s:?}");

    // Lines that are not rows are counted and named, the rest is stored.
    let mixed = dir.join("mixed.jsonl");
    let mut text = std::fs::read_to_string(&jsonl).unwrap();
    text += "not json\n{\"format\": 99}\n";
    let mut gone = rows[0].clone();
    gone.path = dir.join("nowhere.wav").to_string_lossy().into();
    (gone.canonical, gone.size, gone.mtime_ns, gone.status) = (None, None, None, "error".into());
    text += &(serde_json::to_string(&gone).unwrap() + "\n");
    std::fs::write(&mixed, text).unwrap();
    let sum = import(&dir.join("third.sqlite"), &[mixed], &opts).unwrap();
    assert_eq!((sum.added, sum.invalid, sum.not_found), (rows.len(), 2, 1), "{sum:?}");
    assert!(sum.invalid_lines[0].contains("mixed.jsonl:"), "{:?}", sum.invalid_lines);
}

#[test]
fn tags_are_stored_and_found_alone_or_with_a_genre() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-tags");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 9);
    write_wav(&root.join("silence.wav"), 22050, &[vec![0.0; 22050 * 7]]);
    let db_path = dir.join("lib.sqlite");
    scan(&db_path, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap();

    let mut engine = OfflineEngine::new(&model).unwrap();
    let conn = Connection::open(&db_path).unwrap();
    let stored = |f: &Path| -> Option<Vec<f32>> {
        conn.query_row("SELECT tags FROM tracks WHERE path = ?1", [common::stored(f)], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .unwrap()
        .map(|b| db::blob_tags(&b))
    };
    let mut tags = BTreeMap::new();
    for f in &files {
        let preds = engine.analyze(&decode_file(f).unwrap(), &OfflineSettings::default()).unwrap();
        let want = file_tags(&preds).unwrap();
        let got = stored(f).unwrap();
        assert_eq!(got.len(), NUM_TAGS);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 0.5 / 65535.0 + 1e-7, "{a} vs {b}");
        }
        tags.insert(common::stored(f), got);
    }
    assert_eq!(stored(&root.join("silence.wav")), None, "silence has no tags");

    let lib = Library::open(&db_path).unwrap();
    let (chill, female) = (tag_index("chillout").unwrap(), tag_index("female-vocalists").unwrap());
    let q = FindQuery { genre: None, tags: vec![chill, female], min: 0.0, limit: 100 };
    let found = lib.find_by(&q).unwrap();
    assert_eq!((found.genre, found.tags.clone()), (None, vec!["chillout", "female vocalists"]));
    let mut expected: Vec<(f64, &str)> =
        tags.iter().map(|(p, t)| (((t[chill] as f64) * (t[female] as f64)).sqrt(), p.as_str())).collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let got: Vec<&str> = found.tracks.iter().map(|t| t.path.as_str()).collect();
    assert_eq!(got, expected.iter().map(|e| e.1).collect::<Vec<_>>(), "ranked by the geometric mean");
    for (t, e) in found.tracks.iter().zip(&expected) {
        assert!((t.p as f64 - e.0).abs() < 1e-6, "{} vs {}", t.p, e.0);
        assert_eq!(t.tags.keys().copied().collect::<Vec<_>>(), vec!["chillout", "female vocalists"]);
    }
    assert_eq!(found.matching, 9, "silence has no tags, so it does not match");

    // With a genre: the genre's probability is a factor too; --min bounds the score.
    let rows: Vec<(String, f64)> = conn
        .prepare("SELECT path, p_jazz FROM tracks WHERE p_jazz IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut expected: Vec<(f64, String)> =
        rows.iter().map(|(p, jazz)| ((jazz * tags[p][chill] as f64).sqrt(), p.clone())).collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let min = expected[3].0 as f32;
    let q = FindQuery { genre: Some(5), tags: vec![chill], min, limit: 2 };
    let found = lib.find_by(&q).unwrap();
    assert_eq!(found.what(), "jazz + chillout");
    assert_eq!(found.matching, expected.iter().filter(|e| e.0 as f32 >= min * (1.0 - 1e-6)).count() as i64);
    assert_eq!(found.tracks.len(), 2);
    assert_eq!(found.tracks[0].path, expected[0].1);
    // A genre alone is as before: its stored probability.
    let jazz = lib.find(5, 0.0, 100).unwrap();
    assert!(jazz.tracks.iter().all(|t| rows.iter().any(|(p, j)| p == &t.path && *j as f32 == t.p)));

    // The style word: a genre first, else a tag.
    assert_eq!(genrescope_library::parse_style("rock").unwrap(), genrescope_library::Style::Genre(9));
    assert_eq!(genrescope_library::parse_style("Chill-Out").unwrap(), genrescope_library::Style::Tag(chill));
    let e = genrescope_library::parse_style("polka").unwrap_err().to_string();
    assert!(e.contains("neither a genre") && e.contains("female-vocalists"), "{e}");

    // A model without tags: finding by tag says why it cannot.
    let plain = model_without_embedding(&dir);
    let other_db = dir.join("plain.sqlite");
    scan(&other_db, std::slice::from_ref(&root), &plain, &ScanOptions::default()).unwrap();
    let e = Library::open(&other_db).unwrap().find_by(&FindQuery { tags: vec![chill], limit: 5, ..Default::default() });
    assert!(matches!(e, Err(genrescope_library::Error::NoTags { .. })), "{e:?}");
}

#[test]
fn a_library_from_before_tags_gets_them_at_the_next_scan() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-tags-upgrade");
    let model = model(&dir, 7);
    let root = dir.join("music");
    music_folder(&root, 3);
    let db_path = dir.join("lib.sqlite");
    scan(&db_path, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap();
    let before = table(&db_path);
    // As a library from before tags (schema 3) holds them.
    Connection::open(&db_path).unwrap().execute("UPDATE tracks SET tags = NULL", []).unwrap();
    let s = scan(&db_path, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap();
    assert_eq!((s.analysed, s.skipped), (3, 0), "{s:?}");
    assert_eq!(table(&db_path), before);
    let s = scan(&db_path, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap();
    assert_eq!(s.skipped, 3);
}

/// Exact nearest neighbours of `query` among the present rows of the library's current model.
fn exact(db_path: &Path, query: &[f32], top: usize, exclude: &HashSet<i64>) -> Vec<(i64, f32)> {
    let conn = db::open_ro(db_path).unwrap();
    let model = db::latest_model(&conn).unwrap().unwrap();
    let (hits, _) = similar::search_excluding(&conn, model.id, query, exclude, top).unwrap();
    hits.iter().map(|h| (h.id, h.similarity)).collect()
}

fn embeddings(db_path: &Path) -> Vec<(i64, Vec<f32>)> {
    let conn = Connection::open(db_path).unwrap();
    let mut st = conn.prepare("SELECT id, embedding FROM tracks WHERE embedding IS NOT NULL ORDER BY id").unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, db::blob_embedding(&r.get::<_, Vec<u8>>(1)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

#[test]
fn the_similarity_index_answers_as_the_exact_search_and_follows_the_rows() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-ann");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 40);
    let db_path = dir.join("lib.sqlite");
    let opts = ScanOptions { jobs: 2, index_min_rows: 10, ..Default::default() };
    let s = scan(&db_path, std::slice::from_ref(&root), &model, &opts).unwrap();
    assert_eq!((s.index.vectors, s.index.rebuilt), (40, true), "{s:?}");
    let lib = Library::open(&db_path).unwrap();
    let model_id = lib.current_model().unwrap().id;
    assert!(lib.has_index(model_id).unwrap());
    assert!(ann::index_path(&db_path, model_id).is_file());
    let check = |lib: &Library, what: &str| {
        for (id, e) in embeddings(&db_path) {
            let exclude: HashSet<i64> = [id].into();
            let (hits, _) = lib.nearest(model_id, &e, 5, &exclude).unwrap();
            let got: Vec<(i64, f32)> = hits.iter().map(|h| (h.id, h.similarity)).collect();
            assert_eq!(got, exact(&db_path, &e, 5, &exclude), "{what}: query {id}");
        }
    };
    check(&lib, "fresh index");
    let sim = lib.similar(&files[3], &model, 4).unwrap();
    assert_eq!((sim.search, sim.compared), ("index", 40));

    // Rows change behind the index's back (a scan killed before it updated the index): the
    // logged rows are scored exactly, so answers still follow the rows.
    let conn = Connection::open(&db_path).unwrap();
    conn.execute("DELETE FROM tracks WHERE path = ?1", [stored(&files[0])]).unwrap();
    conn.execute("UPDATE tracks SET missing_since = 1 WHERE path = ?1", [stored(&files[1])]).unwrap();
    let (id2, e5) = {
        let emb = embeddings(&db_path);
        (emb[1].0, emb[4].1.clone())
    };
    // Row 2 takes row 5's embedding: it must now be found where row 5 is.
    conn.execute(
        "UPDATE tracks SET embedding = ?2 WHERE id = ?1",
        genrescope_library::rusqlite::params![id2, db::embedding_blob(&e5)],
    )
    .unwrap();
    let pending: i64 = conn.query_row("SELECT count(*) FROM ann_log", [], |r| r.get(0)).unwrap();
    assert_eq!(pending, 2, "the delete and the new embedding are logged, a missing mark is not");
    let lib = Library::open(&db_path).unwrap();
    check(&lib, "stale index");
    let (hits, _) = lib.nearest(model_id, &e5, 2, &HashSet::new()).unwrap();
    assert!(hits.iter().any(|h| h.id == id2) && hits[0].similarity > 0.9999, "{hits:?}");

    // The next scan brings the index in step (updating it, not rebuilding) and trims the log.
    std::fs::remove_file(&files[2]).unwrap();
    write_wav(&root.join("new/one.wav"), 22050, &music(22050, 7.0, 1, 40));
    let opts = ScanOptions { prune: true, ..opts };
    let s = scan(&db_path, std::slice::from_ref(&root), &model, &opts).unwrap();
    let rows_now: i64 = conn
        .query_row("SELECT count(*) FROM tracks WHERE embedding IS NOT NULL AND status = 'ok'", [], |r| r.get(0))
        .unwrap();
    assert_eq!((s.index.vectors as i64, s.index.rebuilt), (rows_now, false), "{s:?}");
    assert!(s.index.applied >= 3, "{s:?}");
    let log: i64 = conn.query_row("SELECT count(*) FROM ann_log", [], |r| r.get(0)).unwrap();
    assert_eq!(log, 0);
    check(&Library::open(&db_path).unwrap(), "updated index");

    // Below the threshold the index goes and the search is exact.
    let opts = ScanOptions { index_min_rows: 1000, ..opts };
    let s = scan(&db_path, std::slice::from_ref(&root), &model, &opts).unwrap();
    assert_eq!(s.index.vectors, 0);
    assert!(!ann::index_path(&db_path, model_id).exists());
    let lib = Library::open(&db_path).unwrap();
    assert!(!lib.has_index(model_id).unwrap());
    assert_eq!(lib.similar(&files[3], &model, 4).unwrap().search, "exact");
}

#[test]
fn the_radio_walks_without_repeats_or_a_folder_twice_in_a_row() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-radio");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 15);
    // Byte copies of a track: never played after it (nor it after them).
    std::fs::create_dir_all(root.join("copies")).unwrap();
    std::fs::copy(&files[4], root.join("copies/again.wav")).unwrap();
    std::fs::copy(&files[0], root.join("copies/seed-again.wav")).unwrap();
    let db_path = dir.join("lib.sqlite");
    for min_rows in [usize::MAX, 5] {
        let opts = ScanOptions { index_min_rows: min_rows, ..Default::default() };
        scan(&db_path, std::slice::from_ref(&root), &model, &opts).unwrap();
        let lib = Library::open(&db_path).unwrap();
        let radio = lib.radio(&files[0], &model, 12, false).unwrap();
        assert!(radio.seed_in_library && radio.ended_early.is_none(), "{radio:?}");
        assert_eq!(radio.tracks.len(), 12);
        assert_eq!(radio.tracks[0].path, stored(&files[0]));
        let paths: Vec<&str> = radio.tracks.iter().map(|t| t.path.as_str()).collect();
        let unique: HashSet<&&str> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len(), "no repeats: {paths:?}");
        assert!(!paths.contains(&stored(&root.join("copies/seed-again.wav")).as_str()), "{paths:?}");
        let copies = [stored(&files[4]), stored(&root.join("copies/again.wav"))];
        assert!(paths.iter().filter(|p| copies.iter().any(|c| c == **p)).count() <= 1, "{paths:?}");
        for w in paths.windows(2) {
            assert_ne!(Path::new(w[0]).parent(), Path::new(w[1]).parent(), "same folder twice: {paths:?}");
        }
        // Each step is the rule's choice: check the first one against all candidates.
        let emb: BTreeMap<String, Vec<f32>> = {
            let conn = Connection::open(&db_path).unwrap();
            let mut st = conn.prepare("SELECT path, embedding FROM tracks").unwrap();
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, db::blob_embedding(&r.get::<_, Vec<u8>>(1)?))))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows
        };
        let cos = |a: &[f32], b: &[f32]| {
            let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            d / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
        };
        let seed = &emb[paths[0]];
        let best = emb
            .iter()
            .filter(|(p, _)| Path::new(p.as_str()).parent() != Path::new(paths[0]).parent())
            .filter(|(p, _)| !p.ends_with("seed-again.wav"))
            .map(|(p, e)| (cos(e, seed), p))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        assert_eq!(paths[1], best.1, "the first step: most similar to the seed, from another folder");
        assert!((radio.tracks[1].similarity_to_seed - best.0).abs() < 1e-5);

        // More tracks than the rule allows: it ends early and says why.
        let all = lib.radio(&files[0], &model, 100, false).unwrap();
        assert!(all.tracks.len() < 100 && all.ended_early.as_deref().unwrap().contains("folder"), "{all:?}");
        let any = lib.radio(&files[0], &model, 100, true).unwrap();
        assert_eq!(any.tracks.len(), 15, "every track once, copies left out: {any:?}");
    }
    // A seed from outside the library is analysed with the model.
    let outside = dir.join("outside.wav");
    std::fs::copy(&files[7], &outside).unwrap();
    let radio = Library::open(&db_path).unwrap().radio(&outside, &model, 3, false).unwrap();
    assert!(!radio.seed_in_library);
    assert!(radio.tracks[1..].iter().all(|t| t.path != stored(&files[7])), "its byte copy is the seed: {radio:?}");
}
