//! GTZAN-layout datasets: scanning, decoding + mel frames (with a disk cache), track-level splits
//! and fixed-length segments of model input.
//!
//! Layout: `<root>/<genre>/<genre>.000NN.{wav,au,ogg,mp3,flac}`, optional
//! `<root>/splits/{train,valid}.txt` (one `genre/genre.000NN.ext` per line; matched on the
//! name without extension, so the lists work for any encoding of the collection).
//! Frames come from `genrescope_core::features::extract_mel_at_rate`, the host-rate pipeline the
//! plugin's audio thread runs (same resampler, same frames), and windows of them become model input
//! through the same `FeatureTransform` as the analysis thread's.
use crate::audio::load_mono;
use anyhow::Context;
use genrescope_core::audio_file::has_audio_extension;
use genrescope_core::features::{extract_mel_at_rate, FeatureTransform, FrontEndSpec};
use genrescope_core::labels::{genre_index, GENRES, NUM_GENRES};
use genrescope_core::sha256_hex;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Clip {
    pub path: PathBuf,
    /// `genre/genre.000NN` (no extension): the track identity used by splits.
    pub id: String,
    pub label: usize,
}

/// What a model reads: its front end and the frames per window.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    pub spec: FrontEndSpec,
    pub window_frames: usize,
}

impl ModelInput {
    /// The first models' input: 13 MFCC at 22050 Hz, 130 frames (≈3 s).
    pub fn gtzan_mfcc() -> Self {
        Self { spec: FrontEndSpec::gtzan_mfcc(), window_frames: 130 }
    }

    /// musicnn's input: 96 log-mel bands at 16 kHz, 187 frames (≈3 s).
    pub fn musicnn() -> Self {
        Self { spec: FrontEndSpec::musicnn(), window_frames: 187 }
    }

    pub fn frame_dim(&self) -> usize {
        self.spec.frame_dim()
    }

    /// Values per window of model input.
    pub fn window_len(&self) -> usize {
        self.window_frames * self.frame_dim()
    }
}

/// Lists every audio clip of a GTZAN-layout folder, sorted by id.
pub fn scan(root: &Path) -> anyhow::Result<Vec<Clip>> {
    let mut clips = Vec::new();
    for genre in GENRES {
        let dir = root.join(genre);
        if !dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            let label = stem.split('.').next().and_then(genre_index);
            if let Some(label) = label.filter(|_| has_audio_extension(&path)) {
                clips.push(Clip { id: format!("{genre}/{stem}"), path, label });
            }
        }
    }
    anyhow::ensure!(!clips.is_empty(), "no audio clips in GTZAN layout under {}", root.display());
    clips.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(clips)
}

/// Track-level split: indices into the clip list. Segments of one track never cross splits.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    /// Where the split came from, for reports.
    pub source: String,
}

fn list_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit_once('.').map(|(s, _)| s).unwrap_or(l).to_string())
        .collect())
}

/// `splits/train.txt` + `splits/valid.txt` when both exist, else a seeded stratified split
/// with `valid_fraction` of each genre's tracks in validation.
pub fn split(root: &Path, clips: &[Clip], valid_fraction: f64, seed: u64) -> anyhow::Result<Split> {
    let (tr, va) = (root.join("splits/train.txt"), root.join("splits/valid.txt"));
    if tr.is_file() && va.is_file() {
        let index: HashMap<&str, usize> = clips.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
        let pick = |ids: Vec<String>| ids.iter().filter_map(|id| index.get(id.as_str()).copied()).collect::<Vec<_>>();
        let (train, valid) = (pick(list_ids(&tr)?), pick(list_ids(&va)?));
        return Ok(Split { train, valid, source: format!("{} and {}", tr.display(), va.display()) });
    }
    Ok(stratified_split(clips, valid_fraction, seed))
}

