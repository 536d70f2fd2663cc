//! Loading audio files as mono f32 at the feature sample rate.
//!
//! Decoding (symphonia formats + Sun `.au`) and the downmix are core's
//! (`genrescope_core::audio_file`), the same as the plugin's CLI path; this adds an offline,
//! delay-compensated resampler for collections not at 22050 Hz.
use genrescope_core::audio_file::decode_file;
use rubato::{FftFixedIn, Resampler};
use std::path::Path;

pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "au", "ogg", "mp3", "flac"];

/// Decodes `path`, downmixes to mono and resamples to `target_sr`.
pub fn load_mono(path: &Path, target_sr: u32) -> anyhow::Result<Vec<f32>> {
    let decoded = decode_file(path)?;
    // Used anyway (what decoded is valid audio), but a damaged clip should not pass unseen.
    for w in &decoded.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    let mono = decoded.to_mono();
    anyhow::ensure!(!mono.is_empty(), "no audio samples");
    if decoded.sample_rate == target_sr {
        Ok(mono)
    } else {
        resample(&mono, decoded.sample_rate, target_sr)
    }
}

/// Band-limited FFT resampling (rubato), delay-compensated to keep the length `n * out / in`.
pub fn resample(x: &[f32], sr_in: u32, sr_out: u32) -> anyhow::Result<Vec<f32>> {
    let mut r = FftFixedIn::<f32>::new(sr_in as usize, sr_out as usize, 1024, 2, 1)?;
    let delay = r.output_delay();
    let expected = (x.len() as u64 * sr_out as u64 / sr_in as u64) as usize;
    let mut out = Vec::with_capacity(expected + delay + 2048);
    let mut pos = 0;
    while x.len() - pos >= r.input_frames_next() {
        let n = r.input_frames_next();
        out.extend_from_slice(&r.process(&[&x[pos..pos + n]], None)?[0]);
        pos += n;
    }
    out.extend_from_slice(&r.process_partial(Some(&[&x[pos..]]), None)?[0]);
    while out.len() < expected + delay {
        out.extend_from_slice(&r.process_partial::<&[f32]>(None, None)?[0]);
    }
    Ok(out[delay..delay + expected].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_length_and_frequency() {
        let sr_in = 44100;
        let x: Vec<f32> = (0..sr_in)
            .map(|i| (2.0 * std::f32::consts::PI * 441.0 * i as f32 / sr_in as f32).sin())
            .collect();
        let y = resample(&x, sr_in as u32, 22050).unwrap();
        assert_eq!(y.len(), 22050);
        // 441 Hz at 22050 Hz: period 50 samples; compare against the ideal sine mid-signal.
        let err = (5000..6000)
            .map(|i| (y[i] - (2.0 * std::f32::consts::PI * 441.0 * i as f32 / 22050.0).sin()).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.02, "max error {err}");
    }
}
