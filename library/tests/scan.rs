//! The library on a temporary folder of generated WAVs (and a few shared GTZAN clips when
//! present), with random-weight testkit models: what a scan stores, what a re-scan skips,
//! recognises or redoes, and what find / similar / stats read back.
mod common;

use common::*;
use genrescope_core::audio_file::decode_file;
use genrescope_core::audio_file::DecodeError;
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_core::model::{ManifestError, ModelError};
use genrescope_engine::offline::file_embedding;
use genrescope_engine::{file_verdict, EngineError, OfflineEngine, OfflineSettings};
use genrescope_library::rusqlite::{self, Connection};
use genrescope_library::{db, scan, scan_with, timeline, Error, Library, ScanEvent, ScanOptions, ScanSummary};
use std::path::{Path, PathBuf};

fn run_scan(db: &Path, root: &Path, model: &Path) -> ScanSummary {
    scan(db, &[root.to_path_buf()], model, &ScanOptions { jobs: 2, ..Default::default() }).unwrap()
}

#[derive(Debug)]
struct Row {
    id: i64,
    path: String,
    size: i64,
    mtime_ns: i64,
    sha256: Option<String>,
    status: String,
    error: Option<String>,
    warnings: Option<String>,
    model_id: i64,
    missing: bool,
    duration_s: Option<f64>,
    sample_rate: Option<i64>,
    channels: Option<i64>,
    windows: Option<i64>,
    gated: Option<i64>,
    top_genre: Option<String>,
    probs: [Option<f64>; NUM_GENRES],
    timeline: Option<Vec<u8>>,
    embedding: Option<Vec<u8>>,
}

fn rows(db: &Path) -> Vec<Row> {
    let conn = Connection::open(db).unwrap();
    let cols = db::prob_columns().join(", ");
    let sql = format!(
        "SELECT id, path, size, mtime_ns, sha256, status, error, warnings, model_id, missing_since IS NOT NULL,
         duration_s, sample_rate, channels, windows, gated_windows, top_genre, {cols},
         (SELECT data FROM timelines WHERE track_id = tracks.id), embedding
         FROM tracks ORDER BY path"
    );
    let mut st = conn.prepare(&sql).unwrap();
    st.query_map([], |r| {
        let mut probs = [None; NUM_GENRES];
        for (g, p) in probs.iter_mut().enumerate() {
            *p = r.get(16 + g)?;
        }
        Ok(Row {
            id: r.get(0)?,
            path: r.get(1)?,
            size: r.get(2)?,
            mtime_ns: r.get(3)?,
            sha256: r.get(4)?,
            status: r.get(5)?,
            error: r.get(6)?,
            warnings: r.get(7)?,
            model_id: r.get(8)?,
            missing: r.get(9)?,
            duration_s: r.get(10)?,
            sample_rate: r.get(11)?,
            channels: r.get(12)?,
            windows: r.get(13)?,
            gated: r.get(14)?,
            top_genre: r.get(15)?,
            probs,
            timeline: r.get(26)?,
            embedding: r.get(27)?,
        })
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn row<'a>(rows: &'a [Row], file: &Path) -> &'a Row {
    let p = stored(file);
    rows.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("no row for {p}"))
}

/// A folder of generated music: `n` WAVs of different voices, rates and channel counts.
fn music_folder(dir: &Path, n: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|v| {
            let (rate, ch) = [(22050, 1), (44100, 2), (16000, 1), (48000, 2)][v as usize % 4];
            write_wav(&dir.join(format!("track{v:02}.wav")), rate, &music(rate, 7.0, ch, v))
        })
        .collect()
}

