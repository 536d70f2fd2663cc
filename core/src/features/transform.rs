//! From a window of mel power frames to model input: normalization → compression → (DCT).
//!
//! Runs where windows are assembled (the analysis thread, the trainer), not on the audio thread:
//! the window normalization needs the whole window. `apply` does not allocate.
use super::spec::{Compression, FeatureOutput, FrontEndSpec, Normalization, SpecError};

/// Orthonormal DCT-II (scipy.fft.dct(type=2, norm='ortho')): first `n_out` rows of size `n_in`.
struct Dct {
    n_in: usize,
    matrix: Vec<f64>,
}

impl Dct {
    fn new(n_in: usize, n_out: usize) -> Self {
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

    fn apply(&self, x: &[f64], out: &mut [f32]) {
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)) {
            *o = row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() as f32;
        }
    }
}

/// The per-window half of a [`FrontEndSpec`].
pub struct FeatureTransform {
    normalization: Normalization,
    compression: Compression,
    dct: Option<Dct>,
    n_mels: usize,
    frame_dim: usize,
    /// One frame of compressed bands, f64 (the DCT input).
    row: Vec<f64>,
}

impl FeatureTransform {
    pub fn new(spec: &FrontEndSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        let n_mels = spec.mel.n_mels;
        let dct = match spec.output {
            FeatureOutput::LogMel => None,
            FeatureOutput::Mfcc { n_mfcc, .. } => Some(Dct::new(n_mels, n_mfcc)),
        };
        Ok(Self {
            normalization: spec.normalization.clone(),
            compression: spec.compression.clone(),
            dct,
            n_mels,
            frame_dim: spec.frame_dim(),
            row: vec![0.0; n_mels],
        })
    }

    /// Mel bands per input frame.
    pub fn mel_dim(&self) -> usize {
        self.n_mels
    }

    /// Values per output frame.
    pub fn frame_dim(&self) -> usize {
        self.frame_dim
    }

    /// Gain the normalization applies to this window of mel power (1 when off).
    pub fn window_gain(&self, mel: &[f32]) -> f64 {
        match &self.normalization {
            Normalization::Off => 1.0,
            Normalization::WindowMeanPower { reference, max_gain_db } => {
                let n = mel.len().max(1) as f64;
                let mean = mel.iter().map(|&v| v as f64).sum::<f64>() / n;
                let max_gain = 10f64.powf(*max_gain_db as f64 / 10.0);
                if mean > 0.0 {
                    (*reference as f64 / mean).min(max_gain)
                } else {
                    max_gain
                }
            }
        }
    }

    /// `mel`: `frames * mel_dim` mel power values (a window, frame after frame);
    /// writes `frames * frame_dim` model-input values into `out`.
    pub fn apply(&mut self, mel: &[f32], out: &mut [f32]) {
        let frames = mel.len() / self.n_mels;
        assert_eq!(mel.len(), frames * self.n_mels, "mel window is not whole frames");
        assert_eq!(out.len(), frames * self.frame_dim, "output buffer size");
        let gain = self.window_gain(mel);
        for (m, o) in mel.chunks_exact(self.n_mels).zip(out.chunks_exact_mut(self.frame_dim)) {
            for (r, &v) in self.row.iter_mut().zip(m) {
                *r = v as f64 * gain;
            }
            compress(&self.compression, &mut self.row);
            match &self.dct {
                Some(dct) => dct.apply(&self.row, o),
                None => o.iter_mut().zip(&self.row).for_each(|(o, &r)| *o = r as f32),
            }
        }
    }
}

/// Compresses one frame of (possibly normalized) mel power in place.
fn compress(c: &Compression, s: &mut [f64]) {
    match *c {
        Compression::PowerToDb { amin, ref_power, top_db } => {
            let amin = amin as f64;
            let ref_db = 10.0 * (ref_power as f64).max(amin).log10();
            let mut max = f64::NEG_INFINITY;
            for v in s.iter_mut() {
                *v = 10.0 * v.max(amin).log10() - ref_db;
                max = max.max(*v);
            }
            if let Some(top) = top_db {
                let floor = max - top as f64;
                s.iter_mut().for_each(|v| *v = v.max(floor));
            }
        }
        Compression::Log10OnePlus { scale } => {
            let c = scale as f64;
            // ln_1p keeps precision for the tiny values of quiet bands.
            s.iter_mut().for_each(|v| *v = (c * *v).ln_1p() / std::f64::consts::LN_10);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::spec::{DctNorm, FrontEndSpec};

    #[test]
    fn log10_one_plus_and_normalization() {
        let spec = FrontEndSpec::musicnn();
        let mut t = FeatureTransform::new(&spec).unwrap();
        let mel: Vec<f32> = (0..2 * 96).map(|i| (i as f32) * 1e-3).collect();
        let mut out = vec![0.0; mel.len()];
        t.apply(&mel, &mut out);
        for (m, o) in mel.iter().zip(&out) {
            let want = (1.0 + 10000.0 * *m as f64).log10() as f32;
            assert!((o - want).abs() <= 1e-6 * want.abs().max(1.0), "{o} vs {want}");
        }
        // With window normalization, any gain gives the same features.
        let norm = FrontEndSpec {
            normalization: Normalization::WindowMeanPower { reference: 0.05, max_gain_db: 60.0 },
            ..spec
        };
        let mut t = FeatureTransform::new(&norm).unwrap();
        let (mut a, mut b) = (vec![0.0; mel.len()], vec![0.0; mel.len()]);
        t.apply(&mel, &mut a);
        let quiet: Vec<f32> = mel.iter().map(|v| v * 0.01).collect();
        t.apply(&quiet, &mut b);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        // The mean mel power after normalization is the reference.
        let g = t.window_gain(&mel);
        let mean = mel.iter().map(|&v| v as f64).sum::<f64>() / mel.len() as f64;
        assert!((g * mean - 0.05).abs() < 1e-9);
        // Silence: capped gain, finite output.
        let zeros = vec![0.0f32; 96];
        assert_eq!(t.window_gain(&zeros), 1e6);
        let mut z = vec![1.0; 96];
        t.apply(&zeros, &mut z);
        assert!(z.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn mfcc_of_a_flat_spectrum_is_only_c0() {
        let spec = FrontEndSpec::gtzan_mfcc();
        assert!(matches!(spec.output, FeatureOutput::Mfcc { n_mfcc: 13, dct_norm: DctNorm::Ortho, .. }));
        let mut t = FeatureTransform::new(&spec).unwrap();
        let mel = vec![1e-2f32; 128];
        let mut out = vec![0.0; 13];
        t.apply(&mel, &mut out);
        // 10*log10(0.01) = -20 dB in every band; ortho DCT: c0 = -20 * sqrt(128).
        assert!((out[0] + 20.0 * 128f32.sqrt()).abs() < 1e-3, "{}", out[0]);
        assert!(out[1..].iter().all(|v| v.abs() < 1e-4), "{out:?}");
    }
}
