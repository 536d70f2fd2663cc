//! One STFT frame -> power spectrum -> mel power. All buffers are allocated in `new`;
//! `analyze` only reads and writes them (audio-thread safe).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::mel::MelFilterbank;
use super::spec::{FrontEndSpec, SpecError};

/// Periodic Hann (`scipy.signal.get_window('hann', n, fftbins=True)`), written as
/// scipy's `0.5 + 0.5*cos(linspace(-pi, pi, n+1)[:-1])` to match it to the last bit.
pub fn hann_periodic(n: usize) -> Vec<f64> {
    let m = n + 1;
    let step = 2.0 * std::f64::consts::PI / (m - 1) as f64;
    (0..n).map(|i| 0.5 + 0.5 * (-std::f64::consts::PI + i as f64 * step).cos()).collect()
}

/// Precomputed per-frame analysis shared by the offline and streaming paths.
pub struct FrameAnalyzer {
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
    fft_in: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    power_exp: f64,
    mel: MelFilterbank,
    mel_out: Vec<f64>,
}

impl FrameAnalyzer {
    pub fn new(spec: &FrontEndSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(spec.n_fft);
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Ok(Self {
            window: hann_periodic(spec.n_fft),
            fft_in: vec![0.0; spec.n_fft],
            power: vec![0.0; spectrum.len()],
            spectrum,
            scratch,
            fft,
            power_exp: spec.power as f64,
            mel: MelFilterbank::new(spec),
            mel_out: vec![0.0; spec.mel.n_mels],
        })
    }

    /// Analyses `frame` (exactly `n_fft` samples): fills the power spectrum and mel power.
    pub fn analyze(&mut self, frame: &[f64]) {
        assert_eq!(frame.len(), self.fft_in.len());
        for ((d, &x), &w) in self.fft_in.iter_mut().zip(frame).zip(&self.window) {
            *d = x * w;
        }
        #[allow(clippy::expect_used, reason = "realfft fails only on wrong buffer sizes, fixed in new()")]
        self.fft
            .process_with_scratch(&mut self.fft_in, &mut self.spectrum, &mut self.scratch)
            .expect("buffer sizes fixed in new");
        if self.power_exp == 2.0 {
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm_sqr();
            }
        } else {
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm().powf(self.power_exp);
            }
        }
        self.mel.apply(&self.power, &mut self.mel_out);
    }

    /// Mel power of the last `analyze`d frame.
    pub fn mel_power(&self) -> &[f64] {
        &self.mel_out
    }

    /// Power spectrum (`n_fft/2 + 1` bins) of the last `analyze`d frame.
    pub fn power_spectrum(&self) -> &[f64] {
        &self.power
    }

    /// `analyze`, then the mel power rounded to f32 into `out` (what is queued and cached).
    pub fn mel_frame(&mut self, frame: &[f64], out: &mut [f32]) {
        self.analyze(frame);
        for (o, &v) in out.iter_mut().zip(&self.mel_out) {
            *o = v as f32;
        }
    }
}