#[test]
fn rows_hold_what_the_engine_computes() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-rows");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let mut files = music_folder(&root.join("generated"), 4);
    files.push(write_wav(&root.join("silence.wav"), 22050, &[vec![0.0; 22050 * 7]]));
    // Shorter than one window: analysed, but no verdict.
    files.push(write_wav(&root.join("short.wav"), 22050, &music(22050, 1.0, 1, 9)));
    for (i, clip) in gtzan_clips(2).iter().enumerate() {
        let to = root.join(format!("gtzan{i}.{}", clip.extension().unwrap().to_str().unwrap()));
        std::fs::copy(clip, &to).unwrap();
        files.push(to);
    }
    let db = dir.join("lib.sqlite");
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.files, s.analysed, s.errors, s.skipped), (files.len(), files.len(), 0, 0), "{s:?}");
    assert!(s.audio_s > 0.0 && s.x_real_time > 0.0);

    let rows = rows(&db);
    assert_eq!(rows.len(), files.len());
    let manifest_sha = genrescope_core::sha256_hex(&std::fs::read(model.join("manifest.json")).unwrap());
    let lib = Library::open(&db).unwrap();
    let m = lib.current_model().unwrap();
    assert_eq!(
        (m.name.as_str(), m.manifest_sha256.as_str(), m.embedding_dim),
        ("testkit-tiny-model", &*manifest_sha, Some(16))
    );

    let mut engine = OfflineEngine::new(&model).unwrap();
    for f in &files {
        let r = row(&rows, f);
        let bytes = std::fs::read(f).unwrap();
        let meta = std::fs::metadata(f).unwrap();
        assert_eq!(r.status, "ok", "{r:?}");
        assert_eq!(r.sha256.as_deref(), Some(genrescope_core::sha256_hex(&bytes).as_str()));
        assert_eq!(r.size as u64, meta.len());
        assert_eq!(r.mtime_ns, db::FileStat::of(&meta).mtime_ns);
        assert_eq!((r.model_id, r.missing, r.error.is_none()), (m.id, false, true));

        let audio = decode_file(f).unwrap();
        let preds = engine.analyze(&audio, &OfflineSettings::default()).unwrap();
        assert_eq!(r.duration_s, Some(audio.duration_s()));
        assert_eq!((r.sample_rate, r.channels), (Some(audio.sample_rate as i64), Some(audio.channels.len() as i64)));
        assert_eq!(r.windows, Some(preds.len() as i64));
        assert_eq!(r.gated, Some(preds.iter().filter(|p| p.top.is_none()).count() as i64));
        // f32 → SQLite REAL (f64) → f32 is exact.
        match file_verdict(&preds) {
            Some(v) => {
                for g in 0..NUM_GENRES {
                    assert_eq!(r.probs[g].map(|p| p as f32), Some(v[g]), "{} {}", r.path, GENRES[g]);
                }
                let top = genrescope_core::model::top_genre(&v).0;
                assert_eq!(r.top_genre.as_deref(), Some(GENRES[top]));
            }
            None => {
                assert!(r.probs.iter().all(Option::is_none) && r.top_genre.is_none(), "{r:?}");
            }
        }
        assert_eq!(r.embedding, file_embedding(&preds).map(|e| db::embedding_blob(&e)), "{}", r.path);
        let tl = timeline::decode(r.timeline.as_deref().unwrap()).unwrap();
        assert_eq!(tl.len(), preds.len());
        for (t, p) in tl.iter().zip(&preds) {
            assert_eq!((t.time_s, t.top), (p.time_s as f32, p.top));
            for (a, b) in t.raw.iter().zip(&p.raw) {
                assert!((a - b).abs() <= 1.0 / 65535.0, "{a} vs {b}");
            }
        }
    }
    let silent = row(&rows, &root.join("silence.wav"));
    assert!(silent.top_genre.is_none() && silent.embedding.is_none() && silent.windows.unwrap() > 0);
    assert_eq!(silent.gated, silent.windows);
    let short = row(&rows, &root.join("short.wav"));
    assert_eq!((short.windows, short.top_genre.as_deref()), (Some(0), None));
    let generated = row(&rows, &files[0]);
    assert!(generated.top_genre.is_some() && generated.embedding.as_ref().unwrap().len() == 16 * 4);
}

