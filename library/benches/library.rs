//! Library benchmark (BENCHMARKS.md, "Library"): scan throughput with a real model on shared
//! GTZAN clips at 1 and 2 jobs, database size per 1,000 tracks and `similar` search latency on
//! synthetic rows.
//!
//! `cargo bench -p genrescope-library --bench library` (release). The model is
//! `$GENRESCOPE_BENCH_MODEL`, else the default model folder (`$GENRESCOPE_MODEL_DIR`, models/);
//! the clips come from `$GENRESCOPE_GTZAN` or `<workspace>/../shared/datasets/gtzan`. Without
//! either the scan rows are skipped. `$GENRESCOPE_BENCH_CLIPS` (default 20) sets how many clips.
use genrescope_library::db::{self, Analysis, FileStat, ModelRow};
use genrescope_library::{scan, similar, ScanOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported.
    let tmp = std::env::temp_dir().join(format!("genrescope-library-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    println!("load average at start: {}", load());
    scan_rows(&tmp);
    size_rows(&tmp);
    similar_rows(&tmp);
    println!("load average at end: {}", load());
    let _ = std::fs::remove_dir_all(&tmp);
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// User + system CPU seconds of this process so far (Linux USER_HZ = 100).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    f.get(11).zip(f.get(12)).map_or(0.0, |(u, s)| (u + s) / 100.0)
}

fn clips(n: usize) -> Vec<PathBuf> {
    let root = std::env::var_os("GENRESCOPE_GTZAN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/gtzan"));
    let per_genre: Vec<Vec<PathBuf>> = genrescope_core::labels::GENRES
        .iter()
        .map(|g| {
            let mut f: Vec<PathBuf> =
                std::fs::read_dir(root.join(g)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            f.sort();
            f
        })
        .collect();
    // Round robin over the genres: a mixed library.
    let mut out = Vec::new();
    for i in 0.. {
        let before = out.len();
        for files in &per_genre {
            if out.len() < n {
                out.extend(files.get(i).cloned());
            }
        }
        if out.len() == before || out.len() >= n {
            break;
        }
    }
    out
}

fn scan_rows(tmp: &Path) {
    let model =
        std::env::var_os("GENRESCOPE_BENCH_MODEL").map(PathBuf::from).or_else(genrescope_engine::default_model_dir);
    let n: usize = std::env::var("GENRESCOPE_BENCH_CLIPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let clips = clips(n);
    let Some(model) = model.filter(|_| !clips.is_empty()) else {
        println!("scan: skipped (no model or no GTZAN clips)");
        return;
    };
    let music = tmp.join("music");
    std::fs::create_dir_all(&music).unwrap();
    for (i, c) in clips.iter().enumerate() {
        std::fs::copy(c, music.join(format!("{i:03}-{}", c.file_name().unwrap().to_string_lossy()))).unwrap();
    }
    println!("\nscan: {} clips, model {}", clips.len(), model.display());
    println!("| jobs | files | wall s | files/s | audio s | x real time | CPU s | re-scan (all skipped) s |");
    println!("|---|---|---|---|---|---|---|---|");
    for jobs in [1, 2] {
        let db = tmp.join(format!("scan-{jobs}.sqlite"));
        let opts = ScanOptions { jobs, ..Default::default() };
        let cpu0 = cpu_s();
        let s = scan(&db, std::slice::from_ref(&music), &model, &opts).unwrap();
        let cpu = cpu_s() - cpu0;
        assert_eq!((s.analysed, s.errors), (clips.len(), 0), "{s:?}");
        let t = Instant::now();
        let again = scan(&db, std::slice::from_ref(&music), &model, &opts).unwrap();
        let rescan = t.elapsed().as_secs_f64();
        assert_eq!(again.skipped, clips.len());
        println!(
            "| {jobs} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} | {:.3} |",
            s.analysed,
            s.wall_s,
            s.analysed as f64 / s.wall_s,
            s.audio_s,
            s.x_real_time,
            cpu,
            rescan
        );
    }
}

/// Deterministic pseudo-random numbers in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

const DIM: usize = 200;

/// A library of `n` synthetic rows shaped like the shipped model's: 200-dim embeddings, one
/// timeline record per 3 s window of a `secs`-long track, realistic path lengths.
fn synthetic(path: &Path, n: usize, secs: f64, seed: u64) -> i64 {
    let mut conn = db::open_rw(path).unwrap();
    let model = ModelRow {
        id: 0,
        name: "synthetic".into(),
        manifest_sha256: "0".repeat(64),
        settings: "{}".into(),
        embedding_dim: Some(DIM),
        window_s: 2.992,
        last_used: 0,
    };
    let model_id = db::register_model(&conn, &model, true).unwrap();
    let mut rng = Lcg(seed);
    let windows = (secs / 2.992) as usize;
    let tx = conn.transaction().unwrap();
    for i in 0..n {
        let mut probs = [0f32; 10];
        probs.iter_mut().for_each(|p| *p = rng.next().abs());
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        let preds: Vec<genrescope_engine::Prediction> = (0..windows)
            .map(|w| genrescope_engine::Prediction {
                time_s: (w + 1) as f64 * 2.992,
                frame: 0,
                block_start: 0,
                raw: probs,
                other: 0.0,
                gated: false,
                smoothed: probs,
                smoothed_other: 0.0,
                out_of_set: false,
                top: Some(i % 10),
                level_db: -20.0,
                embedding: None,
                tags: None,
            })
            .collect();
        let a = Analysis {
            duration_s: secs,
            sample_rate: 44100,
            channels: 2,
            windows,
            gated_windows: 0,
            verdict: Some(probs),
            other: Some(0.0),
            out_of_set: false,
            timeline: genrescope_library::timeline::encode(&preds),
            embedding: Some((0..DIM).map(|_| rng.next().max(0.0)).collect()),
            tags: Some((0..genrescope_core::labels::NUM_TAGS).map(|_| rng.next().abs().min(1.0)).collect()),
            warnings: vec![],
        };
        let p = format!(
            "/home/someone/Music/Some Artist {}/Some Album Title/{:02} - A Song Title {i}.flac",
            i / 12,
            i % 12
        );
        let stat = FileStat { size: 30_000_000, mtime_ns: 1_700_000_000_000_000_000 };
        let sha = format!("{:064x}", i);
        let file = db::FileId { stat, sha256: Some(&sha), fingerprint: Some(&[0; 16]) };
        db::store(&tx, &p, &file, model_id, 0, &Ok(a)).unwrap();
    }
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    model_id
}

fn size_rows(tmp: &Path) {
    println!("\ndatabase size (synthetic rows, 200-dim embedding, WAL checkpointed)");
    println!("| track length | timeline windows | bytes per track | MiB per 1,000 tracks |");
    println!("|---|---|---|---|");
    for secs in [30.0, 240.0] {
        let path = tmp.join(format!("size-{secs}.sqlite"));
        let n = 5_000;
        synthetic(&path, n, secs, 1);
        let bytes = std::fs::metadata(&path).unwrap().len() as f64;
        println!(
            "| {secs:.0} s | {} | {:.0} | {:.2} |",
            (secs / 2.992) as usize,
            bytes / n as f64,
            bytes / n as f64 * 1000.0 / (1024.0 * 1024.0)
        );
    }
}

fn similar_rows(tmp: &Path) {
    println!("\nsimilar search (linear scan over the 200-dim f32 blobs, read in place from SQLite (mmap), top 10)");
    println!("| rows | build s | first query ms | median of 20 ms | min ms |");
    println!("|---|---|---|---|---|");
    for n in [10_000, 100_000] {
        let path = tmp.join(format!("similar-{n}.sqlite"));
        let t = Instant::now();
        let model_id = synthetic(&path, n, 240.0, 2);
        let build = t.elapsed().as_secs_f64();
        let conn = db::open_ro(&path).unwrap();
        let mut rng = Lcg(99);
        let query: Vec<f32> = (0..DIM).map(|_| rng.next().max(0.0)).collect();
        let mut times = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let (hits, compared) = similar::search(&conn, model_id, &query, None, 10).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!((hits.len(), compared), (10, n));
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        println!("| {n} | {build:.1} | {first:.1} | {:.1} | {:.1} |", times[times.len() / 2], times[0]);
    }
}
