//! The front-end specification: everything that determines the feature values a model is fed.
//!
//! A model folder's manifest carries one [`FrontEndSpec`]; the trainer computes its training
//! features from it and the plugin builds its audio-thread front end from it, with the same
//! code, so a model never sees features computed differently from its training data.
//!
//! The chain is: resample to `sample_rate` → STFT (`n_fft`, `hop_length`, window, centring) →
//! power spectrum (`power`) → mel filterbank (`mel`) = one *frame* of mel power (what the audio
//! thread computes and queues) → per window of frames: `normalization` → `compression` →
//! `output` (log-mel as is, or MFCC via DCT-II) = the model input.
//!
//! The model's input tensor (name, shape, frames per window) is not part of the spec: it lives in
//! the manifest, so one spec can serve models with different windows.
use crate::limits;
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

/// The mel filterbank (librosa.filters.mel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MelSpec {
    pub n_mels: usize,
    pub fmin: f32,
    /// `None` = `sample_rate / 2`.
    pub fmax: Option<f32>,
    pub scale: MelScale,
    pub norm: MelNorm,
}

/// Scaling of each window of mel power before compression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Normalization {
    /// Mel power as computed.
    Off,
    /// Every window's mean mel power (over all frames and bands) is scaled to `reference`, so
    /// the features do not depend on the input level. The gain is capped at `max_gain_db` so
    /// near-silence (which the level gate keeps from the model anyway) is not blown up.
    WindowMeanPower { reference: f32, max_gain_db: f32 },
}

/// Log compression of mel power.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Compression {
    /// librosa `power_to_db`: `10*log10(max(amin, S)) - 10*log10(max(amin, ref_power))`, then
    /// with `top_db = Some(t)` a causal per-frame clamp at `frame max - t` (librosa clamps at
    /// the max over the WHOLE input, which a stream cannot know; references use `top_db=None`).
    PowerToDb { amin: f32, ref_power: f32, top_db: Option<f32> },
    /// musicnn's `log10(1 + scale * S)`.
    Log10OnePlus { scale: f32 },
}

/// What one frame of model input holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureOutput {
    /// The compressed mel bands (`mel.n_mels` values per frame).
    LogMel,
    /// The first `n_mfcc` coefficients of the orthonormal DCT-II of the compressed bands.
    Mfcc { n_mfcc: usize, dct_type: u8, dct_norm: DctNorm },
}

/// Everything that determines the feature values; see the module docs for the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontEndSpec {
    /// Rate the audio is resampled to before the STFT (Hz).
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub window: WindowKind,
    /// librosa `center=True`: frame `t` is centred on sample `t * hop_length`.
    pub center: bool,
    pub pad_mode: PadMode,
    /// Spectrogram exponent (2.0 = power).
    pub power: f32,
    pub mel: MelSpec,
    pub normalization: Normalization,
    pub compression: Compression,
    pub output: FeatureOutput,
}

/// A spec this build cannot compute, or one that makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("front end not supported: {0}")]
pub struct SpecError(pub String);

/// Prefix of the hashed canonical form; bump when the meaning of a field changes.
pub const HASH_DOMAIN: &str = "genrescope-frontend-v2\n";

impl FrontEndSpec {
    /// The front end of the first Genrescope models: librosa MFCC at 22050 Hz
    /// (`power_to_db(melspectrogram(n_fft=2048, hop_length=512, n_mels=128))` → 13 MFCC).
    pub fn gtzan_mfcc() -> Self {
        Self {
            sample_rate: 22050,
            n_fft: 2048,
            hop_length: 512,
            window: WindowKind::Hann,
            center: true,
            pad_mode: PadMode::Constant,
            power: 2.0,
            mel: MelSpec { n_mels: 128, fmin: 0.0, fmax: None, scale: MelScale::Slaney, norm: MelNorm::Slaney },
            normalization: Normalization::Off,
            compression: Compression::PowerToDb { amin: 1e-10, ref_power: 1.0, top_db: None },
            output: FeatureOutput::Mfcc { n_mfcc: 13, dct_type: 2, dct_norm: DctNorm::Ortho },
        }
    }

