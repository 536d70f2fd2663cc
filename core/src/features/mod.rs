//! Audio features for the genre models, described by the model's [`FrontEndSpec`].
//!
//! Two halves, so the audio thread does only the per-frame work:
//! - per frame (audio thread, trainer): [`downmix`] and [`sanitize_sample`], [`StreamResampler`]
//!   to the model rate, STFT → power → mel power, librosa-identical ([`FrameAnalyzer`],
//!   [`StreamingExtractor`] at the model rate, [`FeaturePipeline`] at any host rate,
//!   [`extract_mel`] offline);
//! - per window of frames (analysis thread, trainer): normalization → log compression → DCT
//!   ([`FeatureTransform`]).
//!
//! librosa 0.11 conventions: periodic Hann, center=True, pad_mode='constant' zeros, Slaney mel
//! scale and Slaney area norm, mel basis rounded to f32 like librosa's default
//! `dtype=np.float32`. Frames are computed in f64 and handed on as f32 mel power; offline and
//! streaming share [`FrameAnalyzer`], so the same frame index gives bit-identical values.

mod input;
mod mel;
mod pipeline;
pub mod resample;
pub mod spec;
mod stft;
mod streaming;
mod transform;

pub use input::{downmix, sanitize_sample, SAMPLE_CLAMP, SAMPLE_FLUSH};
pub use mel::{hz_to_mel, mel_frequencies, mel_to_hz, MelFilterbank};
pub use pipeline::FeaturePipeline;
pub use resample::StreamResampler;
pub use spec::{
    Compression, DctNorm, FeatureOutput, FrontEndSpec, MelNorm, MelScale, MelSpec, Normalization, PadMode, SpecError,
    WindowKind,
};
pub use stft::{hann_periodic, FrameAnalyzer};
pub use streaming::StreamingExtractor;
pub use transform::FeatureTransform;

/// Number of frames [`extract_mel`] returns for `n_samples` samples
/// (librosa center=True: `1 + n / hop`; 0 for an empty signal).
pub fn num_frames(spec: &FrontEndSpec, n_samples: usize) -> usize {
    if n_samples == 0 {
        return 0;
    }
    let padded = n_samples + 2 * spec.left_pad();
    if padded < spec.n_fft {
        0
    } else {
        1 + (padded - spec.n_fft) / spec.hop_length
    }
}

/// Offline mel power of a whole signal already at `spec.sample_rate` (librosa center=True):
/// `num_frames * mel_dim` values, frame after frame.
pub fn extract_mel(spec: &FrontEndSpec, signal: &[f32]) -> Result<Vec<f32>, SpecError> {
    let mut analyzer = FrameAnalyzer::new(spec)?;
    let n = num_frames(spec, signal.len());
    let pad = spec.left_pad();
    let mut padded = vec![0.0f64; signal.len() + 2 * pad];
    for (d, &s) in padded[pad..].iter_mut().zip(signal) {
        *d = sanitize_sample(s) as f64;
    }
    let dim = spec.mel_dim();
    let mut out = vec![0.0f32; n * dim];
    for (t, frame) in out.chunks_exact_mut(dim).enumerate() {
        let start = t * spec.hop_length;
        analyzer.mel_frame(&padded[start..start + spec.n_fft], frame);
    }
    Ok(out)
}

/// Model-input features of a whole signal at `spec.sample_rate`, the whole signal treated as one
/// window (so a window normalization uses the whole signal's mean power):
/// `num_frames * frame_dim` values. For tests and tools; models see windows (engine, trainer).
pub fn extract_features(spec: &FrontEndSpec, signal: &[f32]) -> Result<Vec<f32>, SpecError> {
    let mel = extract_mel(spec, signal)?;
    let mut t = FeatureTransform::new(spec)?;
    let mut out = vec![0.0; mel.len() / spec.mel_dim() * spec.frame_dim()];
    t.apply(&mel, &mut out);
    Ok(out)
}

/// Mel power of a whole signal at any sample rate, through exactly the host-rate path the
/// plugin's audio thread runs ([`FeaturePipeline`]: resampler + streaming frames), so the trainer
/// and the plugin see the same frames for the same audio. Returns `(mel, levels_dbfs)`; as in the
/// plugin, audio in the pipeline's look-ahead at the very end yields no frame.
pub fn extract_mel_at_rate(spec: &FrontEndSpec, signal: &[f32], rate: f32) -> Result<(Vec<f32>, Vec<f32>), SpecError> {
    let mut p = FeaturePipeline::new(spec, rate)?;
    let mut mel = Vec::new();
    let mut levels = Vec::new();
    p.push_with_level(signal, |f, l| {
        mel.extend_from_slice(f);
        levels.push(l);
    });
    Ok((mel, levels))
}
