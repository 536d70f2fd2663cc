//! Offline driver of the engine, for `Genrescope analyze`, the library scan and tests.
//!
//! Audio goes through exactly the plugin's code: [`AudioFrontEnd`] (downmix, feature pipeline at
//! the file's own sample rate, frame queue) in host-sized blocks, and the same [`Analyzer`],
//! stepped after every block instead of on its own thread, so the results do not depend on timing.
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::labels::Probs;
use genrescope_core::model::{soft_vote, top_genre, Ensemble, ModelError, ModelManifest};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::analysis::{Analyzer, Prediction};
use crate::error::EngineError;
use crate::frontend::{queue_capacity, AudioFrontEnd};
use crate::queue::frame_queue;
use crate::settings;
use crate::shared::{Claim, SharedState};

/// Engine settings for one run (the plugin's parameters, plus the host block size).
#[derive(Clone, Debug, PartialEq)]
pub struct OfflineSettings {
    /// Host block size in samples.
    pub block: usize,
    pub smoothing_s: f32,
    /// Seconds between predictions; `None` = the model's window length (windows side by side,
    /// each audio sample seen once: the fastest complete analysis of a file).
    pub hop_s: Option<f32>,
    pub gate_db: f32,
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self { block: 512, smoothing_s: settings::SMOOTHING_S.default, hop_s: None, gate_db: settings::GATE_DB.default }
    }
}

/// The engine with a loaded model, driven synchronously.
pub struct OfflineEngine {
    shared: Arc<SharedState>,
    analyzer: Analyzer,
    manifest: ModelManifest,
}

impl OfflineEngine {
    /// Loads a model folder (or manifest file) the way the plugin does.
    pub fn new(model: &Path) -> Result<Self, EngineError> {
        let (manifest, dir) = ModelManifest::load(model)
            .map_err(|e| EngineError::Model { dir: model.to_path_buf(), source: ModelError::Manifest(e) })?;
        let shared = Arc::new(SharedState::default());
        let mut analyzer = Analyzer::new(shared.clone());
        let (_, receiver) = frame_queue(manifest.front_end.mel_dim(), 1);
        analyzer.load(manifest.clone(), dir, receiver)?;
        Ok(Self { shared, analyzer, manifest })
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    pub fn num_members(&self) -> usize {
        self.manifest.members.len()
    }

    /// The loaded model.
    pub fn ensemble(&self) -> Option<&Ensemble> {
        self.analyzer.model()
    }

    /// The whole-file verdict of this engine's predictions, with its model's out-of-set threshold.
    pub fn verdict(&self, predictions: &[Prediction]) -> Option<FileVerdict> {
        FileVerdict::of(predictions, self.manifest.out_of_set.as_ref().map(|o| o.threshold))
    }

    /// The hop a run with `settings` uses, in seconds.
    pub fn hop_s(&self, settings: &OfflineSettings) -> f32 {
        settings.hop_s.unwrap_or(self.manifest.window_seconds() as f32)
    }

    /// Runs one file from a fresh engine state; returns every prediction in stream order.
    /// Trailing audio shorter than a frame's look-ahead is not analysed, as in the plugin.
    pub fn analyze(&mut self, audio: &DecodedAudio, s: &OfflineSettings) -> Result<Vec<Prediction>, EngineError> {
        let frames = audio.num_frames();
        if audio.channels.is_empty() || frames == 0 {
            return Err(EngineError::NoAudio);
        }
        if s.block == 0 {
            return Err(EngineError::ZeroBlock);
        }
        let hop = self.hop_s(s);
        for (v, setting) in
            [(s.smoothing_s, settings::SMOOTHING_S), (hop, settings::HOP_S), (s.gate_db, settings::GATE_DB)]
        {
            setting.check(v)?;
        }
        let st = &self.shared.settings;
        st.smoothing_s.store(s.smoothing_s, Relaxed);
        st.hop_s.store(hop, Relaxed);
        st.gate_db.store(s.gate_db, Relaxed);

        let spec = &self.manifest.front_end;
        // Room for a whole block's frames: the analyzer runs only between blocks.
        let block_frames = (s.block as f64 * spec.sample_rate as f64
            / audio.sample_rate.max(1) as f64
            / spec.hop_length as f64)
            .ceil() as usize;
        let (sender, receiver) = frame_queue(spec.mel_dim(), queue_capacity(spec).max(block_frames + 8));
        self.analyzer.attach(receiver);
        let mut frontend = AudioFrontEnd::new(spec, audio.sample_rate as f32, s.block, sender)?;

        let mut predictions = Vec::new();
        let mut start = 0;
        while start < frames {
            let end = (start + s.block).min(frames);
            let slices: Vec<&[f32]> = audio.channels.iter().map(|c| &c[start..end]).collect();
            frontend.process(&slices);
            self.analyzer.step(|p| predictions.push(Prediction { block_start: start as u64, ..p.clone() }))?;
            start = end;
        }
        debug_assert_eq!(self.shared.dropped_frames.load(Relaxed), 0);
        Ok(predictions)
    }
}

/// Track-level soft vote: the mean of the raw ensemble probabilities over the windows the gate
/// let through. `None` when every window was gated (silence) or there were none. The genre part
/// of [`FileVerdict`].
pub fn file_verdict(predictions: &[Prediction]) -> Option<Probs> {
    soft_vote(predictions.iter().filter(|p| !p.gated).map(|p| &p.raw))
}

/// A whole file's verdict: the soft vote over the windows the gate let through, genres and the
/// out-of-set class alike, and what it claims.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileVerdict {
    /// Mean raw genre probabilities ([`file_verdict`]).
    pub probs: Probs,
    /// Mean raw out-of-set probability over the same windows (0 for a model without the class);
    /// with `probs` it sums to 1.
    pub other: f32,
    /// [`Claim::Other`] when `other` reached the model's threshold, else the top genre of `probs`
    /// (never [`Claim::Nothing`]: a file without ungated windows has no verdict).
    pub claim: Claim,
}