#[test]
fn rescan_skips_unchanged_files_and_redoes_changed_ones() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-rescan");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 4);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let before = rows(&db);

    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.skipped, s.renamed, s.copied, s.errors, s.missing), (0, 4, 0, 0, 0, 0), "{s:?}");
    assert_eq!(s.jobs, 0, "nothing to analyse, no engine started");

    // Touched (new mtime, same bytes): the hash says unchanged; only the stat is updated.
    bump_mtime(&files[0], 10);
    // New content, same size: the new mtime sends it to the hash, which differs.
    let mut other = music(22050, 7.0, 1, 17);
    other[0][0] += 0.25;
    std::fs::write(&files[2], wav_bytes(22050, &other)).unwrap();
    bump_mtime(&files[2], 10);
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.skipped, s.redone), (1, 3, 0), "{s:?}");
    let after = rows(&db);
    let (b0, a0) = (row(&before, &files[0]), row(&after, &files[0]));
    assert_eq!((a0.id, &a0.embedding, &a0.sha256), (b0.id, &b0.embedding, &b0.sha256));
    assert_ne!(a0.mtime_ns, b0.mtime_ns);
    let (b2, a2) = (row(&before, &files[2]), row(&after, &files[2]));
    assert_eq!(a2.id, b2.id, "same path, same row");
    assert_ne!(a2.sha256, b2.sha256);
    assert_ne!(a2.embedding, b2.embedding);
}

#[test]
fn renamed_moved_copied_and_deleted_files() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-rename");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 5);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let before = rows(&db);

    let renamed = root.join("renamed.wav");
    std::fs::rename(&files[0], &renamed).unwrap();
    let moved = root.join("sub/dir/moved.wav");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&files[1], &moved).unwrap();
    let copy = root.join("copy-of-3.wav");
    std::fs::copy(&files[3], &copy).unwrap();
    let bytes4 = std::fs::read(&files[4]).unwrap();
    std::fs::remove_file(&files[4]).unwrap();

    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.renamed, s.copied, s.missing, s.skipped), (0, 2, 1, 1, 2), "{s:?}");
    let after = rows(&db);
    assert_eq!(after.len(), 6);
    for (old, new) in [(&files[0], &renamed), (&files[1], &moved)] {
        let (b, a) = (row(&before, old), row(&after, new));
        assert_eq!((a.id, &a.embedding, &a.probs, &a.timeline), (b.id, &b.embedding, &b.probs, &b.timeline));
        assert!(!after.iter().any(|r| r.path == b.path), "old path {} still stored", b.path);
    }
    let (orig, dup) = (row(&after, &files[3]), row(&after, &copy));
    assert_ne!(orig.id, dup.id);
    assert_eq!((&dup.embedding, &dup.probs, &dup.sha256), (&orig.embedding, &orig.probs, &orig.sha256));
    assert_eq!((&dup.timeline, dup.windows), (&orig.timeline, orig.windows));
    let gone = after.iter().find(|r| r.path == stored(&root).clone() + "/track04.wav").unwrap();
    assert!(gone.missing && gone.status == "ok", "kept, marked missing: {gone:?}");
    let lib = Library::open(&db).unwrap();
    assert_eq!(lib.stats().unwrap().missing, 1);
    assert!(lib.find(0, 0.0, 100).unwrap().tracks.iter().all(|t| t.path != gone.path), "find skips missing files");

    // The deleted file comes back: present again, not re-analysed.
    std::fs::write(&files[4], &bytes4).unwrap();
    bump_mtime(&files[4], 10);
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.skipped, s.missing), (0, 6, 0), "{s:?}");
    assert!(!row(&rows(&db), &files[4]).missing);

    // Deleted again, then pruned.
    std::fs::remove_file(&files[4]).unwrap();
    let opts = ScanOptions { jobs: 1, prune: true, ..Default::default() };
    let s = scan(&db, std::slice::from_ref(&root), &model, &opts).unwrap();
    assert_eq!((s.missing, s.pruned), (1, 1), "{s:?}");
    assert_eq!(rows(&db).len(), 5);
    let timelines: i64 =
        Connection::open(&db).unwrap().query_row("SELECT count(*) FROM timelines", [], |r| r.get(0)).unwrap();
    assert_eq!(timelines, 5, "the pruned row's timeline went with it");
}

