//! librosa.filters.mel, stored sparsely (each triangle touches only a few bins).

use super::spec::{FrontEndSpec, MelNorm, MelScale};

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// librosa.hz_to_mel.
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney => {
            if hz >= MIN_LOG_HZ {
                MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / logstep()
            } else {
                hz / F_SP
            }
        }
    }
}

/// librosa.mel_to_hz.
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            if mel >= MIN_LOG_MEL {
                MIN_LOG_HZ * (logstep() * (mel - MIN_LOG_MEL)).exp()
            } else {
                F_SP * mel
            }
        }
    }
}

/// librosa.mel_frequencies: `n` points evenly spaced in mel (numpy.linspace arithmetic).
pub fn mel_frequencies(n: usize, fmin: f64, fmax: f64, scale: MelScale) -> Vec<f64> {
    let lo = hz_to_mel(fmin, scale);
    let hi = hz_to_mel(fmax, scale);
    let step = (hi - lo) / (n.max(2) - 1) as f64;
    (0..n).map(|i| if i + 1 == n && n > 1 { hi } else { i as f64 * step + lo }).map(|m| mel_to_hz(m, scale)).collect()
}

/// Mel filterbank as one contiguous run of non-zero weights per band.
pub struct MelFilterbank {
    /// (first bin, weights) per band.
    bands: Vec<(usize, Vec<f64>)>,
}

impl MelFilterbank {
    /// `spec` must be valid (callers check [`FrontEndSpec::validate`] first).
    pub fn new(spec: &FrontEndSpec) -> Self {
        let n_bins = spec.n_fft / 2 + 1;
        let sr = spec.sample_rate as f64;
        // numpy.fft.rfftfreq(n_fft, d=1/sr)
        let val = 1.0 / (spec.n_fft as f64 * (1.0 / sr));
        let fftfreqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * val).collect();
        let mel = &spec.mel;
        let mel_f = mel_frequencies(mel.n_mels + 2, mel.fmin as f64, spec.fmax_hz() as f64, mel.scale);
        let bands = (0..mel.n_mels)
            .map(|i| {
                let fdiff_lo = mel_f[i + 1] - mel_f[i];
                let fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
                let enorm = match mel.norm {
                    MelNorm::Slaney => Some(2.0 / (mel_f[i + 2] - mel_f[i])),
                    MelNorm::None => None,
                };
                let w: Vec<f64> = fftfreqs
                    .iter()
                    .map(|&f| {
                        let lower = -(mel_f[i] - f) / fdiff_lo;
                        let upper = (mel_f[i + 2] - f) / fdiff_hi;
                        // librosa stores the basis as float32 (its default dtype), rounding
                        // once after the ramp and once after the area normalisation.
                        let tri = 0f64.max(lower.min(upper)) as f32;
                        match enorm {
                            Some(e) => (tri as f64 * e) as f32 as f64,
                            None => tri as f64,
                        }
                    })
                    .collect();
                match (w.iter().position(|&x| x != 0.0), w.iter().rposition(|&x| x != 0.0)) {
                    (Some(first), Some(last)) => (first, w[first..=last].to_vec()),
                    _ => (0, Vec::new()), // empty band (librosa warns); stays 0
                }
            })
            .collect();
        Self { bands }
    }

    pub fn n_mels(&self) -> usize {
        self.bands.len()
    }

    /// Dense weights of band `m` over all bins (for tests and inspection).
    pub fn dense_band(&self, m: usize, n_bins: usize) -> Vec<f64> {
        let mut v = vec![0.0; n_bins];
        let (start, w) = &self.bands[m];
        v[*start..start + w.len()].copy_from_slice(w);
        v
    }

    #[inline]
    pub fn apply(&self, power: &[f64], out: &mut [f64]) {
        for (o, (start, w)) in out.iter_mut().zip(&self.bands) {
            *o = w.iter().zip(&power[*start..start + w.len()]).map(|(a, b)| a * b).sum();
        }
    }
}
