//! Mel frames of every clip: decoded, resampled and framed by core's streaming front end (the
//! plugin's code), cached on disk, on several threads.
//!
//! Frames come from `genrescope_core::features::extract_mel_at_rate`, the host-rate pipeline the
//! plugin's audio thread runs (same resampler, same frames).
use super::corpus::Clip;
use super::windows::ModelInput;
use crate::audio::load_mono;
use genrescope_core::features::{extract_mel_at_rate, FrontEndSpec};
use genrescope_core::sha256_hex;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Mel power frames of every clip (row-major `n_frames * mel_dim`), `None` for clips that failed.
pub struct ClipFeatures {
    pub frames: Vec<Option<Vec<f32>>>,
    /// `(path, reason)` of clips that could not be used.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Bump when the cached frames' meaning changes without the spec's hash changing.
const CACHE_VERSION: &str = "mel-frames-v2";

pub(crate) fn cache_key(path: &Path, spec: &FrontEndSpec) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let abs = std::fs::canonicalize(path)?;
    let key = format!("{CACHE_VERSION}\n{}\n{}\n{}\n{}", abs.display(), meta.len(), mtime, spec.frames_only().hash());
    Ok(sha256_hex(key.as_bytes()))
}

pub(crate) fn read_cache(file: &Path, dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(file).ok()?;
    if bytes.len() % 4 != 0 || bytes.len() < 4 {
        return None;
    }
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    #[allow(clippy::manual_is_multiple_of)] // MSRV 1.85: is_multiple_of is 1.87
    let whole = v.len() % dim == 0;
    whole.then_some(v)
}

pub(crate) fn write_cache(file: &Path, v: &[f32]) -> std::io::Result<()> {
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, file)
}

/// A clip's mel frames at its own sample rate through the plugin's host-rate pipeline.
pub fn clip_frames(path: &Path, spec: &FrontEndSpec, gain: f32) -> anyhow::Result<Vec<f32>> {
    let (mut mono, rate) = load_mono(path)?;
    if gain != 1.0 {
        mono.iter_mut().for_each(|x| *x *= gain);
    }
    let (mel, _) = extract_mel_at_rate(spec, &mono, rate as f32)?;
    Ok(mel)
}

fn clip_features(clip: &Clip, spec: &FrontEndSpec, cache: Option<&Path>) -> anyhow::Result<Vec<f32>> {
    let cached = match cache {
        Some(dir) => Some(dir.join(format!("{}.f32", cache_key(&clip.path, spec)?))),
        None => None,
    };
    if let Some(v) = cached.as_deref().and_then(|f| read_cache(f, spec.mel_dim())) {
        return Ok(v);
    }
    let feats = clip_frames(&clip.path, spec, 1.0)?;
    if let Some(f) = cached {
        // A failed cache write only costs time on the next run.
        let _ = write_cache(&f, &feats);
    }
    Ok(feats)
}

/// Decodes and featurizes `clips` on `threads` threads; failures are recorded, not fatal.
pub fn featurize(clips: &[Clip], input: &ModelInput, cache: Option<&Path>, threads: usize) -> ClipFeatures {
    if let Some(dir) = cache {
        let _ = std::fs::create_dir_all(dir);
    }
    let pb = ProgressBar::new(clips.len() as u64);
    pb.set_style(ProgressStyle::with_template("features {bar:30} {pos}/{len} [{elapsed}<{eta}]").unwrap());
    let threads = threads.max(1);
    let mut results: Vec<Option<anyhow::Result<Vec<f32>>>> = (0..clips.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let chunks: Vec<_> = results.chunks_mut(clips.len().div_ceil(threads).max(1)).enumerate().collect();
        let per = clips.len().div_ceil(threads).max(1);
        for (t, chunk) in chunks {
            let pb = &pb;
            s.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(clip_features(&clips[t * per + j], &input.spec, cache));
                    pb.inc(1);
                }
            });
        }
    });
    pb.finish_and_clear();
    let mel_dim = input.spec.mel_dim();
    let window = input.window_frames * mel_dim;
    let mut skipped = Vec::new();
    let frames = results
        .into_iter()
        .zip(clips)
        .map(|(r, clip)| match r.expect("every clip processed") {
            Ok(v) if v.len() >= window => Some(v),
            Ok(v) => {
                skipped.push((
                    clip.path.clone(),
                    format!("too short: {} frames < {}", v.len() / mel_dim, input.window_frames),
                ));
                None
            }
            Err(e) => {
                skipped.push((clip.path.clone(), format!("{e:#}")));
                None
            }
        })
        .collect();
    ClipFeatures { frames, skipped }
}