#[test]
fn corrupt_files_are_recorded_and_the_scan_goes_on() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-corrupt");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let good = music_folder(&root, 2);
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(root.join("garbage.wav"), garbage).unwrap();
    std::fs::write(root.join("empty.mp3"), b"").unwrap();
    let full = wav_bytes(22050, &music(22050, 8.0, 1, 3));
    std::fs::write(root.join("header-only.wav"), &full[..40]).unwrap();
    // Cut off: still analysed, with the decoder's warning stored.
    std::fs::write(root.join("cut.wav"), &full[..full.len() / 2]).unwrap();
    // Not audio by extension: not looked at.
    std::fs::write(root.join("notes.txt"), b"hello").unwrap();

    let db = dir.join("lib.sqlite");
    // The library prints nothing; what the CLI shows comes through the callback, in order.
    let mut events = Vec::new();
    let opts = ScanOptions { jobs: 2, ..Default::default() };
    let s = scan_with(&db, std::slice::from_ref(&root), &model, &opts, &mut |e| events.push(format!("{e:?}"))).unwrap();
    assert_eq!((s.files, s.analysed, s.errors, s.warnings), (6, 3, 3, 1), "{s:?}");
    assert_eq!(s.error_files.len(), 3);
    let bytes: u64 = ["garbage.wav", "empty.mp3", "header-only.wav", "cut.wav", "track00.wav", "track01.wav"]
        .iter()
        .map(|n| std::fs::metadata(root.join(n)).unwrap().len())
        .sum();
    assert_eq!(events[0], format!("{:?}", ScanEvent::Started { files: 6, bytes }), "{events:#?}");
    assert_eq!(events.last().unwrap(), "Finished", "{events:#?}");
    let last_progress = events.iter().rev().find(|e| e.starts_with("Progress")).unwrap();
    assert_eq!(last_progress, &format!("{:?}", ScanEvent::Progress { done: 6, files: 6, bytes_done: bytes }));
    assert_eq!(events.iter().filter(|e| e.starts_with("Progress")).count(), 6, "{events:#?}");
    for name in ["garbage.wav", "empty.mp3", "header-only.wav"] {
        let failed = events.iter().filter(|e| e.starts_with("Failed") && e.contains(name)).count();
        assert_eq!(failed, 1, "{name}: {events:#?}");
    }
    assert!(
        events.iter().any(|e| e.starts_with("Damaged") && e.contains("cut.wav") && e.contains("truncated")),
        "{events:#?}"
    );
    let rows = rows(&db);
    for name in ["garbage.wav", "empty.mp3", "header-only.wav"] {
        let r = row(&rows, &root.join(name));
        assert_eq!(r.status, "error");
        let e = r.error.as_deref().unwrap();
        assert!(e.contains(name) && (e.contains("corrupt") || e.contains("unsupported")), "{e}");
        assert!(r.sha256.is_some() && r.embedding.is_none() && r.probs.iter().all(Option::is_none));
    }
    let cut = row(&rows, &root.join("cut.wav"));
    assert_eq!(cut.status, "ok");
    assert!(cut.warnings.as_deref().unwrap().contains("truncated"), "{cut:?}");
    for f in &good {
        assert_eq!(row(&rows, f).status, "ok");
    }
    let st = Library::open(&db).unwrap().stats().unwrap();
    assert_eq!((st.tracks, st.errors, st.with_warnings), (3, 3, 1));

    // Unchanged failures are not retried, unless asked.
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.errors, s.skipped), (0, 0, 6), "{s:?}");
    let opts = ScanOptions { jobs: 1, retry_errors: true, ..Default::default() };
    let s = scan(&db, std::slice::from_ref(&root), &model, &opts).unwrap();
    assert_eq!((s.analysed, s.errors, s.skipped), (0, 3, 3), "{s:?}");
}

