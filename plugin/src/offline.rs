//! Offline driver of the plugin's engine, for the `genrescope analyze` CLI and tests.
//!
//! Audio goes through exactly the plugin's code: [`AudioFrontEnd`] (downmix, level, feature
//! pipeline at the file's own sample rate, frame queue) in host-sized blocks, and the same
//! [`Analyzer`]. The analyzer is stepped after every block instead of on its own thread, so the
//! queue never overflows and the results do not depend on timing.
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::FeatureConfig;
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::ModelManifest;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::analysis::{Analyzer, Prediction};
use crate::frontend::{queue_capacity, AudioFrontEnd};
use crate::shared::SharedState;

/// Engine settings for one run (the plugin's parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct OfflineSettings {
    /// Host block size in samples.
    pub block: usize,
    pub smoothing_s: f32,
    pub hop_s: f32,
    pub gate_db: f32,
}

impl Default for OfflineSettings {
    /// The plugin's defaults, with a typical host block of 512.
    fn default() -> Self {
        let s = SharedState::default();
        Self {
            block: 512,
            smoothing_s: s.settings.smoothing_s.load(Relaxed),
            hop_s: s.settings.hop_s.load(Relaxed),
            gate_db: s.settings.gate_db.load(Relaxed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The model folder could not be loaded (missing, invalid, no ONNX Runtime...).
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Inference(String),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("the audio has no channels or no samples")]
    NoAudio,
}

/// The plugin's engine with a loaded model, driven synchronously.
pub struct OfflineEngine {
    cfg: FeatureConfig,
    shared: Arc<SharedState>,
    analyzer: Analyzer,
    /// Lives in the front end while a file is analysed.
    producer: Option<rtrb::Producer<f32>>,
}

impl OfflineEngine {
    /// Builds the engine exactly as the plugin does and loads the model folder.
    pub fn new(model_dir: &Path) -> Result<Self, OfflineError> {
        let cfg = FeatureConfig::default();
        let shared = Arc::new(SharedState::default());
        let (producer, consumer) = rtrb::RingBuffer::new(queue_capacity(&cfg));
        let mut analyzer = Analyzer::new(&cfg, consumer, shared.clone());
        analyzer.load_model(model_dir).map_err(OfflineError::Model)?;
        Ok(Self { cfg, shared, analyzer, producer: Some(producer) })
    }

    pub fn manifest(&self) -> &ModelManifest {
        self.analyzer.ensemble().expect("model loaded in new()").manifest()
    }

    pub fn num_members(&self) -> usize {
        self.analyzer.ensemble().map_or(0, |e| e.num_members())
    }

    pub fn feature_config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Runs one file from a fresh engine state; returns every prediction in stream order.
    /// Trailing audio shorter than a frame's look-ahead is not analysed, as in the plugin.
    pub fn analyze(
        &mut self,
        audio: &DecodedAudio,
        settings: &OfflineSettings,
    ) -> Result<Vec<Prediction>, OfflineError> {
        if audio.channels.is_empty() || audio.num_frames() == 0 {
            return Err(OfflineError::NoAudio);
        }
        if audio.sample_rate == 0 {
            return Err(OfflineError::Settings("sample rate is 0".into()));
        }
        if settings.block == 0 {
            return Err(OfflineError::Settings("block size must be at least 1".into()));
        }
        for (name, v) in [
            ("smoothing", settings.smoothing_s),
            ("hop", settings.hop_s),
            ("gate", settings.gate_db),
        ] {
            if !v.is_finite() {
                return Err(OfflineError::Settings(format!("{name} must be a finite number")));
            }
        }
        let s = &self.shared.settings;
        s.smoothing_s.store(settings.smoothing_s, Relaxed);
        s.hop_s.store(settings.hop_s, Relaxed);
        s.gate_db.store(settings.gate_db, Relaxed);
        self.analyzer.reset();
        self.shared.dropped_frames.store(0, Relaxed);

        let producer = self.producer.take().expect("producer returned after every run");
        let mut frontend = AudioFrontEnd::new(
            &self.cfg,
            audio.sample_rate as f32,
            settings.block,
            producer,
            self.shared.clone(),
        );
        let result = self.run(&mut frontend, audio, settings.block);
        self.producer = Some(frontend.into_producer());
        result
    }

    fn run(
        &mut self,
        frontend: &mut AudioFrontEnd,
        audio: &DecodedAudio,
        block: usize,
    ) -> Result<Vec<Prediction>, OfflineError> {
        let mut predictions = Vec::new();
        let len = audio.num_frames();
        let mut start = 0;
        while start < len {
            let end = (start + block).min(len);
            let slices: Vec<&[f32]> = audio.channels.iter().map(|c| &c[start..end]).collect();
            frontend.process(&slices);
            self.analyzer.step(|p| predictions.push(p.clone()));
            // The analyzer reports inference failures through the shared state only.
            if self.shared.status() == crate::shared::Status::Error {
                return Err(OfflineError::Inference(self.shared.error_text()));
            }
            if self.shared.dropped_frames.load(Relaxed) > 0 {
                return Err(OfflineError::Settings(format!(
                    "block of {block} samples overflows the engine's frame queue; use a smaller block"
                )));
            }
            start = end;
        }
        Ok(predictions)
    }
}

/// Track-level soft vote: the mean of the raw ensemble probabilities over all windows the gate
/// let through. `None` when every window was gated (silence) or there were none.
pub fn file_verdict(predictions: &[Prediction]) -> Option<[f32; NUM_GENRES]> {
    let mut sum = [0.0f64; NUM_GENRES];
    let mut n = 0usize;
    for p in predictions.iter().filter(|p| p.top.is_some()) {
        sum.iter_mut().zip(p.raw).for_each(|(s, v)| *s += v as f64);
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| (s / n as f64) as f32))
}

/// Genre indices sorted by descending probability, first `k`.
pub fn top_k(probs: &[f32; NUM_GENRES], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(top: Option<usize>, raw: [f32; NUM_GENRES]) -> Prediction {
        Prediction { time_s: 0.0, raw, smoothed: raw, top, level_db: -20.0 }
    }

    #[test]
    fn verdict_averages_only_ungated_windows() {
        let mut a = [0.0; NUM_GENRES];
        a[1] = 1.0;
        let mut b = [0.0; NUM_GENRES];
        b[1] = 0.5;
        b[4] = 0.5;
        let preds = [pred(Some(1), a), pred(None, [0.0; NUM_GENRES]), pred(Some(1), b)];
        let v = file_verdict(&preds).unwrap();
        assert!((v[1] - 0.75).abs() < 1e-6 && (v[4] - 0.25).abs() < 1e-6);
        assert_eq!(top_k(&v, 2), vec![(1, 0.75), (4, 0.25)]);
        assert_eq!(file_verdict(&[pred(None, [0.0; NUM_GENRES])]), None);
        assert_eq!(file_verdict(&[]), None);
    }
}
