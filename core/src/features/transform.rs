//! From mel power frames to model input: normalization → compression → (DCT).
//!
//! Runs where windows are assembled (the analysis thread, the trainer), not on the audio thread.
//! A window normalization needs the whole window ([`FeatureTransform::apply`] on each window); a
//! frame-causal one ([`Normalization::is_frame_causal`]) transforms each frame once, as it arrives
//! ([`FeatureTransform::push_frame`]), carrying its state along the stream. Neither allocates.
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

/// The running level of [`Normalization::RunningMeanPower`], in f64 (trainer and engine run the
/// same sums in the same order, so they agree to the bit).
#[derive(Clone, Copy, Debug)]
struct RunningLevel {
    /// Decay per frame, `exp(−1 / (tau_s · fps))`.
    b: f64,
    /// Decayed sum of frame powers and of weights (bias correction), both 0 at a stream's start.
    m: f64,
    w: f64,
}

impl RunningLevel {
    fn new(tau_s: f32, fps: f64) -> Self {
        Self { b: (-1.0 / (tau_s as f64 * fps)).exp(), m: 0.0, w: 0.0 }
    }

    /// Adds a frame's mean power; returns the level including it.
    fn push(&mut self, p: f64) -> f64 {
        self.m = self.b * self.m + (1.0 - self.b) * p;
        self.w = self.b * self.w + (1.0 - self.b);
        self.m / self.w
    }

    fn reset(&mut self) {
        self.m = 0.0;
        self.w = 0.0;
    }
}

/// `min(reference / level, max gain)`; the max gain for a level of 0 (silence).
fn capped_gain(reference: f32, max_gain_db: f32, level: f64) -> f64 {
    let max_gain = 10f64.powf(max_gain_db as f64 / 10.0);
    if level > 0.0 {
        (reference as f64 / level).min(max_gain)
    } else {
        max_gain
    }
}

