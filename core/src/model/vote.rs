//! Soft voting: the one way Genrescope combines probability vectors, whether from ensemble
//! members (one window), from the windows of a track (a file verdict), or from the segments of a
//! track in the trainer's metrics.
use crate::labels::{Probs, NUM_GENRES};

/// Mean of the probability vectors (accumulated in f64); `None` for none.
pub fn soft_vote<'a>(probs: impl IntoIterator<Item = &'a Probs>) -> Option<Probs> {
    let mut sum = [0.0f64; NUM_GENRES];
    let mut n = 0usize;
    for p in probs {
        sum.iter_mut().zip(p).for_each(|(s, &v)| *s += v as f64);
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| (s / n as f64) as f32))
}

/// Index and value of the largest probability (the first on ties).
pub fn top_genre(probs: &Probs) -> (usize, f32) {
    probs.iter().copied().enumerate().fold((0, f32::MIN), |best, (i, p)| if p > best.1 { (i, p) } else { best })
}

/// Genre indices by descending probability (ties: lower index first), the first `k`.
pub fn top_k(probs: &Probs, k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_top_and_ranking() {
        let mut a = [0.0; NUM_GENRES];
        a[1] = 1.0;
        let mut b = [0.0; NUM_GENRES];
        b[1] = 0.5;
        b[4] = 0.5;
        let v = soft_vote([&a, &b]).unwrap();
        assert!((v[1] - 0.75).abs() < 1e-7 && (v[4] - 0.25).abs() < 1e-7);
        assert_eq!(top_genre(&v), (1, 0.75));
        assert_eq!(top_k(&v, 2), vec![(1, 0.75), (4, 0.25)]);
        assert_eq!(soft_vote(std::iter::empty()), None);
        let tie = [0.1; NUM_GENRES];
        assert_eq!(top_genre(&tie).0, 0);
    }
}
