//! `Genrescope scan / find / similar / stats` as a user runs them, on a temporary library of
//! generated WAVs (plus a few shared GTZAN clips when present) with a testkit model; and a scan
//! killed mid-way (SIGKILL, SIGINT) that leaves a consistent library the next scan completes.
#[path = "../../library/tests/common/mod.rs"]
mod common;

use common::*;
use genrescope_library::rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_Genrescope"))
        .args(args)
        .env_remove("GENRESCOPE_MODEL_DIR")
        .output()
        .expect("run Genrescope")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Non-zero exit, one line of error, no panic.
fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stdout: {} stderr: {err}", stdout(o));
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
}

fn run_json(args: &[&str]) -> Value {
    let o = cli(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder of `n` generated WAVs (`secs` long, different voices).
fn music_folder(dir: &Path, n: u32, secs: f32) -> Vec<PathBuf> {
    (0..n).map(|v| write_wav(&dir.join(format!("track{v:03}.wav")), 22050, &music(22050, secs, 1, v))).collect()
}

#[test]
fn scan_then_find_playlist_stats_and_similar() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("cli-library");
    let model = model(&dir, 7);
    let root = dir.join("music");
    let mut files = music_folder(&root.join("generated"), 6, 7.0);
    for (i, clip) in gtzan_clips(2).iter().enumerate() {
        let to = root.join(format!("gtzan/clip {i}.ogg"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(clip, &to).unwrap();
        files.push(to);
    }
    let copy = root.join("copy.wav");
    std::fs::copy(&files[1], &copy).unwrap();
    std::fs::write(root.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let db = dir.join("lib.sqlite");
    let (db_s, model_s) = (s(&db), s(&model));

    let v = run_json(&["scan", s(&root), "--db", db_s, "--model", model_s, "--jobs", "2", "--json"]);
    let n = files.len() as u64 + 1;
    // The copy is analysed, or its twin's analysis copied, depending on which worker got there first.
    assert_eq!(v["analysed"].as_u64().unwrap() + v["copied"].as_u64().unwrap(), n, "{v}");
    assert_eq!((v["errors"].as_u64(), v["files"].as_u64()), (Some(1), Some(n + 1)), "{v}");
    assert!(v["error_files"][0]["path"].as_str().unwrap().ends_with("broken.wav"));
    assert!(v["x_real_time"].as_f64().unwrap() > 0.0);

    let o = cli(&["scan", s(&root), "--db", db_s, "--model", model_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(&format!("analysed 0, skipped {} (unchanged)", n + 1)), "{text}");
    assert!(text.contains("errors 0"), "{text}");

    // find: ranked as the stored probabilities say; the playlist lists the same tracks.
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let expected: Vec<(String, f64, f64)> = conn
        .prepare("SELECT path, p_jazz, duration_s FROM tracks WHERE status = 'ok' ORDER BY p_jazz DESC, path")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(expected.len() as u64, n);
    let m3u = dir.join("jazz.m3u");
    let v = run_json(&["find", "--genre", "Jazz", "--db", db_s, "--json", "--m3u", s(&m3u)]);
    let tracks = v["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), expected.len(), "--m3u lists every match");
    for (t, (path, p, _)) in tracks.iter().zip(&expected) {
        assert_eq!((t["path"].as_str().unwrap(), t["p"].as_f64().unwrap() as f32), (path.as_str(), *p as f32));
    }
    let playlist = std::fs::read_to_string(&m3u).unwrap();
    let lines: Vec<&str> = playlist.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert_eq!(lines.len(), 1 + 2 * expected.len(), "{playlist}");
    for (pair, (path, _, duration)) in lines[1..].chunks(2).zip(&expected) {
        let info = pair[0].strip_prefix("#EXTINF:").unwrap_or_else(|| panic!("{playlist}"));
        let (secs, title) = info.split_once(',').unwrap();
        assert_eq!(secs.parse::<i64>().unwrap(), duration.round() as i64);
        assert!(!title.is_empty());
        assert_eq!(pair[1], path);
        assert!(Path::new(pair[1]).is_file());
    }

    let min = expected[2].1;
    let v = run_json(&["find", "--genre", "jazz", "--min", &format!("{min}"), "--limit", "2", "--db", db_s, "--json"]);
    assert_eq!(v["tracks"].as_array().unwrap().len(), 2);
    assert!(v["matching"].as_i64().unwrap() >= 2);
    let o = cli(&["find", "--genre", "jazz", "--db", db_s, "--limit", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.lines().count() == 4 && text.contains(&expected[0].0), "{text}");

    // stats: the counts the rows give.
    let png = dir.join("stats.png");
    let v = run_json(&["stats", "--db", db_s, "--json", "--plot", s(&png)]);
    assert_eq!((v["tracks"].as_i64(), v["errors"].as_i64(), v["missing"].as_i64()), (Some(n as i64), Some(1), Some(0)));
    let mut by_genre = std::collections::HashMap::new();
    for r in conn
        .prepare("SELECT top_genre FROM tracks WHERE status = 'ok'")
        .unwrap()
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
    {
        *by_genre.entry(r.unwrap().unwrap()).or_insert(0i64) += 1;
    }
    for g in v["by_top_genre"].as_array().unwrap() {
        let name = g["genre"].as_str().unwrap();
        assert_eq!(g["tracks"].as_i64().unwrap(), by_genre.get(name).copied().unwrap_or(0), "{name}");
    }
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5_000, "{} bytes", bytes.len());
    let o = cli(&["stats", "--db", db_s]);
    assert!(stdout(&o).contains("errors 1") && stdout(&o).contains("broken.wav"), "{}", stdout(&o));

    // similar: the byte copy first; the query itself (in the library) left out.
    let v = run_json(&["similar", s(&files[1]), "--db", db_s, "--model", model_s, "--top", "3", "--json"]);
    let tracks = v["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 3);
    assert_eq!(tracks[0]["path"].as_str().unwrap(), stored(&copy));
    assert!(tracks[0]["similarity"].as_f64().unwrap() > 0.9999, "{v}");
    assert!(tracks.iter().all(|t| t["path"].as_str().unwrap() != stored(&files[1])));
    assert_eq!(v["compared"].as_i64(), Some(n as i64 - 1));
    let o = cli(&["similar", s(&copy), "--db", db_s, "--model", model_s, "--top", "1"]);
    assert!(o.status.success() && stdout(&o).contains(&stored(&files[1])), "{}{}", stdout(&o), stderr(&o));

    // Another model: refused, saying which model the library has.
    let other = model_without_embedding(&dir);
    let o = cli(&["similar", s(&files[0]), "--db", db_s, "--model", s(&other)]);
    assert_clean_failure(&o, &["has no embedding", "--model"]);
    let model8 = common::model(&dir, 8);
    let o = cli(&["similar", s(&files[0]), "--db", db_s, "--model", s(&model8)]);
    assert_clean_failure(&o, &["was analysed with testkit-tiny-model", "--model DIR", "rescan"]);
}

#[test]
fn mistakes_get_one_clear_line() {
    let dir = genrescope_testkit::scratch_dir("cli-library-errors");
    let db = dir.join("lib.sqlite");
    let missing_db = dir.join("missing.sqlite");
    let o = cli(&["find", "--genre", "jazz", "--db", s(&missing_db)]);
    assert_clean_failure(&o, &["no library at", "Genrescope scan DIR --db"]);
    for args in [&["stats", "--db", s(&missing_db)][..], &["find", "--genre", "pop", "--db", s(&missing_db)]] {
        assert_clean_failure(&cli(args), &["no library at"]);
    }
    let o = cli(&["find", "--genre", "polka", "--db", s(&db)]);
    assert_clean_failure(&o, &["unknown genre \"polka\"", "blues, classical, country"]);
    assert_clean_failure(&cli(&["find", "--genre", "jazz", "--min", "1.5", "--db", s(&db)]), &["--min"]);
    let o = cli(&["scan", s(&dir.join("nowhere")), "--db", s(&db), "--model", "/nonexistent/model"]);
    assert_clean_failure(&o, &["manifest not found"]);

    if !ort_available() {
        return;
    }
    let model = model(&dir, 7);
    let o = cli(&["scan", s(&dir.join("nowhere")), "--db", s(&db), "--model", s(&model)]);
    assert_clean_failure(&o, &["cannot scan", "nowhere"]);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = cli(&["scan", s(&empty), "--db", s(&db), "--model", s(&model)]);
    assert!(o.status.success() && stdout(&o).contains("0 audio files"), "{}{}", stdout(&o), stderr(&o));
    for args in [
        &["find", "--genre", "jazz", "--db", s(&db)][..],
        &["stats", "--db", s(&db)],
        &[
            "similar",
            s(&write_wav(&dir.join("q.wav"), 22050, &music(22050, 7.0, 1, 1))),
            "--db",
            s(&db),
            "--model",
            s(&model),
        ],
    ] {
        assert_clean_failure(&cli(args), &["has no analysed tracks yet", "Genrescope scan DIR"]);
    }
}

#[test]
fn find_other_lists_the_tracks_judged_none_of_the_genres() {
    let dir = genrescope_testkit::scratch_dir("cli-library-other");
    let db = dir.join("lib.sqlite");
    // Exactly one of --genre and --other (clap's usage error: exit code 2).
    for args in [&["find", "--db", s(&db)][..], &["find", "--other", "--genre", "jazz", "--db", s(&db)]] {
        let o = cli(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--other") || stderr(&o).contains("--genre"), "{}", stderr(&o));
    }
    if !ort_available() {
        return;
    }
    let model = dir.join("model-oos");
    genrescope_testkit::TinyModel::new(genrescope_core::features::FrontEndSpec::musicnn())
        .with_trunk(2)
        .seed(5)
        .out_of_set(0.5)
        .write(&model)
        .unwrap();
    let root = dir.join("music");
    music_folder(&root, 3, 7.0);
    let tones = write_wav(&root.join("tones.wav"), 22050, &genrescope_testkit::bright_tones(22050, 7.0, 1));
    let o = cli(&["scan", s(&root), "--db", s(&db), "--model", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));

    let v = run_json(&["find", "--other", "--db", s(&db), "--json"]);
    assert_eq!((v["genre"].as_str(), v["matching"].as_i64()), (Some("other"), Some(1)));
    let t = &v["tracks"][0];
    assert_eq!(t["path"].as_str(), tones.canonicalize().unwrap().to_str());
    assert!(t["p"].as_f64().unwrap() > 0.9);
    let playlist = dir.join("other.m3u");
    let o = cli(&["find", "--other", "--db", s(&db), "--m3u", s(&playlist)]);
    assert!(o.status.success() && stdout(&o).starts_with("other >= 0%: 1 track"), "{}", stdout(&o));
    assert!(std::fs::read_to_string(&playlist).unwrap().contains("tones.wav"));

    let v = run_json(&["stats", "--db", s(&db), "--json"]);
    assert_eq!((v["tracks"].as_i64(), v["other"].as_i64(), v["no_verdict"].as_i64()), (Some(4), Some(1), Some(0)));
    let png = dir.join("stats.png");
    let o = cli(&["stats", "--db", s(&db), "--plot", s(&png)]);
    let text = stdout(&o);
    let other_row = text.lines().find(|l| l.starts_with("other ")).unwrap_or_else(|| panic!("{text}"));
    assert!(other_row.contains(" 1 ") && other_row.contains("25.0%"), "{other_row}");
    assert!(std::fs::read(&png).unwrap().len() > 5_000);
}

/// Starts `scan --jobs 1` on `files` WAVs and stops it with `signal` once the database holds at
/// least one row but not all. Returns the exit status, stdout and the rows at that point, or
/// `None` if the scan finished first (the caller retries with more files).
fn scan_and_stop(dir: &Path, model: &Path, n: u32, signal: &str) -> Option<(std::process::ExitStatus, String, i64)> {
    let root = dir.join(format!("music-{n}"));
    music_folder(&root, n, 20.0);
    let db = dir.join(format!("lib-{n}-{signal}.sqlite"));
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_Genrescope"))
        .args(["scan", s(&root), "--db", s(&db), "--model", s(model), "--jobs", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rows = || -> i64 {
        let Ok(c) = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY) else { return 0 };
        c.query_row("SELECT count(*) FROM tracks", [], |r| r.get(0)).unwrap_or(0)
    };
    let mut finished = false;
    wait_for(300, "the first row", || {
        finished = child.try_wait().unwrap().is_some();
        finished || rows() >= 1
    });
    if !finished {
        let ok = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {signal}");
    }
    let out = child.wait_with_output().unwrap();
    let seen = rows();
    if finished || seen == n as i64 {
        eprintln!("the scan of {n} files finished before it could be stopped; retrying with more");
        return None;
    }
    eprintln!("stopped ({signal}) with {seen} of {n} rows");
    check_consistent(&db);
    // The next scan does the rest, and only the rest.
    let v = run_json(&["scan", s(&root), "--db", s(&db), "--model", s(model), "--json"]);
    assert_eq!(
        (v["analysed"].as_i64(), v["skipped"].as_i64(), v["errors"].as_i64()),
        (Some(n as i64 - seen), Some(seen), Some(0)),
        "{v}"
    );
    assert_eq!(rows(), n as i64);
    check_consistent(&db);
    Some((out.status, String::from_utf8_lossy(&out.stdout).into_owned(), seen))
}

/// SQLite's own check, and every row whole: a stopped scan never leaves half a file's data.
fn check_consistent(db: &Path) {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let dangling: i64 = c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(dangling, 0);
    let incomplete: i64 = c
        .query_row(
            "SELECT count(*) FROM tracks WHERE status != 'ok' OR sha256 IS NULL OR embedding IS NULL
             OR NOT EXISTS (SELECT 1 FROM timelines WHERE track_id = tracks.id) OR p_blues IS NULL OR p_rock IS NULL OR top_genre IS NULL OR duration_s IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(incomplete, 0);
}

#[test]
fn a_killed_scan_leaves_a_consistent_library_and_the_next_one_completes_it() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("cli-library-kill");
    let model = model(&dir, 7);
    let mut n = 24;
    for _ in 0..4 {
        if let Some((status, _, seen)) = scan_and_stop(&dir, &model, n, "-KILL") {
            assert_eq!(status.code(), None, "killed by a signal");
            assert!(seen >= 1 && seen < n as i64);
            return;
        }
        n *= 2;
    }
    panic!("every scan finished before it could be killed");
}

#[test]
fn ctrl_c_stops_after_the_files_in_progress() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("cli-library-sigint");
    let model = model(&dir, 7);
    let mut n = 24;
    for _ in 0..4 {
        if let Some((status, out, seen)) = scan_and_stop(&dir, &model, n, "-INT") {
            assert_eq!(status.code(), Some(130), "{out}");
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["interrupted"], true);
            assert_eq!(v["analysed"].as_i64(), Some(seen), "{v}");
            return;
        }
        n *= 2;
    }
    panic!("every scan finished before it could be interrupted");
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The CLI as a user without write permission: `nobody` when the tests run as root (root writes
/// through file permissions), else this user.
fn cli_unprivileged(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_Genrescope");
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        Command::new(bin)
    };
    c.args(args).env_remove("GENRESCOPE_MODEL_DIR").output().expect("run Genrescope")
}

/// Rows as (path, sha256, embedding), for "nothing was lost" checks.
fn row_digest(db: &Path) -> Vec<(String, Option<String>, Option<Vec<u8>>)> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "{}", db.display());
    let mut st = c.prepare("SELECT path, sha256, embedding FROM tracks ORDER BY path").unwrap();
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    rows
}

/// Issue 19.5: a library the user cannot write (the file, or the folder SQLite must create its
/// journal in) is refused before any work (here the model folder does not even exist), with a
/// message that says so and what to do; the library is left as it was.
#[test]
fn a_read_only_library_is_refused_up_front_and_left_intact() {
    if !ort_available() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = genrescope_testkit::scratch_dir("cli-library-read-only");
    let model = model(&dir, 7);
    let root = dir.join("music");
    music_folder(&root, 3, 7.0);
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let db = lib_dir.join("lib.sqlite");
    let v = run_json(&["scan", s(&root), "--db", s(&db), "--model", s(&model), "--json"]);
    assert_eq!(v["analysed"].as_u64(), Some(3), "{v}");
    let before = row_digest(&db);
    write_wav(&root.join("new.wav"), 22050, &music(22050, 7.0, 1, 5));
    let chmod = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();

    // The file read-only (its folder writable: the lock file can be made there).
    chmod(&lib_dir, 0o777);
    chmod(&db, 0o444);
    let o = cli_unprivileged(&["scan", s(&root), "--db", s(&db), "--model", "/nonexistent/model"]);
    assert_clean_failure(&o, &["cannot write the library", "the file is read-only", "--db"]);
    // The folder read-only.
    chmod(&db, 0o644);
    let _ = std::fs::remove_file(lib_dir.join("lib.sqlite-lock"));
    chmod(&lib_dir, 0o555);
    let o = cli_unprivileged(&["scan", s(&root), "--db", s(&db), "--model", "/nonexistent/model"]);
    assert_clean_failure(&o, &["cannot write the library", "its folder is read-only", "--db"]);
    chmod(&lib_dir, 0o755);
    assert_eq!(row_digest(&db), before);
    // Queries still work on it.
    let v = run_json(&["stats", "--db", s(&db), "--json"]);
    assert_eq!(v["tracks"].as_i64(), Some(3));
}

/// Issue 19.5: the disk holding the library fills up during a scan (an 8 MiB tmpfs, mounted in a
/// private mount namespace, filled up but for a few pages). The scan stops with a message that
/// says so; the database passes SQLite's integrity check and keeps every earlier row; once there
/// is room again the same command completes the library.
#[test]
fn a_full_disk_stops_the_scan_with_a_clear_error_and_an_intact_library() {
    if !ort_available() {
        return;
    }
    if !Command::new("unshare").args(["-m", "true"]).status().is_ok_and(|s| s.success()) {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "CI: `unshare -m` (root, mount namespaces) is needed for the full-disk test");
        eprintln!("SKIPPED: cannot make a mount namespace here (not root?)");
        return;
    }
    let dir = genrescope_testkit::scratch_dir("cli-library-disk-full");
    let model = model(&dir, 7);
    let (first, second) = (dir.join("first"), dir.join("second"));
    music_folder(&first, 3, 7.0);
    (0..40).for_each(|v| {
        write_wav(&second.join(format!("more{v:02}.wav")), 22050, &music(22050, 7.0, 1, 100 + v));
    });
    let (mnt, out) = (dir.join("mnt"), dir.join("out"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // One shell in its own mount namespace: the tmpfs disappears with it, so the files are copied out.
    let script = r#"
        set -u
        mount -t tmpfs -o size=8m genrescope-test "$MNT" || exit 97
        run() { "$BIN" scan "$1" --db "$MNT/lib.sqlite" --model "$MODEL" --jobs 1 --json >"$OUT/$2.json" 2>"$OUT/$2.err"; echo $? >"$OUT/$2.rc"; }
        run "$FIRST" first
        cp "$MNT"/lib.sqlite* "$OUT/" && mkdir "$OUT/before" && mv "$OUT"/lib.sqlite* "$OUT/before/"
        dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null
        # A few pages left: enough to open the library (its -shm needs 32 KiB), not for 40 rows.
        truncate -s -48K "$MNT/filler"
        run "$SECOND" full
        cp "$MNT"/lib.sqlite* "$OUT/" && mkdir "$OUT/after" && mv "$OUT"/lib.sqlite* "$OUT/after/"
        rm "$MNT/filler"
        run "$SECOND" again
        cp "$MNT"/lib.sqlite* "$OUT/" && mkdir "$OUT/done" && mv "$OUT"/lib.sqlite* "$OUT/done/"
    "#;
    let st = Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("BIN", env!("CARGO_BIN_EXE_Genrescope"))
        .env("MNT", &mnt)
        .env("OUT", &out)
        .env("MODEL", &model)
        .env("FIRST", &first)
        .env("SECOND", &second)
        .env_remove("GENRESCOPE_MODEL_DIR")
        .status()
        .unwrap();
    assert!(st.success(), "the namespace script failed: {st}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(read("first.rc").trim(), "0", "{}", read("first.err"));
    let err = read("full.err");
    assert_eq!(read("full.rc").trim(), "1", "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    for needle in ["cannot write the library", "the disk is full", "run the same command again"] {
        assert!(last.contains(needle), "'{needle}' not in: {err}");
    }
    let before = row_digest(&out.join("before/lib.sqlite"));
    let after = row_digest(&out.join("after/lib.sqlite"));
    assert_eq!(before.len(), 3);
    assert!(after.len() < 3 + 40, "the disk should have filled before the last row: {} rows", after.len());
    for r in &before {
        assert!(after.contains(r), "{} lost", r.0);
    }
    assert_eq!(read("again.rc").trim(), "0", "{}", read("again.err"));
    let again: Value = serde_json::from_str(&read("again.json")).unwrap();
    assert_eq!(again["analysed"].as_u64(), Some(40 + 3 - after.len() as u64), "{again}");
    assert_eq!(row_digest(&out.join("done/lib.sqlite")).len(), 43);
}

/// Issue 20 as a user runs it: the map step (`analyze --jsonl`, files as arguments and a list on
/// stdin) imported into a second library gives the rows a local scan gives, twice (idempotent);
/// `find rock` positional, `find --tag` with a genre, `tags FILE`, `similar` through the index,
/// and `radio` into an M3U.
#[test]
fn map_step_import_tags_similar_and_radio() {
    if !ort_available() {
        return;
    }
    let dir = genrescope_testkit::scratch_dir("cli-catalogue");
    let model = model(&dir, 7);
    let root = dir.join("music");
    // Two folders, eight different voices (a copy would be one track to the radio).
    let files: Vec<PathBuf> = (0..8u32)
        .map(|v| {
            let f = root.join(["a", "b"][v as usize % 2]).join(format!("track{v}.wav"));
            write_wav(&f, 22050, &music(22050, 7.0, 1, v))
        })
        .collect();
    let (scanned, imported) = (dir.join("scanned.sqlite"), dir.join("imported.sqlite"));
    let model_s = s(&model);
    // --index-min-rows 1: the index is built even for this small library.
    run_json(&["scan", s(&root), "--db", s(&scanned), "--model", model_s, "--index-min-rows", "1", "--json"]);

    // Half the files as arguments, half on stdin.
    let mut args = vec!["analyze", "--jsonl", "--model", model_s, "--jobs", "2"];
    args.extend(files[..4].iter().map(|f| s(f)));
    let o = cli(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rows = stdout(&o);
    let mut child = Command::new(env!("CARGO_BIN_EXE_Genrescope"))
        .args(["analyze", "--jsonl", "--model", model_s])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let list: String = files[4..].iter().map(|f| format!("{}\n", s(f))).collect();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), list.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    rows += &stdout(&o);
    let lines: Vec<Value> = rows.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), files.len());
    for (l, f) in lines.iter().zip(&files) {
        assert_eq!((l["path"].as_str(), l["status"].as_str()), (Some(s(f)), Some("ok")), "{l}");
        assert_eq!(l["tags"].as_object().map(|t| t.len()), Some(50), "{l}");
    }
    let jsonl = dir.join("rows.jsonl");
    std::fs::write(&jsonl, &rows).unwrap();
    let imp = ["import", s(&jsonl), "--db", s(&imported), "--index-min-rows", "1", "--json"];
    let v = run_json(&imp);
    assert_eq!((v["added"].as_u64(), v["invalid"].as_u64()), (Some(8), Some(0)), "{v}");
    let v = run_json(&imp);
    assert_eq!((v["added"].as_u64(), v["unchanged"].as_u64()), (Some(0), Some(8)), "{v}");
    // What the queries see is the same in both libraries.
    for db in [&scanned, &imported] {
        let a = run_json(&["find", "rock", "--db", s(db), "--json"]);
        let b = run_json(&["find", "--genre", "rock", "--db", s(db), "--json"]);
        assert_eq!(a, b);
        assert_eq!(a["matching"].as_i64(), Some(8), "{a}");
    }
    let q = ["find", "jazz", "--tag", "chillout", "--tag", "female-vocalists", "--json", "--db"];
    let a = run_json(&[&q[..], &[s(&scanned)]].concat());
    assert_eq!(a, run_json(&[&q[..], &[s(&imported)]].concat()));
    assert_eq!(a["tags"], serde_json::json!(["chillout", "female vocalists"]), "{a}");
    let t = &a["tracks"][0];
    let score = (t["tags"]["chillout"].as_f64().unwrap() * t["tags"]["female vocalists"].as_f64().unwrap()).sqrt();
    assert!(t["p"].as_f64().unwrap() > 0.0 && score > 0.0, "{a}");
    let sim = run_json(&["similar", s(&files[0]), "--db", s(&imported), "--model", model_s, "--top", "3", "--json"]);
    assert_eq!(sim["search"].as_str(), Some("index"), "{sim}");
    let exact = run_json(&["similar", s(&files[0]), "--db", s(&scanned), "--model", model_s, "--top", "3", "--json"]);
    assert_eq!(sim["tracks"], exact["tracks"]);

    // tags FILE: all 50 with --top 50, highest first; the library stores the same scores.
    let tags = run_json(&["tags", s(&files[2]), "--model", model_s, "--json", "--top", "50"]);
    let list = tags["tags"].as_array().unwrap();
    assert_eq!(list.len(), 50);
    assert!(list.windows(2).all(|w| w[0]["p"].as_f64() >= w[1]["p"].as_f64()));
    let row = &lines[2]["tags"];
    for t in list {
        let stored = row[t["tag"].as_str().unwrap()].as_f64().unwrap();
        assert!((stored - t["p"].as_f64().unwrap()).abs() < 1e-6, "{t} vs {stored}");
    }

    let m3u = dir.join("radio.m3u");
    let r = run_json(&["radio", s(&files[0]), "--count", "6", "--m3u", s(&m3u), "--db", s(&imported), "--json"]);
    let paths: Vec<&str> = r["tracks"].as_array().unwrap().iter().map(|t| t["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 6, "{r}");
    let mut seen = paths.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "a repeat: {paths:?}");
    for w in paths.windows(2) {
        assert_ne!(Path::new(w[0]).parent(), Path::new(w[1]).parent(), "same folder twice: {paths:?}");
    }
    let text = std::fs::read_to_string(&m3u).unwrap();
    let listed: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(listed, paths);
}