    /// musicnn's input (its `extractor.py`): 16 kHz, n_fft 512, hop 256, 96 Slaney mels,
    /// power 2, `log10(1 + 10000·S)`. musicnn also rounds the mel power to float16 before the
    /// log; we do not (measured effect in `core/tests/musicnn_features.rs`).
    pub fn musicnn() -> Self {
        Self {
            sample_rate: 16000,
            n_fft: 512,
            hop_length: 256,
            window: WindowKind::Hann,
            center: true,
            pad_mode: PadMode::Constant,
            power: 2.0,
            mel: MelSpec { n_mels: 96, fmin: 0.0, fmax: None, scale: MelScale::Slaney, norm: MelNorm::Slaney },
            normalization: Normalization::Off,
            compression: Compression::Log10OnePlus { scale: 10000.0 },
            output: FeatureOutput::LogMel,
        }
    }

    /// Canonical form: [`HASH_DOMAIN`] followed by compact serde_json of the struct (fields in
    /// declaration order, floats in serde_json's shortest round-trip form, enums as tagged
    /// snake_case objects, `None` as `null`).
    pub fn canonical_json(&self) -> String {
        #[allow(clippy::expect_used, reason = "plain structs with string keys always serialize")]
        let json = serde_json::to_string(self).expect("FrontEndSpec serializes");
        format!("{HASH_DOMAIN}{json}")
    }