#[test]
fn files_analysed_with_another_model_are_redone() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-models");
    let (model_a, model_b) = (model(&dir, 7), model(&dir, 8));
    let root = dir.join("music");
    let files = music_folder(&root, 3);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model_a);
    let before = rows(&db);

    let s = run_scan(&db, &root, &model_b);
    assert_eq!((s.analysed, s.redone, s.skipped), (3, 3, 0), "{s:?}");
    let after = rows(&db);
    let lib = Library::open(&db).unwrap();
    let m = lib.current_model().unwrap();
    let mut engine = OfflineEngine::new(&model_b).unwrap();
    for f in &files {
        let (b, a) = (row(&before, f), row(&after, f));
        assert_eq!(a.id, b.id);
        assert_eq!(a.model_id, m.id);
        assert_ne!(a.model_id, b.model_id);
        let preds = engine.analyze(&decode_file(f).unwrap(), &OfflineSettings::default()).unwrap();
        let v = file_verdict(&preds).unwrap();
        assert!(a.probs.iter().zip(&v).all(|(p, q)| p.map(|p| p as f32) == Some(*q)));
    }
    assert_eq!(run_scan(&db, &root, &model_b).skipped, 3);

    // Model A's embeddings are gone: similar with it is refused and says what to do.
    let e = lib.similar(&files[0], &model_a, 3).unwrap_err().to_string();
    assert!(e.contains("was analysed with") && e.contains("--model") && e.contains("rescan"), "{e}");
    assert!(lib.similar(&files[0], &model_b, 3).is_ok());
}

#[test]
fn similar_ranks_a_byte_copy_first_and_excludes_the_query() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-similar");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 6);
    let query = &files[2];
    std::fs::create_dir_all(root.join("copies")).unwrap();
    let copy = root.join("copies/same-bytes.wav");
    std::fs::copy(query, &copy).unwrap();
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let lib = Library::open(&db).unwrap();

    let sim = lib.similar(query, &model, 3).unwrap();
    assert_eq!(sim.compared, 6, "every track but the query itself");
    assert_eq!(sim.tracks.len(), 3);
    assert_eq!(sim.tracks[0].path, stored(&copy));
    assert!(sim.tracks[0].similarity > 0.9999, "{:?}", sim.tracks[0]);
    assert!(sim.tracks.iter().all(|t| t.path != stored(query)));
    assert!(sim.tracks.windows(2).all(|w| w[0].similarity >= w[1].similarity), "{:?}", sim.tracks);

    // A query outside the library works the same way.
    let outside = dir.join("outside.wav");
    std::fs::copy(query, &outside).unwrap();
    let sim = lib.similar(&outside, &model, 10).unwrap();
    assert_eq!(sim.compared, 7);
    let top2: Vec<&str> = sim.tracks[..2].iter().map(|t| t.path.as_str()).collect();
    assert!(top2.contains(&stored(query).as_str()) && top2.contains(&stored(&copy).as_str()), "{top2:?}");
    assert!(sim.tracks[1].similarity > 0.9999);

    let silent = write_wav(&dir.join("silent.wav"), 22050, &[vec![0.0; 22050 * 7]]);
    let e = lib.similar(&silent, &model, 3).unwrap_err().to_string();
    assert!(e.contains("silence"), "{e}");
}

