//! `similar` at catalogue scale: a synthetic library of N rows (`ANN_ROWS`, default 100000; comma
//! separated for several), its usearch index built as `scan`/`import` build it, then queries
//! through the index (what `similar` does after analysing the query file) and through the exact
//! scan (`ANN_QUERIES` of them, default 200): p50/p99 latency and recall@10 against exact. `cargo bench -p genrescope-library --bench ann`.
//!
//! The embeddings imitate musicnn's 200-dim `penultimate` output: non-negative (after a ReLU),
//! about half the dimensions zero, and clustered (1 cluster per 50 tracks, like artists/albums,
//! with per-dimension scales drawn log-normally), not uniform noise, which would make every
//! neighbour nearly as far as any other and recall meaningless. Queries are new draws from the
//! same clusters (a file that is not in the library).
use genrescope_library::ann::{self, Searcher};
use genrescope_library::db::{self, embedding_blob, ModelRow};
use genrescope_library::rusqlite::params;
use genrescope_library::similar;
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

const DIM: usize = 200;
const TOP: usize = 10;

/// xorshift64*, with a Box-Muller normal: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn u(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (a, b) = (self.u().max(1e-12), self.u());
        ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
    }
}

struct Clusters {
    centres: Vec<Vec<f32>>,
    scale: Vec<f32>,
}

impl Clusters {
    fn new(n: usize, rng: &mut Rng) -> Self {
        let scale: Vec<f32> = (0..DIM).map(|_| (0.6 * rng.normal()).exp()).collect();
        let centres = (0..n).map(|_| (0..DIM).map(|d| (rng.normal() - 0.1) * scale[d]).collect()).collect();
        Self { centres, scale }
    }
    fn draw(&self, rng: &mut Rng) -> Vec<f32> {
        let c = &self.centres[(rng.u() * self.centres.len() as f64) as usize % self.centres.len()];
        c.iter().zip(&self.scale).map(|(&m, &s)| (m + 0.6 * s * rng.normal()).max(0.0)).collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("ANN_ROWS")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("ANN_ROWS: numbers"))
        .collect();
    let tmp = std::env::temp_dir().join(format!("genrescope-ann-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    println!("| rows | index build s | index file MiB per 1,000 rows | index p50 ms | index p99 ms | exact p50 ms | exact p99 ms | recall@10 |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        run(&tmp, n);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn run(tmp: &Path, n: usize) {
    let queries: usize = std::env::var("ANN_QUERIES").map_or(200, |q| q.parse().expect("ANN_QUERIES: a number"));
    let path = tmp.join(format!("ann-{n}.sqlite"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let clusters = Clusters::new((n / 50).max(1), &mut rng);
    let model_id = {
        let mut conn = db::open_rw(&path).unwrap();
        let m = ModelRow {
            id: 0,
            name: "bench".into(),
            manifest_sha256: "0".repeat(64),
            settings: "{}".into(),
            embedding_dim: Some(DIM),
            window_s: 3.0,
            last_used: 1,
        };
        let model_id = db::register_model(&conn, &m, true).unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO tracks (path, size, mtime_ns, status, model_id, analysed_at, embedding)
                     VALUES (?1, 1, 1, 'ok', ?2, 1, ?3)",
                )
                .unwrap();
            for i in 0..n {
                st.execute(params![format!("/music/{i:07}.flac"), model_id, embedding_blob(&clusters.draw(&mut rng))])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        model_id
    };
    let conn = db::open_rw(&path).unwrap();
    let t = Instant::now();
    let r = ann::refresh(&conn, &path, model_id, 1).unwrap();
    let build = t.elapsed().as_secs_f64();
    assert_eq!(r.vectors, n);
    drop(conn);
    // The rows carry only embeddings here: the index file is what this bench can size.
    let bytes = std::fs::metadata(ann::index_path(&path, model_id)).unwrap().len();

    let conn = db::open_ro(&path).unwrap();
    let searcher = Searcher::open(&conn, &path, model_id).unwrap().expect("an index");
    let none = HashSet::new();
    let (mut t_index, mut t_exact, mut hits) = (Vec::new(), Vec::new(), 0usize);
    for _ in 0..queries {
        let q = clusters.draw(&mut rng);
        let t = Instant::now();
        let approx = searcher.search(&conn, &path, model_id, &q, TOP, &none).unwrap().expect("index answers");
        t_index.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let (exact, _) = similar::search_excluding(&conn, model_id, &q, &none, TOP).unwrap();
        t_exact.push(t.elapsed().as_secs_f64() * 1e3);
        let truth: HashSet<i64> = exact.iter().map(|h| h.id).collect();
        hits += approx.iter().filter(|h| truth.contains(&h.id)).count();
    }
    t_index.sort_by(f64::total_cmp);
    t_exact.sort_by(f64::total_cmp);
    println!(
        "| {n} | {build:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.3} |",
        bytes as f64 / n as f64 * 1000.0 / (1024.0 * 1024.0),
        percentile(&t_index, 0.5),
        percentile(&t_index, 0.99),
        percentile(&t_exact, 0.5),
        percentile(&t_exact, 0.99),
        hits as f64 / (queries * TOP) as f64
    );
}
