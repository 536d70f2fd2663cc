//! Windows of model input: the frames of each track cut into fixed-length windows (side by side
//! for scoring, overlapping for training) through the same `FeatureTransform` as the analysis
//! thread's, with their labels and tracks.
use super::corpus::Clip;
use super::features::ClipFeatures;
use genrescope_core::features::{FeatureTransform, FrontEndSpec};
use std::collections::HashMap;

/// What a model reads: its front end and the frames per window.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    pub spec: FrontEndSpec,
    pub window_frames: usize,
}

impl ModelInput {
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
    /// Per track: its index in the clip list the windows were built from (corpus, fold, artist).
    pub track_clip: Vec<usize>,
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
            s.track_clip.push(c);
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
            s.track_clip.push(self.track_clip[t]);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::corpus::{stratified, test_clips};

    #[test]
    fn segments_never_mix_tracks_across_folds() {
        let input = ModelInput { window_frames: 8, ..ModelInput::musicnn() };
        let mel_dim = input.spec.mel_dim();
        let c = test_clips(2);
        let ml = input.window_frames * mel_dim;
        // Track i has 2.5 windows of mel frames filled with (i+1)/1000: 2 segments each.
        let mel = |i: usize| (i + 1) as f32 * 1e-3;
        let feats =
            ClipFeatures { frames: (0..c.len()).map(|i| Some(vec![mel(i); ml * 5 / 2])).collect(), skipped: vec![] };
        let s = Segments::build(&c, &feats, &(0..c.len()).collect::<Vec<_>>(), &input);
        assert_eq!(s.len(), 2 * c.len());
        assert_eq!(s.window_len, input.window_len());
        let folds = stratified(&s.track_labels, 0.5, 1);
        let f0 = s.select_tracks(&folds.0);
        let f1 = s.select_tracks(&folds.1);
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
        let o1 = o.select_tracks(&folds.1);
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