#[test]
fn find_and_stats_read_the_stored_probabilities() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-find");
    let model = model(&dir, 7);
    let root = dir.join("music");
    music_folder(&root, 8);
    write_wav(&root.join("silence.wav"), 22050, &[vec![0.0; 22050 * 7]]);
    std::fs::write(root.join("broken.flac"), b"fLaC not really").unwrap();
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let rows = rows(&db);
    let lib = Library::open(&db).unwrap();

    for (g, genre) in GENRES.iter().enumerate() {
        let mut expected: Vec<(f64, &str)> = rows.iter().filter_map(|r| Some((r.probs[g]?, r.path.as_str()))).collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let found = lib.find(g, 0.0, 100).unwrap();
        let got: Vec<(f64, &str)> = found.tracks.iter().map(|t| (t.p as f64, t.path.as_str())).collect();
        assert_eq!(got, expected, "{genre}");
        assert_eq!(found.matching, 8);
        let min = expected[3].0 as f32;
        let some = lib.find(g, min, 2).unwrap();
        assert_eq!(some.matching, expected.iter().filter(|e| e.0 as f32 >= min).count() as i64);
        assert_eq!(some.tracks.len(), 2);
        assert_eq!(some.tracks[0].path, expected[0].1);
    }

    let st = lib.stats().unwrap();
    assert_eq!((st.tracks, st.no_verdict, st.errors, st.missing), (9, 1, 1, 0));
    for (g, c) in st.by_top_genre.iter().enumerate() {
        let n = rows.iter().filter(|r| r.top_genre.as_deref() == Some(GENRES[g])).count() as i64;
        assert_eq!((c.genre, c.tracks), (GENRES[g], n));
    }
    assert_eq!(st.by_top_genre.iter().map(|c| c.tracks).sum::<i64>(), 8);
    assert!((st.by_top_genre.iter().map(|c| c.share).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!((st.total_duration_s - 9.0 * 7.0).abs() < 0.01, "{}", st.total_duration_s);
    assert!(st.error_files[0].path.ends_with("broken.flac"));
}

#[test]
fn errors_say_what_to_do() {
    let dir = genrescope_testkit::scratch_dir("lib-errors");
    let missing = dir.join("nope.sqlite");
    let e = Library::open(&missing).err().unwrap();
    assert!(matches!(e, Error::NoLibrary(_)) && e.to_string().contains("Genrescope scan"), "{e}");

    let foreign = dir.join("foreign.sqlite");
    Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE x (y)").unwrap();
    assert!(matches!(Library::open(&foreign), Err(Error::NotALibrary(_))));
    assert!(matches!(db::open_rw(&foreign), Err(Error::NotALibrary(_))));

    let newer = dir.join("newer.sqlite");
    db::open_rw(&newer).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let e = Library::open(&newer).err().unwrap().to_string();
    assert!(e.contains("newer Genrescope"), "{e}");

    let e = genrescope_library::parse_genre("jaz").unwrap_err();
    assert!(matches!(&e, Error::UnknownGenre(g) if g == "jaz"), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("unknown genre") && e.contains("blues, classical"), "{e}");
    assert_eq!(genrescope_library::parse_genre("HipHop").unwrap(), 4);

    let empty_db = dir.join("empty.sqlite");
    db::open_rw(&empty_db).unwrap();
    let lib = Library::open(&empty_db).unwrap();
    for e in [lib.find(0, 0.0, 10).unwrap_err(), lib.stats().unwrap_err()] {
        assert!(matches!(e, Error::Empty(_)) && e.to_string().contains("scan"), "{e}");
    }
    // A missing model folder: the engine's typed error, wrapped.
    let e = scan(&empty_db, &[dir.join("no-such-folder")], &dir, &ScanOptions::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Engine(EngineError::Model { source: ModelError::Manifest(ManifestError::NotFound(_)), .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("manifest not found"), "{e}");
}

/// `similar` on a file that does not decode: the decoder's typed error, through the engine's.
#[test]
fn similar_on_an_undecodable_file() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-similar-undecodable");
    let model = model(&dir, 7);
    let root = dir.join("music");
    music_folder(&root, 1);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let query = dir.join("garbage.wav");
    std::fs::write(&query, (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect::<Vec<_>>())
        .unwrap();
    let e = Library::open(&db).unwrap().similar(&query, &model, 3).unwrap_err();
    assert!(
        matches!(&e, Error::Engine(EngineError::Decode(DecodeError::Corrupt { .. } | DecodeError::Unsupported { .. }))),
        "{e:?}"
    );
    assert!(e.to_string().contains("garbage.wav"), "{e}");
}

#[test]
fn a_model_without_an_embedding_scans_but_cannot_do_similar() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-no-embedding");
    let model = model_without_embedding(&dir);
    let root = dir.join("music");
    let files = music_folder(&root, 2);
    let db = dir.join("lib.sqlite");
    let s = run_scan(&db, &root, &model);
    assert_eq!(s.analysed, 2);
    assert!(rows(&db).iter().all(|r| r.embedding.is_none() && r.top_genre.is_some()));
    let lib = Library::open(&db).unwrap();
    assert_eq!(lib.find(1, 0.0, 10).unwrap().tracks.len(), 2);
    let e = lib.similar(&files[0], &model, 3).unwrap_err();
    assert!(matches!(&e, Error::NoEmbedding { dir, .. } if dir == &model), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("has no embedding") && e.contains("--model"), "{e}");
}

/// Issue 19.5: an edit that keeps both size and mtime (a tag editor that restores the mtime, a
/// copy with `cp -p` over the file) is seen by the fingerprint of the file's first and last 64 KiB.
#[test]
fn an_edit_that_keeps_size_and_mtime_is_seen() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-fingerprint");
    let model = model(&dir, 7);
    let root = dir.join("music");
    // 7 s of 16-bit audio: long enough for a middle that neither end chunk covers.
    let files = music_folder(&root, 3);
    assert!(std::fs::metadata(&files[0]).unwrap().len() > 2 * genrescope_library::scan::FINGERPRINT_CHUNK);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    let before = rows(&db);

    // Same length, same mtime, other samples near the start of one file and near the end of another.
    let edit = |f: &Path, at_end: bool| {
        let meta = std::fs::metadata(f).unwrap();
        let mut bytes = std::fs::read(f).unwrap();
        let n = bytes.len();
        let span = if at_end { n - 4000..n - 2000 } else { 1000..3000 };
        bytes[span].iter_mut().for_each(|b| *b = b.wrapping_add(77));
        std::fs::write(f, &bytes).unwrap();
        std::fs::File::options().write(true).open(f).unwrap().set_modified(meta.modified().unwrap()).unwrap();
        let after = std::fs::metadata(f).unwrap();
        assert_eq!(db::FileStat::of(&after), db::FileStat::of(&meta), "the edit keeps size and mtime");
    };
    edit(&files[0], false);
    edit(&files[1], true);
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.skipped), (2, 1), "{s:?}");
    let after = rows(&db);
    for f in &files[..2] {
        let (b, a) = (row(&before, f), row(&after, f));
        assert_eq!(a.id, b.id);
        assert_ne!(a.sha256, b.sha256, "{}", a.path);
        assert_eq!(a.sha256.as_deref(), Some(genrescope_core::sha256_hex(&std::fs::read(f).unwrap()).as_str()));
    }
    assert_eq!(row(&after, &files[2]).sha256, row(&before, &files[2]).sha256);

    // Rows without a fingerprint (a library from before fingerprints): hashed whole once, not redone.
    Connection::open(&db).unwrap().execute("UPDATE tracks SET fingerprint = NULL", []).unwrap();
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.analysed, s.skipped), (0, 3), "{s:?}");
    let stored: Vec<Option<Vec<u8>>> = Connection::open(&db)
        .unwrap()
        .prepare("SELECT fingerprint FROM tracks ORDER BY path")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (f, fp) in files.iter().zip(&stored) {
        assert_eq!(fp.as_deref(), Some(&genrescope_library::scan::fingerprint(f).unwrap()[..]));
    }
}