impl FileVerdict {
    /// `threshold`: the model's out-of-set threshold (`None` without the class). `None` when
    /// every window was gated (silence) or there were none.
    pub fn of(predictions: &[Prediction], threshold: Option<f32>) -> Option<Self> {
        let probs = file_verdict(predictions)?;
        let judged = predictions.iter().filter(|p| !p.gated);
        let n = judged.clone().count();
        let other = (judged.map(|p| p.other as f64).sum::<f64>() / n as f64) as f32;
        let claim = match threshold {
            Some(t) if other >= t => Claim::Other,
            _ => Claim::Genre(top_genre(&probs).0),
        };
        Some(Self { probs, other, claim })
    }
}

/// Mean embedding over the windows the gate let through (`None` without embeddings).
pub fn file_embedding(predictions: &[Prediction]) -> Option<Vec<f32>> {
    mean_vector(predictions.iter().filter_map(|p| p.embedding.as_ref()))
}

/// Mean music-tag scores over the windows the gate let through (`None` for a model without tags,
/// or when every window was gated).
pub fn file_tags(predictions: &[Prediction]) -> Option<Vec<f32>> {
    mean_vector(predictions.iter().filter_map(|p| p.tags.as_ref()))
}

/// Element-wise mean, accumulated in f64.
fn mean_vector<'a>(mut it: impl Iterator<Item = &'a Vec<f32>>) -> Option<Vec<f32>> {
    let first = it.next()?;
    let mut sum: Vec<f64> = first.iter().map(|&v| v as f64).collect();
    let mut n = 1usize;
    for e in it {
        sum.iter_mut().zip(e).for_each(|(s, &v)| *s += v as f64);
        n += 1;
    }
    Some(sum.into_iter().map(|s| (s / n as f64) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genrescope_core::labels::NUM_GENRES;

    fn pred(top: Option<usize>, raw: Probs, emb: Option<Vec<f32>>) -> Prediction {
        let tags = emb.as_ref().map(|e| e.iter().map(|v| v / 2.0).collect());
        Prediction {
            time_s: 0.0,
            frame: 0,
            block_start: 0,
            raw,
            other: 0.0,
            gated: top.is_none(),
            smoothed: raw,
            smoothed_other: 0.0,
            out_of_set: false,
            top,
            level_db: -20.0,
            embedding: emb,
            tags,
        }
    }

    #[test]
    fn verdict_and_embedding_use_only_ungated_windows() {
        let mut a = [0.0; NUM_GENRES];
        a[1] = 1.0;
        let mut b = [0.0; NUM_GENRES];
        b[1] = 0.5;
        b[4] = 0.5;
        let preds = [
            pred(Some(1), a, Some(vec![1.0, 0.0])),
            pred(None, [0.0; NUM_GENRES], None),
            pred(Some(1), b, Some(vec![0.0, 1.0])),
        ];
        let v = file_verdict(&preds).unwrap();
        assert!((v[1] - 0.75).abs() < 1e-6 && (v[4] - 0.25).abs() < 1e-6);
        assert_eq!(file_embedding(&preds).unwrap(), vec![0.5, 0.5]);
        assert_eq!(file_tags(&preds).unwrap(), vec![0.25, 0.25]);
        assert_eq!(file_tags(&[pred(None, [0.0; NUM_GENRES], None)]), None);
        assert_eq!(file_verdict(&[pred(None, [0.0; NUM_GENRES], None)]), None);
        assert_eq!(file_verdict(&[]), None);
        assert_eq!(file_embedding(&[]), None);
    }

    #[test]
    fn file_verdict_says_other_from_the_mean_of_ungated_windows() {
        let with_other = |raw_top: usize, other: f32| {
            let mut raw = [0.0; NUM_GENRES];
            raw[raw_top] = 1.0 - other;
            Prediction { other, ..pred(Some(raw_top), raw, None) }
        };
        // Gated windows have other = 0 and must not pull the mean down.
        let preds = [with_other(2, 0.9), pred(None, [0.0; NUM_GENRES], None), with_other(2, 0.5)];
        let v = FileVerdict::of(&preds, Some(0.7)).unwrap();
        assert!((v.other - 0.7).abs() < 1e-6 && (v.probs[2] - 0.3).abs() < 1e-6);
        assert_eq!(v.claim, Claim::Other);
        assert_eq!(FileVerdict::of(&preds, Some(0.71)).unwrap().claim, Claim::Genre(2));
        assert_eq!(FileVerdict::of(&preds, None).unwrap().claim, Claim::Genre(2));
        assert_eq!(FileVerdict::of(&preds[1..2], Some(0.1)), None);
    }
}