    /// Lower-case hex SHA-256 of [`Self::canonical_json`].
    pub fn hash(&self) -> String {
        crate::hex(&Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// The spec with its per-window half (normalization, compression, output) set to fixed
    /// values: two specs with the same `frames_only().hash()` compute the same mel frames (caches
    /// of frames key on it).
    pub fn frames_only(&self) -> Self {
        Self {
            normalization: Normalization::Off,
            compression: Compression::Log10OnePlus { scale: 1.0 },
            output: FeatureOutput::LogMel,
            ..self.clone()
        }
    }

    /// Values per frame of model input (after the DCT, if any).
    pub fn frame_dim(&self) -> usize {
        match self.output {
            FeatureOutput::LogMel => self.mel.n_mels,
            FeatureOutput::Mfcc { n_mfcc, .. } => n_mfcc,
        }
    }

    /// Values per queued frame (mel power bands).
    pub fn mel_dim(&self) -> usize {
        self.mel.n_mels
    }

    pub fn frames_per_second(&self) -> f64 {
        self.sample_rate as f64 / self.hop_length as f64
    }

    pub fn fmax_hz(&self) -> f32 {
        self.mel.fmax.unwrap_or(self.sample_rate as f32 / 2.0)
    }

    /// Samples of zero padding before the first frame (`n_fft/2` when centred).
    pub fn left_pad(&self) -> usize {
        if self.center {
            self.n_fft / 2
        } else {
            0
        }
    }

    /// Checks that this build can compute the spec within the resource limits
    /// ([`crate::limits`]); every constructor calls it and returns the error instead of panicking
    /// or allocating (a bad manifest must never take a host down).
    pub fn validate(&self) -> Result<(), SpecError> {
        let err = |m: &str| Err(SpecError(m.to_string()));
        let limit = |r: Result<(), limits::LimitExceeded>| r.map_err(|e| SpecError(e.to_string()));
        if self.sample_rate < limits::MIN_SAMPLE_RATE {
            return Err(SpecError(format!("sample_rate must be at least {} Hz", limits::MIN_SAMPLE_RATE)));
        }
        limit(limits::MAX_SAMPLE_RATE.check(self.sample_rate.into()))?;
        if self.n_fft < 16 || self.hop_length == 0 {
            return err("need n_fft >= 16 and hop_length > 0");
        }
        limit(limits::MAX_N_FFT.check(self.n_fft as u64))?;
        // Bounds the hop too: it is at least sample_rate / 1000.
        limit(limits::MAX_FRAMES_PER_SECOND.check_f64(self.frames_per_second()))?;
        limit(limits::MAX_STFT_SAMPLES_PER_SECOND.check_f64(self.frames_per_second() * self.n_fft as f64))?;
        let n_bins = self.n_fft / 2 + 1;
        if self.mel.n_mels == 0 || self.mel.n_mels > n_bins {
            return err("need 0 < n_mels <= n_fft/2 + 1");
        }
        limit(limits::MAX_N_MELS.check(self.mel.n_mels as u64))?;
        let nyq = self.sample_rate as f32 / 2.0;
        let fmax = self.fmax_hz();
        if !(self.mel.fmin >= 0.0 && self.mel.fmin < fmax && fmax <= nyq) {
            return err("need 0 <= fmin < fmax <= sample_rate/2");
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return err("power must be > 0");
        }
        match &self.normalization {
            Normalization::Off => {}
            Normalization::WindowMeanPower { reference, max_gain_db } => {
                if !(reference.is_finite() && *reference > 0.0) {
                    return err("normalization reference must be > 0");
                }
                if !(max_gain_db.is_finite() && *max_gain_db >= 0.0) {
                    return err("normalization max_gain_db must be >= 0");
                }
            }
        }
        match &self.compression {
            Compression::PowerToDb { amin, ref_power, top_db } => {
                if !(amin.is_finite() && *amin > 0.0 && ref_power.is_finite() && *ref_power > 0.0) {
                    return err("power_to_db needs amin > 0 and ref_power > 0");
                }
                if top_db.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
                    return err("top_db must be >= 0");
                }
            }
            Compression::Log10OnePlus { scale } => {
                if !(scale.is_finite() && *scale > 0.0) {
                    return err("log10(1 + c·x) needs c > 0");
                }
            }
        }
        match &self.output {
            FeatureOutput::LogMel => {}
            FeatureOutput::Mfcc { n_mfcc, dct_type, .. } => {
                if *n_mfcc == 0 || *n_mfcc > self.mel.n_mels {
                    return err("need 0 < n_mfcc <= n_mels");
                }
                if *dct_type != 2 {
                    return err("only dct_type 2 is implemented");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_hashes_are_pinned() {
        for s in [FrontEndSpec::gtzan_mfcc(), FrontEndSpec::musicnn()] {
            s.validate().unwrap();
            assert_eq!(s.hash().len(), 64);
            // Round trip through JSON keeps the hash.
            let back: FrontEndSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back.hash(), s.hash());
        }
        // Pinned: a changed hash means every shipped model is refused. Change only on purpose.
        assert_eq!(FrontEndSpec::musicnn().hash(), "53c174a449517276642616a69562c2dee1edd8e9f7a1b636a368a1e53e1dee65");
        assert_eq!(FrontEndSpec::musicnn().frame_dim(), 96);
        assert_eq!(FrontEndSpec::gtzan_mfcc().frame_dim(), 13);
        assert_eq!(FrontEndSpec::gtzan_mfcc().mel_dim(), 128);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = FrontEndSpec::musicnn();
        let variants = [
            FrontEndSpec { sample_rate: 22050, ..base.clone() },
            FrontEndSpec { n_fft: 1024, ..base.clone() },
            FrontEndSpec { hop_length: 128, ..base.clone() },
            FrontEndSpec { center: false, ..base.clone() },
            FrontEndSpec { power: 1.0, ..base.clone() },
            FrontEndSpec { mel: MelSpec { n_mels: 64, ..base.mel.clone() }, ..base.clone() },
            FrontEndSpec { mel: MelSpec { scale: MelScale::Htk, ..base.mel.clone() }, ..base.clone() },
            FrontEndSpec {
                normalization: Normalization::WindowMeanPower { reference: 0.1, max_gain_db: 40.0 },
                ..base.clone()
            },
            FrontEndSpec { compression: Compression::Log10OnePlus { scale: 100.0 }, ..base.clone() },
            FrontEndSpec {
                output: FeatureOutput::Mfcc { n_mfcc: 20, dct_type: 2, dct_norm: DctNorm::Ortho },
                ..base.clone()
            },
        ];
        for v in &variants {
            v.validate().unwrap();
            assert_ne!(v.hash(), base.hash(), "{v:?}");
        }
    }

    #[test]
    fn invalid_specs_are_errors_not_panics() {
        let base = FrontEndSpec::gtzan_mfcc();
        let bad = [
            FrontEndSpec { sample_rate: 0, ..base.clone() },
            FrontEndSpec { n_fft: 1, ..base.clone() },
            FrontEndSpec { hop_length: 0, ..base.clone() },
            FrontEndSpec { power: f32::NAN, ..base.clone() },
            FrontEndSpec { mel: MelSpec { n_mels: 0, ..base.mel.clone() }, ..base.clone() },
            FrontEndSpec { mel: MelSpec { n_mels: 5000, ..base.mel.clone() }, ..base.clone() },
            FrontEndSpec { mel: MelSpec { fmax: Some(30000.0), ..base.mel.clone() }, ..base.clone() },
            FrontEndSpec { compression: Compression::Log10OnePlus { scale: -1.0 }, ..base.clone() },
            FrontEndSpec {
                compression: Compression::PowerToDb { amin: 0.0, ref_power: 1.0, top_db: None },
                ..base.clone()
            },
            FrontEndSpec {
                output: FeatureOutput::Mfcc { n_mfcc: 200, dct_type: 2, dct_norm: DctNorm::Ortho },
                ..base.clone()
            },
            FrontEndSpec {
                output: FeatureOutput::Mfcc { n_mfcc: 13, dct_type: 3, dct_norm: DctNorm::Ortho },
                ..base.clone()
            },
            FrontEndSpec {
                normalization: Normalization::WindowMeanPower { reference: 0.0, max_gain_db: 40.0 },
                ..base.clone()
            },
        ];
        for b in &bad {
            let e = b.validate().unwrap_err();
            assert!(e.to_string().starts_with("front end not supported"), "{e}");
        }
    }

    /// What the hostile manifest asked for (768 kHz, hop 1, n_fft 65536, 32769 mels: a
    /// 1.2 TB frame queue), and each limit alone, are refused with the limit named.
    #[test]
    fn resource_limits_are_refused() {
        let base = FrontEndSpec::musicnn();
        let mel = |n_mels| MelSpec { n_mels, ..base.mel.clone() };
        let cases = [
            (
                FrontEndSpec { sample_rate: 768_000, n_fft: 65536, hop_length: 1, mel: mel(32769), ..base.clone() },
                "model sample rate",
            ),
            (FrontEndSpec { sample_rate: 192_001, ..base.clone() }, "model sample rate"),
            (FrontEndSpec { sample_rate: 3_999, ..base.clone() }, "at least 4000"),
            (FrontEndSpec { n_fft: 32768, hop_length: 8192, ..base.clone() }, "n_fft is 32768"),
            (FrontEndSpec { hop_length: 1, ..base.clone() }, "frames per second"),
            (FrontEndSpec { n_fft: 16384, hop_length: 32, ..base.clone() }, "STFT input per second"),
            (FrontEndSpec { n_fft: 4096, hop_length: 1024, mel: mel(513), ..base.clone() }, "n_mels is 513"),
        ];
        for (spec, want) in &cases {
            let e = spec.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        // At the limits, still valid.
        let edge = FrontEndSpec { sample_rate: 192_000, n_fft: 4096, hop_length: 192, mel: mel(512), ..base };
        edge.validate().unwrap();
    }

    #[test]
    fn unknown_kinds_do_not_parse() {
        let mut v = serde_json::to_value(FrontEndSpec::musicnn()).unwrap();
        v["compression"] = serde_json::json!({"kind": "cube_root"});
        let e = serde_json::from_value::<FrontEndSpec>(v).unwrap_err().to_string();
        assert!(e.contains("cube_root"), "{e}");
    }
}