/// Issue 19.5: a file reached through a symlink (to the file, or to a folder holding it) is the
/// same track as the file: one row, stored under the canonical path.
#[test]
fn a_symlink_and_its_target_are_one_track() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-symlinks");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root.join("albums"), 2);
    let outside = write_wav(&dir.join("elsewhere/away.wav"), 22050, &music(22050, 7.0, 1, 11));
    std::os::unix::fs::symlink(&files[0], root.join("favourite.wav")).unwrap();
    std::os::unix::fs::symlink(root.join("albums"), root.join("same-albums")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("away-link.wav")).unwrap();
    let db = dir.join("lib.sqlite");
    let s = run_scan(&db, &root, &model);
    assert_eq!((s.files, s.analysed, s.copied), (3, 3, 0), "{s:?}");
    let rows = rows(&db);
    let mut paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    let mut expected = vec![stored(&files[0]), stored(&files[1]), stored(&outside)];
    expected.sort();
    assert_eq!(paths, expected);

    // Scanning the link itself, or the linked folder, finds the same rows.
    let s =
        scan(&db, &[root.join("favourite.wav"), root.join("same-albums")], &model, &ScanOptions::default()).unwrap();
    assert_eq!((s.files, s.skipped, s.analysed, s.missing), (2, 2, 0, 0), "{s:?}");
    assert_eq!(self::rows(&db).len(), 3);
    // `similar` leaves the query out when it is given through a link.
    let sim = Library::open(&db).unwrap().similar(&root.join("favourite.wav"), &model, 5).unwrap();
    assert!(sim.tracks.iter().all(|t| t.path != stored(&files[0])), "{:?}", sim.tracks);
    assert_eq!(sim.compared, 2);
}