/// The per-window (or per-frame) half of a [`FrontEndSpec`].
pub struct FeatureTransform {
    normalization: Normalization,
    running: Option<RunningLevel>,
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
        let running = match spec.normalization {
            Normalization::RunningMeanPower { tau_s, .. } => Some(RunningLevel::new(tau_s, spec.frames_per_second())),
            _ => None,
        };
        Ok(Self {
            normalization: spec.normalization.clone(),
            running,
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

    /// Whether frames are transformed one by one as they arrive ([`Self::push_frame`]) rather
    /// than per window: see [`Normalization::is_frame_causal`].
    pub fn is_frame_causal(&self) -> bool {
        self.normalization.is_frame_causal()
    }

    /// Gain a window normalization applies to this window of mel power (1 when off or per frame).
    pub fn window_gain(&self, mel: &[f32]) -> f64 {
        match &self.normalization {
            Normalization::Off | Normalization::RunningMeanPower { .. } => 1.0,
            Normalization::WindowMeanPower { reference, max_gain_db } => {
                let n = mel.len().max(1) as f64;
                let mean = mel.iter().map(|&v| v as f64).sum::<f64>() / n;
                capped_gain(*reference, *max_gain_db, mean)
            }
        }
    }

    /// Forgets the stream (a frame-causal normalization's running level starts again).
    pub fn reset(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.reset();
        }
    }

    /// One frame of a stream (`mel_dim` mel power values) → one frame of model input
    /// (`frame_dim` values), updating the running state. Only for frame-causal normalizations
    /// (panics otherwise: a window normalization needs [`Self::apply`] on whole windows).
    pub fn push_frame(&mut self, mel: &[f32], out: &mut [f32]) {
        assert!(self.is_frame_causal(), "push_frame with a window normalization");
        assert_eq!(mel.len(), self.n_mels, "mel frame size");
        assert_eq!(out.len(), self.frame_dim, "output frame size");
        let gain = match (&self.normalization, self.running.as_mut()) {
            (Normalization::RunningMeanPower { reference, max_gain_db, .. }, Some(r)) => {
                let p = mel.iter().map(|&v| v as f64).sum::<f64>() / self.n_mels as f64;
                capped_gain(*reference, *max_gain_db, r.push(p))
            }
            _ => 1.0,
        };
        self.frame(mel, gain, out);
    }

    /// `mel`: `frames * mel_dim` mel power values, frame after frame; writes `frames * frame_dim`
    /// model-input values into `out`. A window normalization treats `mel` as one window; a
    /// frame-causal one as a whole stream from its start (the state is reset first), which is how
    /// the trainer transforms a clip before cutting it into windows.
    pub fn apply(&mut self, mel: &[f32], out: &mut [f32]) {
        let frames = mel.len() / self.n_mels;
        assert_eq!(mel.len(), frames * self.n_mels, "mel window is not whole frames");
        assert_eq!(out.len(), frames * self.frame_dim, "output buffer size");
        if self.is_frame_causal() {
            self.reset();
            for (m, o) in mel.chunks_exact(self.n_mels).zip(out.chunks_exact_mut(self.frame_dim)) {
                self.push_frame(m, o);
            }
            return;
        }
        let gain = self.window_gain(mel);
        for (m, o) in mel.chunks_exact(self.n_mels).zip(out.chunks_exact_mut(self.frame_dim)) {
            self.frame(m, gain, o);
        }
    }

    /// One frame, scaled by `gain`, compressed, (DCT).
    fn frame(&mut self, mel: &[f32], gain: f64, out: &mut [f32]) {
        for (r, &v) in self.row.iter_mut().zip(mel) {
            *r = v as f64 * gain;
        }
        compress(&self.compression, &mut self.row);
        match &self.dct {
            Some(dct) => dct.apply(&self.row, out),
            None => out.iter_mut().zip(&self.row).for_each(|(o, &r)| *o = r as f32),
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

    fn running(reference: f32, tau_s: f32) -> FrontEndSpec {
        FrontEndSpec {
            normalization: Normalization::RunningMeanPower { reference, max_gain_db: 60.0, tau_s },
            ..FrontEndSpec::musicnn()
        }
    }

    /// Deterministic mel power frames with a level that moves (a fade and a louder section).
    fn moving_level_frames(frames: usize) -> Vec<f32> {
        (0..frames * 96)
            .map(|i| {
                let (t, b) = (i / 96, i % 96);
                let level = if t < frames / 3 { 1e-3 * (t + 1) as f32 } else { 0.2 + 0.1 * ((t % 50) as f32 / 50.0) };
                level * (1.0 + ((b * 7919 + t * 31) % 97) as f32 / 97.0) / (1.0 + b as f32 / 10.0)
            })
            .collect()
    }

    #[test]
    fn running_normalization_follows_the_recurrence_and_is_causal() {
        let spec = running(0.05, 3.0);
        let mut t = FeatureTransform::new(&spec).unwrap();
        assert!(t.is_frame_causal());
        let mel = moving_level_frames(400);
        let mut out = vec![0.0; mel.len()];
        t.apply(&mel, &mut out);
        // The recurrence written out for one frame (200), from the stream's start.
        let b = (-1.0 / (3.0 * spec.frames_per_second())).exp();
        let (mut m, mut w) = (0.0f64, 0.0f64);
        for f in mel.chunks_exact(96).take(201) {
            let p = f.iter().map(|&v| v as f64).sum::<f64>() / 96.0;
            m = b * m + (1.0 - b) * p;
            w = b * w + (1.0 - b);
        }
        let gain = 0.05 / (m / w);
        for (k, (&o, &v)) in out[200 * 96..201 * 96].iter().zip(&mel[200 * 96..201 * 96]).enumerate() {
            let want = (1.0 + 10000.0 * v as f64 * gain).log10() as f32;
            assert!((o - want).abs() <= 1e-6 * want.abs().max(1.0), "band {k}: {o} vs {want}");
        }
        // Causal: the first 300 frames do not depend on what follows them.
        let mut head = vec![0.0; 300 * 96];
        t.apply(&mel[..300 * 96], &mut head);
        assert_eq!(head, out[..300 * 96]);
        // Frame by frame (the analysis thread) = the whole clip at once (the trainer), to the bit.
        t.reset();
        let mut one = vec![0.0; 96];
        for (f, o) in mel.chunks_exact(96).zip(out.chunks_exact(96)) {
            t.push_frame(f, &mut one);
            assert_eq!(one, o);
        }
        // The first frame: level = its own power (bias correction), so its mean power after the
        // gain is the reference (undo the log of the output to see it).
        let p0 = out[..96].iter().map(|&o| (10f64.powf(o as f64) - 1.0) / 10000.0).sum::<f64>() / 96.0;
        assert!((p0 - 0.05).abs() < 1e-5, "{p0}");
    }

    #[test]
    fn running_normalization_is_level_invariant_and_resets() {
        let mut t = FeatureTransform::new(&running(0.05, 3.0)).unwrap();
        let mel = moving_level_frames(300);
        let mut a = vec![0.0; mel.len()];
        t.apply(&mel, &mut a);
        for db in [-30.0f32, -10.0, 20.0] {
            let g = 10f32.powf(db / 10.0);
            let scaled: Vec<f32> = mel.iter().map(|v| v * g).collect();
            let mut b = vec![0.0; mel.len()];
            t.apply(&scaled, &mut b);
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{db} dB: features moved by {worst}");
        }
        // State: after a reset, the same frames give the same output as a fresh transform.
        let mut fresh = FeatureTransform::new(&running(0.05, 3.0)).unwrap();
        let (mut x, mut y) = (vec![0.0; 96], vec![0.0; 96]);
        for f in mel.chunks_exact(96).take(50) {
            t.push_frame(f, &mut x);
        }
        t.reset();
        for f in mel.chunks_exact(96).skip(100).take(20) {
            t.push_frame(f, &mut x);
            fresh.push_frame(f, &mut y);
            assert_eq!(x, y);
        }
        // Without the reset the history counts: a loud past lowers the gain.
        let mut loud = FeatureTransform::new(&running(0.05, 3.0)).unwrap();
        let hot: Vec<f32> = mel[..96].iter().map(|v| v * 1000.0).collect();
        for _ in 0..50 {
            loud.push_frame(&hot, &mut x);
        }
        let mut quiet = FeatureTransform::new(&running(0.05, 3.0)).unwrap();
        loud.push_frame(&mel[..96], &mut x);
        quiet.push_frame(&mel[..96], &mut y);
        assert!(x.iter().zip(&y).all(|(a, b)| a < b), "a loud past must lower the gain");
        // Silence from the start: capped gain (60 dB), finite, zeros stay zeros.
        let mut s = FeatureTransform::new(&running(0.05, 3.0)).unwrap();
        s.push_frame(&[0.0; 96], &mut x);
        assert!(x.iter().all(|&v| v == 0.0));
        let tiny = [1e-9f32; 96];
        s.push_frame(&tiny, &mut x);
        let capped = (1.0 + 10000.0 * 1e-9f64 * 1e6).log10() as f32;
        assert!(x.iter().all(|&v| (v - capped).abs() < 1e-5), "{} vs {capped}", x[0]);
    }

    #[test]
    #[should_panic(expected = "window normalization")]
    fn push_frame_refuses_a_window_normalization() {
        let spec = FrontEndSpec {
            normalization: Normalization::WindowMeanPower { reference: 0.05, max_gain_db: 60.0 },
            ..FrontEndSpec::musicnn()
        };
        let mut t = FeatureTransform::new(&spec).unwrap();
        t.push_frame(&[0.1; 96], &mut [0.0; 96]);
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
