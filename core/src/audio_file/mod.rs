//! Audio files: [`DecodedAudio`] (what the offline driver analyses) and [`DecodeError`] always;
//! decoding files ([`decode_file`], symphonia) only with the `decode` feature, which the plugin
//! does not enable (it never reads audio files).
//!
//! Everything symphonia reads (ogg/vorbis, wav, flac, mp3, aac/mp4) plus Sun `.au`, which
//! symphonia lacks and GTZAN's original release uses. A packet that fails to decode is skipped;
//! an I/O error (e.g. a truncated file) ends decoding with what was decoded so far. Both leave
//! a note in `DecodedAudio::warnings`, so callers can tell a damaged file from a clean one.
use crate::features::downmix;
use std::path::PathBuf;

#[cfg(feature = "decode")]
mod decode;
#[cfg(feature = "decode")]
pub use decode::{decode_file, has_audio_extension, AUDIO_EXTENSIONS};

/// Decoded audio, one `Vec` per channel (all the same length), samples nominally in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedAudio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
    /// What was wrong with a file that still decoded: skipped packets, early end, fewer
    /// samples than the header declares. Empty for a clean file.
    pub warnings: Vec<String>,
}

impl DecodedAudio {
    /// Samples per channel.
    pub fn num_frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    pub fn duration_s(&self) -> f64 {
        self.num_frames() as f64 / self.sample_rate.max(1) as f64
    }

    /// Mean of the channels (the plugin front end's [`downmix`]).
    pub fn to_mono(&self) -> Vec<f32> {
        let mut mono = vec![0.0; self.num_frames()];
        downmix(&self.channels, 0, &mut mono);
        mono
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: unsupported or unrecognised audio format ({message})")]
    Unsupported { path: PathBuf, message: String },
    #[error("{path}: corrupt audio file: {message}")]
    Corrupt { path: PathBuf, message: String },
}