/// Issue 19.5: two scans of one library at once. The second either refuses at once with a message
/// that says why and what to do, or (`wait`) waits for the first and then finishes correctly.
/// Without the lock the second would decide from rows the first is changing: here both insert the
/// copy of a file and one fails on the path's uniqueness.
#[test]
fn a_second_scan_refuses_or_waits_while_one_runs() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("lib-concurrent");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let files = music_folder(&root, 2);
    let db = dir.join("lib.sqlite");
    run_scan(&db, &root, &model);
    std::fs::copy(&files[0], root.join("copy.wav")).unwrap();
    write_wav(&root.join("new.wav"), 22050, &music(22050, 7.0, 1, 9));

    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let (waiting_tx, waiting_rx) = crossbeam_channel::unbounded::<&'static str>();
    let timeout = std::time::Duration::from_secs(120);
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            let opts = ScanOptions { jobs: 2, ..Default::default() };
            scan_with(&db, std::slice::from_ref(&root), &model, &opts, &mut |e| {
                if let ScanEvent::Started { .. } = e {
                    started_tx.send(()).unwrap();
                    // Hold the first scan here until the second has shown what it does.
                    go_rx.recv_timeout(timeout).expect("the test never released the first scan");
                }
            })
            .map_err(|e| e.to_string())
        });
        started_rx.recv_timeout(timeout).expect("the first scan did not start");

        let e = scan(&db, std::slice::from_ref(&root), &model, &ScanOptions::default()).unwrap_err();
        assert!(matches!(&e, Error::Busy { pid: Some(p), .. } if *p == std::process::id()), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("another `Genrescope scan`") && msg.contains("--wait"), "{msg}");

        let second = s.spawn(|| {
            let opts = ScanOptions { jobs: 2, wait: true, ..Default::default() };
            let r = scan_with(&db, std::slice::from_ref(&root), &model, &opts, &mut |e| {
                if let ScanEvent::Warning(w) = e {
                    if w.contains("waiting for another scan") {
                        let _ = waiting_tx.send("waiting");
                    }
                }
            });
            let _ = waiting_tx.send("finished");
            r.map_err(|e| e.to_string())
        });
        assert_eq!(waiting_rx.recv_timeout(timeout).unwrap(), "waiting", "the second scan must wait for the first");
        go_tx.send(()).unwrap();
        let a = first.join().unwrap().unwrap();
        assert_eq!((a.analysed, a.copied, a.skipped), (1, 1, 2), "{a:?}");
        let b = second.join().unwrap().unwrap();
        assert_eq!((b.analysed, b.copied, b.skipped, b.errors), (0, 0, 4, 0), "{b:?}");
    });
    let rows = rows(&db);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.status == "ok" && !r.missing));
}
