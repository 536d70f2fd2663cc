//! Audio features for the genre models: librosa-identical STFT -> log-mel -> MFCC,
//! offline (training) and streaming (plugin audio thread).
//!
//! The computation mirrors, for the default config,
//! ```python
//! S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048,
//!         hop_length=512, n_mels=128), ref=1.0, amin=1e-10, top_db=None)
//! mfcc = librosa.feature.mfcc(S=S, n_mfcc=13)   # DCT-II, norm='ortho'
//! ```
//! (librosa 0.11: periodic Hann, center=True, pad_mode='constant' zeros, power 2,
//! Slaney mel scale and Slaney area norm, mel basis rounded to f32 like librosa's
//! default `dtype=np.float32`). Everything else runs in f64 so the only deviations
//! from a float64 librosa run are rounding at the 1e-12 level; output is f32.
//!
//! Offline and streaming share [`FrameAnalyzer`], so the same frame index gives
//! bit-identical values on both paths.

mod mel;
mod mfcc;
mod pipeline;
mod stft;
mod streaming;

pub use mel::{hz_to_mel, mel_frequencies, mel_to_hz, MelFilterbank};
pub use pipeline::FeaturePipeline;
pub use stft::{FrameAnalyzer, hann_periodic};
pub use streaming::StreamingExtractor;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Analysis window. Only librosa's `'hann'` (periodic, `fftbins=True`) is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    Hann,
}

/// Padding used by `center=true`. librosa >= 0.10 defaults to `'constant'` (zeros).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadMode {
    Constant,
}

/// Mel scale formula (`htk=False` is Slaney, librosa's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelScale {
    Slaney,
    Htk,
}

/// Mel filter normalisation (`norm='slaney'` = equal area, librosa's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MelNorm {
    Slaney,
    None,
}

/// DCT normalisation for the MFCC (type II is the only type implemented).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DctNorm {
    Ortho,
}

/// Everything that determines the feature values. Models record [`FeatureConfig::hash`]
/// so a model is never fed features computed differently from its training data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub fmin: f32,
    /// `None` = `sample_rate / 2`.
    pub fmax: Option<f32>,
    pub n_mfcc: usize,
    /// Frames per model input window (130 frames ≈ 3.02 s at the defaults).
    pub window_frames: usize,
    /// Dynamic-range floor in dB. librosa's `power_to_db(top_db=..)` clamps at
    /// `max over the WHOLE input - top_db`, which a streaming extractor cannot know, so
    /// the default is `None` (no clamp) and offline == streaming. `Some(t)` applies a
    /// causal variant on both paths: each frame is clamped at `that frame's max - t`.
    /// That is NOT librosa's global clamp; references must use `top_db=None`.
    pub top_db: Option<f32>,
    pub window: WindowKind,
    /// librosa `center=True`: frame `t` is centred on sample `t * hop_length`.
    pub center: bool,
    pub pad_mode: PadMode,
    /// Spectrogram exponent (2.0 = power).
    pub power: f32,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    /// `power_to_db` floor: `10*log10(max(amin, S)) - 10*log10(max(amin, ref_power))`.
    pub amin: f32,
    pub ref_power: f32,
    /// Only 2 is implemented.
    pub dct_type: u8,
    pub dct_norm: DctNorm,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22050,
            n_fft: 2048,
            hop_length: 512,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            n_mfcc: 13,
            window_frames: 130,
            top_db: None,
            window: WindowKind::Hann,
            center: true,
            pad_mode: PadMode::Constant,
            power: 2.0,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            amin: 1e-10,
            ref_power: 1.0,
            dct_type: 2,
            dct_norm: DctNorm::Ortho,
        }
    }
}

/// Prefix of the hashed canonical form; bump when the meaning of a field changes.
const HASH_DOMAIN: &str = "genrescope-features-v1\n";

impl FeatureConfig {
    /// Canonical form: `"genrescope-features-v1\n"` followed by compact serde_json of the
    /// struct (fields in declaration order, no whitespace, floats in serde_json's shortest
    /// round-trip form, enums as snake_case strings, `None` as `null`).
    pub fn canonical_json(&self) -> String {
        let json = serde_json::to_string(self).expect("FeatureConfig serializes");
        format!("{HASH_DOMAIN}{json}")
    }

    /// Lower-case hex SHA-256 of [`Self::canonical_json`].
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn frame_dim(&self) -> usize {
        self.n_mfcc
    }

    pub fn frames_per_second(&self) -> f32 {
        self.sample_rate as f32 / self.hop_length as f32
    }

    pub fn fmax_hz(&self) -> f32 {
        self.fmax.unwrap_or(self.sample_rate as f32 / 2.0)
    }