pub fn stratified_split(clips: &[Clip], valid_fraction: f64, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for g in 0..NUM_GENRES {
        let mut idx: Vec<usize> = (0..clips.len()).filter(|&i| clips[i].label == g).collect();
        idx.shuffle(&mut rng);
        let n_valid = ((idx.len() as f64 * valid_fraction).round() as usize).min(idx.len().saturating_sub(1));
        valid.extend_from_slice(&idx[..n_valid]);
        train.extend_from_slice(&idx[n_valid..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    Split { train, valid, source: format!("seeded stratified split (seed {seed}, valid fraction {valid_fraction})") }
}

/// Mel power frames of every clip (row-major `n_frames * mel_dim`), `None` for clips that failed.
pub struct ClipFeatures {
    pub frames: Vec<Option<Vec<f32>>>,
    /// `(path, reason)` of clips that could not be used.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Bump when the cached frames' meaning changes without the spec's hash changing.
const CACHE_VERSION: &str = "mel-frames-v2";

fn cache_key(path: &Path, spec: &FrontEndSpec) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let abs = std::fs::canonicalize(path)?;
    let key = format!("{CACHE_VERSION}\n{}\n{}\n{}\n{}", abs.display(), meta.len(), mtime, spec.frames_only().hash());
    Ok(sha256_hex(key.as_bytes()))
}

fn read_cache(file: &Path, dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(file).ok()?;
    if bytes.len() % 4 != 0 || bytes.len() < 4 {
        return None;
    }
    let v: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    #[allow(clippy::manual_is_multiple_of)] // MSRV 1.85: is_multiple_of is 1.87
    let whole = v.len() % dim == 0;
    whole.then_some(v)
}

fn write_cache(file: &Path, v: &[f32]) -> std::io::Result<()> {
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

/// Fixed-length model inputs: non-overlapping `window_frames` segments of each track.
#[derive(Clone, Debug, Default)]
pub struct Segments {
    /// `len() * window_len` values of model input (front-end features, window by window).
    pub windows: Vec<f32>,
    pub labels: Vec<usize>,
    /// Index of the segment's track in `track_ids`.
    pub track: Vec<usize>,
    pub track_ids: Vec<String>,
    pub track_labels: Vec<usize>,
    pub window_len: usize,
}

impl Segments {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn window(&self, i: usize) -> &[f32] {
        &self.windows[i * self.window_len..(i + 1) * self.window_len]
    }
    pub fn num_tracks(&self) -> usize {
        self.track_ids.len()
    }

    /// Non-overlapping segments of the tracks `clip_idx` (indices into `clips`); failed clips
    /// are left out. Evaluation (CV held-out folds, validation) always uses these.
    pub fn build(clips: &[Clip], feats: &ClipFeatures, clip_idx: &[usize], input: &ModelInput) -> Self {
        Self::build_hop(clips, feats, clip_idx, input, input.window_frames)
    }

    /// Windows of `input.window_frames` frames starting every `hop_frames` frames (overlapping
    /// when `hop_frames < window_frames`), for training. Track order and indices are the same
    /// as [`Segments::build`]'s for the same `clip_idx`, so track folds apply to both.
    pub fn build_hop(
        clips: &[Clip],
        feats: &ClipFeatures,
        clip_idx: &[usize],
        input: &ModelInput,
        hop_frames: usize,
    ) -> Self {
        let mel_dim = input.spec.mel_dim();
        let mel_len = input.window_frames * mel_dim;
        let window_len = input.window_len();
        let hop = hop_frames.max(1) * mel_dim;
        let mut transform = FeatureTransform::new(&input.spec).expect("spec validated by the caller");
        let mut s = Segments { window_len, ..Default::default() };
        let mut window = vec![0.0; window_len];
        for &c in clip_idx {
            let Some(f) = &feats.frames[c] else { continue };
            let t = s.track_ids.len();
            s.track_ids.push(clips[c].id.clone());
            s.track_labels.push(clips[c].label);
            let mut start = 0;
            while start + mel_len <= f.len() {
                transform.apply(&f[start..start + mel_len], &mut window);
                s.windows.extend_from_slice(&window);
                start += hop;
                s.labels.push(clips[c].label);
                s.track.push(t);
            }
        }
        s
    }

    /// Subset by track indices (for cross-validation folds).
    pub fn select_tracks(&self, tracks: &[usize]) -> Self {
        let mut s = Segments { window_len: self.window_len, ..Default::default() };
        let map: HashMap<usize, usize> = tracks.iter().enumerate().map(|(new, &old)| (old, new)).collect();
        for &t in tracks {
            s.track_ids.push(self.track_ids[t].clone());
            s.track_labels.push(self.track_labels[t]);
        }
        for i in 0..self.len() {
            if let Some(&nt) = map.get(&self.track[i]) {
                s.windows.extend_from_slice(self.window(i));
                s.labels.push(self.labels[i]);
                s.track.push(nt);
            }
        }
        s
    }

    /// Per-coefficient mean and 1/std over all frames (the in-graph normalization).
    pub fn coefficient_stats(&self, dim: usize) -> (Vec<f32>, Vec<f32>) {
        let mut sum = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        let n = (self.windows.len() / dim).max(1) as f64;
        for row in self.windows.chunks_exact(dim) {
            for (k, &v) in row.iter().enumerate() {
                sum[k] += v as f64;
                sq[k] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let inv_std = sum
            .iter()
            .zip(&sq)
            .map(|(s, q)| {
                let var = (q / n - (s / n).powi(2)).max(0.0);
                (1.0 / var.sqrt().max(1e-3)) as f32
            })
            .collect();
        (mean, inv_std)
    }
}

/// Stratified k-fold over tracks: `folds[k]` = track indices held out in fold `k`.
pub fn track_folds(track_labels: &[usize], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for g in 0..NUM_GENRES {
        let mut idx: Vec<usize> = (0..track_labels.len()).filter(|&i| track_labels[i] == g).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            folds[next % k].push(i);
            next += 1;
        }
    }
    folds.iter_mut().for_each(|f| f.sort_unstable());
    folds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clips(n_per: usize) -> Vec<Clip> {
        (0..NUM_GENRES)
            .flat_map(|g| {
                (0..n_per).map(move |i| Clip {
                    path: PathBuf::from(format!("{}/{}.{i:05}.wav", GENRES[g], GENRES[g])),
                    id: format!("{}/{}.{i:05}", GENRES[g], GENRES[g]),
                    label: g,
                })
            })
            .collect()
    }

    #[test]
    fn stratified_split_is_by_track_seeded_and_disjoint() {
        let c = clips(10);
        let a = stratified_split(&c, 0.2, 7);
        let b = stratified_split(&c, 0.2, 7);
        assert_eq!(a.train, b.train);
        assert_eq!(a.valid.len(), 20);
        assert!(a.train.iter().all(|t| !a.valid.contains(t)));
        for g in 0..NUM_GENRES {
            assert_eq!(a.valid.iter().filter(|&&i| c[i].label == g).count(), 2);
        }
    }

    #[test]
    fn segments_never_mix_tracks_across_folds() {
        let input = ModelInput { window_frames: 8, ..ModelInput::musicnn() };
        let mel_dim = input.spec.mel_dim();
        let c = clips(2);
        let ml = input.window_frames * mel_dim;
        // Track i has 2.5 windows of mel frames filled with (i+1)/1000: 2 segments each.
        let mel = |i: usize| (i + 1) as f32 * 1e-3;
        let feats =
            ClipFeatures { frames: (0..c.len()).map(|i| Some(vec![mel(i); ml * 5 / 2])).collect(), skipped: vec![] };
        let s = Segments::build(&c, &feats, &(0..c.len()).collect::<Vec<_>>(), &input);
        assert_eq!(s.len(), 2 * c.len());
        assert_eq!(s.window_len, input.window_len());
        let folds = track_folds(&s.track_labels, 2, 1);
        let f0 = s.select_tracks(&folds[0]);
        let f1 = s.select_tracks(&folds[1]);
        assert_eq!(f0.len() + f1.len(), s.len());
        let ids0: Vec<_> = f0.track_ids.clone();
        assert!(f1.track_ids.iter().all(|t| !ids0.contains(t)));
        // Overlapping windows: same tracks in the same order, more windows per track.
        let hop = input.window_frames / 4;
        let o = Segments::build_hop(&c, &feats, &(0..c.len()).collect::<Vec<_>>(), &input, hop);
        assert_eq!(o.track_ids, s.track_ids);
        let frames = ml * 5 / 2 / mel_dim;
        let per_track = (frames - input.window_frames) / hop + 1;
        assert_eq!(o.len(), per_track * c.len());
        let o1 = o.select_tracks(&folds[1]);
        assert_eq!(o1.track_ids, f1.track_ids);
        assert_eq!(o1.len(), per_track * f1.num_tracks());
        // Each segment carries its own track's values, through the front end's log compression.
        for i in 0..f1.len() {
            let orig = s.track_ids.iter().position(|t| *t == f1.track_ids[f1.track[i]]).unwrap();
            let want = (1.0 + 10000.0 * mel(orig) as f64).log10() as f32;
            assert!(f1.window(i).iter().all(|&v| (v - want).abs() < 1e-5), "{} vs {want}", f1.window(i)[0]);
        }
    }
}
