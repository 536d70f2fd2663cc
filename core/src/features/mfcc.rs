//! power_to_db and the orthonormal DCT-II (scipy.fft.dct(type=2, norm='ortho')).

use super::FeatureConfig;

pub struct PowerToDb {
    amin: f64,
    ref_db: f64,
    top_db: Option<f64>,
}

impl PowerToDb {
    pub fn new(cfg: &FeatureConfig) -> Self {
        let amin = cfg.amin as f64;
        Self {
            amin,
            ref_db: 10.0 * (cfg.ref_power as f64).max(amin).log10(),
            top_db: cfg.top_db.map(f64::from),
        }
    }

    /// `10*log10(max(amin, S)) - 10*log10(max(amin, ref))`, then the per-frame top_db
    /// clamp (see `FeatureConfig::top_db`). The amin floor keeps silence finite.
    #[inline]
    pub fn apply_in_place(&self, s: &mut [f64]) {
        let mut max = f64::NEG_INFINITY;
        for v in s.iter_mut() {
            *v = 10.0 * v.max(self.amin).log10() - self.ref_db;
            max = max.max(*v);
        }
        if let Some(top) = self.top_db {
            let floor = max - top;
            for v in s.iter_mut() {
                *v = v.max(floor);
            }
        }
    }
}

/// First `n_out` rows of the orthonormal DCT-II matrix of size `n_in`.
pub struct Dct {
    n_in: usize,
    matrix: Vec<f64>,
}

impl Dct {
    pub fn new(n_in: usize, n_out: usize) -> Self {
        let n = n_in as f64;
        let mut matrix = Vec::with_capacity(n_in * n_out);
        for k in 0..n_out {
            let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
            for i in 0..n_in {
                let arg = std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n);
                matrix.push(scale * arg.cos());
            }
        }
        Self { n_in, matrix }
    }

    #[inline]
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)) {
            *o = row.iter().zip(x).map(|(a, b)| a * b).sum();
        }
    }
}