    /// Samples of zero padding before the first frame (`n_fft/2` when centred).
    pub fn left_pad(&self) -> usize {
        if self.center {
            self.n_fft / 2
        } else {
            0
        }
    }

    /// Checks what the implementation supports. Constructors panic with this message.
    pub fn validate(&self) -> Result<(), String> {
        let nyq = self.sample_rate as f32 / 2.0;
        if self.sample_rate == 0 || self.n_fft < 2 || self.hop_length == 0 {
            return Err("sample_rate, n_fft >= 2 and hop_length must be positive".into());
        }
        if self.n_mels == 0 || self.n_mfcc == 0 || self.n_mfcc > self.n_mels {
            return Err("need 0 < n_mfcc <= n_mels".into());
        }
        if !(self.fmin >= 0.0 && self.fmin < self.fmax_hz() && self.fmax_hz() <= nyq) {
            return Err("need 0 <= fmin < fmax <= sample_rate/2".into());
        }
        if !(self.power > 0.0 && self.amin > 0.0 && self.ref_power > 0.0) {
            return Err("power, amin and ref_power must be > 0".into());
        }
        if self.top_db.is_some_and(|t| t.is_nan() || t < 0.0) {
            return Err("top_db must be >= 0".into());
        }
        if self.dct_type != 2 {
            return Err("only dct_type 2 is implemented".into());
        }
        Ok(())
    }
}

/// Number of frames `extract_offline` returns for `n_samples` samples
/// (librosa center=True: `1 + n / hop`; 0 for an empty signal).
pub fn num_frames(cfg: &FeatureConfig, n_samples: usize) -> usize {
    if n_samples == 0 {
        return 0;
    }
    let padded = n_samples + 2 * cfg.left_pad();
    if padded < cfg.n_fft {
        0
    } else {
        1 + (padded - cfg.n_fft) / cfg.hop_length
    }
}

/// Largest magnitude passed on; anything beyond (+24 dBFS) is treated as a fault.
pub const SAMPLE_CLAMP: f32 = 16.0;
/// Magnitudes below this (-300 dBFS) become 0 so no denormal reaches the resampler.
pub const SAMPLE_FLUSH: f32 = 1e-15;

/// Input sanitizing applied on every path (offline, streaming, pipeline), so they agree:
/// NaN and ±Inf -> 0 (a broken sample carries no information; 0 is what silence gives),
/// finite values clamped to ±[`SAMPLE_CLAMP`], |x| < [`SAMPLE_FLUSH`] (incl. denormals) -> 0.
#[inline]
pub fn sanitize_sample(x: f32) -> f32 {
    if !x.is_finite() || x.abs() < SAMPLE_FLUSH {
        0.0
    } else {
        x.clamp(-SAMPLE_CLAMP, SAMPLE_CLAMP)
    }
}

fn offline_frames(cfg: &FeatureConfig, signal: &[f32], mut per_frame: impl FnMut(&mut FrameAnalyzer, &[f64])) {
    cfg.validate().expect("invalid FeatureConfig");
    let n = num_frames(cfg, signal.len());
    let pad = cfg.left_pad();
    let mut padded = vec![0.0f64; signal.len() + 2 * pad];
    for (d, &s) in padded[pad..].iter_mut().zip(signal) {
        *d = sanitize_sample(s) as f64;
    }
    let mut analyzer = FrameAnalyzer::new(cfg);
    for t in 0..n {
        let start = t * cfg.hop_length;
        per_frame(&mut analyzer, &padded[start..start + cfg.n_fft]);
    }
}

/// Offline, whole signal at `cfg.sample_rate`, librosa center=True convention.
/// Returns `num_frames * frame_dim` MFCC values, row-major (frame after frame).
pub fn extract_offline(cfg: &FeatureConfig, signal: &[f32]) -> Vec<f32> {
    let dim = cfg.frame_dim();
    let mut out = Vec::with_capacity(num_frames(cfg, signal.len()) * dim);
    let mut frame = vec![0.0f32; dim];
    offline_frames(cfg, signal, |a, x| {
        a.mfcc(x, &mut frame);
        out.extend_from_slice(&frame);
    });
    out
}

/// Like [`extract_offline`] but returns the log-mel (dB) frames, `num_frames * n_mels`.
pub fn extract_offline_logmel(cfg: &FeatureConfig, signal: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(num_frames(cfg, signal.len()) * cfg.n_mels);
    offline_frames(cfg, signal, |a, x| {
        a.analyze(x);
        out.extend(a.log_mel().iter().map(|&v| v as f32));
    });
    out
}
