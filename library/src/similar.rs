//! Nearest tracks by cosine similarity of their mean embeddings: a linear scan over the stored
//! little-endian f32 blobs, read in place from SQLite (no index: see BENCHMARKS.md for the cost).
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub id: i64,
    /// Cosine similarity in [-1, 1].
    pub similarity: f32,
}

/// The `top` rows of `model_id` most similar to `query`, best first, and how many rows were
/// compared: all but `exclude_path`, files marked missing and embeddings of another length.
pub fn search(
    conn: &Connection,
    model_id: i64,
    query: &[f32],
    exclude_path: Option<&str>,
    top: usize,
) -> rusqlite::Result<(Vec<Neighbour>, usize)> {
    // Excluded by id: comparing every row's path costs a third of the scan.
    let exclude: HashSet<i64> = match exclude_path {
        Some(p) => path_id(conn, p)?.into_iter().collect(),
        None => HashSet::new(),
    };
    search_excluding(conn, model_id, query, &exclude, top)
}

/// The row id of a stored path.
pub fn path_id(conn: &Connection, path: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM tracks WHERE path = ?1")?.query_row(params![path], |r| r.get(0)).optional()
}

/// [`search`], leaving out the rows `exclude` holds.
pub fn search_excluding(
    conn: &Connection,
    model_id: i64,
    query: &[f32],
    exclude: &HashSet<i64>,
    top: usize,
) -> rusqlite::Result<(Vec<Neighbour>, usize)> {
    let q_norm = query.iter().map(|v| v * v).sum::<f32>().sqrt();
    if top == 0 || q_norm == 0.0 || !q_norm.is_finite() {
        return Ok((Vec::new(), 0));
    }
    let mut st = conn.prepare_cached(
        "SELECT id, embedding FROM tracks WHERE model_id = ?1 AND status = 'ok' AND missing_since IS NULL
         AND embedding IS NOT NULL",
    )?;
    let mut rows = st.query(params![model_id])?;
    let mut all = Vec::new();
    let mut compared = 0;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let ValueRef::Blob(blob) = r.get_ref(1)? else { continue };
        if exclude.contains(&id) {
            continue;
        }
        if blob.len() != 4 * query.len() {
            continue;
        }
        compared += 1;
        let (dot, norm2) = dot_and_norm2(query, blob);
        if norm2 > 0.0 {
            all.push(Neighbour { id, similarity: dot / (q_norm * norm2.sqrt()) });
        }
    }
    let by_score = |a: &Neighbour, b: &Neighbour| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id));
    if all.len() > top {
        all.select_nth_unstable_by(top - 1, by_score);
        all.truncate(top);
    }
    all.sort_by(by_score);
    Ok((all, compared))
}

/// Cosine similarity of `q` and the embedding blob `blob` (`None` for a zero or mismatched one).
pub fn cosine(q: &[f32], blob: &[u8]) -> Option<f32> {
    if blob.len() != 4 * q.len() {
        return None;
    }
    let q_norm = q.iter().map(|v| v * v).sum::<f32>().sqrt();
    let (dot, norm2) = dot_and_norm2(q, blob);
    (norm2 > 0.0 && q_norm > 0.0).then(|| dot / (q_norm * norm2.sqrt()))
}

/// `(q · v, v · v)` with `v` decoded from its bytes on the fly; 8 lanes so it vectorizes.
fn dot_and_norm2(q: &[f32], blob: &[u8]) -> (f32, f32) {
    let mut dot = [0f32; 8];
    let mut nn = [0f32; 8];
    let (qc, bc) = (q.chunks_exact(8), blob.chunks_exact(32));
    let (q_rest, b_rest) = (qc.remainder(), bc.remainder());
    for (qs, bs) in qc.zip(bc) {
        for i in 0..8 {
            let v = f32::from_le_bytes([bs[4 * i], bs[4 * i + 1], bs[4 * i + 2], bs[4 * i + 3]]);
            dot[i] += qs[i] * v;
            nn[i] += v * v;
        }
    }
    let (mut d, mut n) = (dot.iter().sum::<f32>(), nn.iter().sum::<f32>());
    for (x, b) in q_rest.iter().zip(b_rest.chunks_exact(4)) {
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        d += x * v;
        n += v * v;
    }
    (d, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum() {
        let q: Vec<f32> = (0..21).map(|i| (i as f32 * 0.37).sin()).collect();
        let v: Vec<f32> = (0..21).map(|i| (i as f32 * 0.11).cos()).collect();
        let blob = crate::db::embedding_blob(&v);
        let (d, n) = dot_and_norm2(&q, &blob);
        let d0: f32 = q.iter().zip(&v).map(|(a, b)| a * b).sum();
        let n0: f32 = v.iter().map(|b| b * b).sum();
        assert!((d - d0).abs() < 1e-5 && (n - n0).abs() < 1e-5);
    }
}
