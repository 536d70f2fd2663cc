//! Loading audio files as mono f32 at their own rate (the front end's pipeline resamples).
//!
//! Decoding (symphonia formats + Sun `.au`) and the downmix are core's
//! (`genrescope_core::audio_file`), the same as the plugin's and the CLI's.
use genrescope_core::audio_file::decode_file;
use std::path::Path;

/// Decodes `path` and downmixes it to mono; returns the samples and their rate.
pub fn load_mono(path: &Path) -> anyhow::Result<(Vec<f32>, u32)> {
    let decoded = decode_file(path)?;
    // Used anyway (what decoded is valid audio), but a damaged clip should not pass unseen.
    for w in &decoded.warnings {
        eprintln!("warning: {}: {w}", path.display());
    }
    let mono = decoded.to_mono();
    anyhow::ensure!(!mono.is_empty(), "no audio samples");
    Ok((mono, decoded.sample_rate))
}
