//! Host-rate front end for the audio thread: sanitize -> resample -> StreamingExtractor.

use super::input::sanitize_sample;
use super::resample::StreamResampler;
use super::spec::{FrontEndSpec, SpecError};
use super::streaming::StreamingExtractor;

/// Sanitized samples are staged through this fixed buffer, so blocks of any length are
/// processed without allocation.
const STAGE: usize = 256;

pub struct FeaturePipeline {
    resampler: StreamResampler,
    extractor: StreamingExtractor,
    stage: Vec<f32>,
    look_ahead: usize,
}

impl FeaturePipeline {
    /// Any host rate from 1 kHz to 768 kHz; an invalid spec or rate is an error.
    pub fn new(spec: &FrontEndSpec, host_rate: f32) -> Result<Self, SpecError> {
        let resampler = StreamResampler::new(host_rate as f64, spec.sample_rate as f64)?;
        // center=True: frame t is complete n_fft/2 samples after its centre.
        let look_ahead = (spec.left_pad() as f64 / resampler.ratio()).ceil() as usize;
        Ok(Self { resampler, extractor: StreamingExtractor::new(spec)?, stage: vec![0.0; STAGE], look_ahead })
    }

    /// Mono host-rate samples in (NaN/Inf -> 0, clamped, see `sanitize_sample`);
    /// `on_frame` gets each completed frame of mel power. Allocation-free.
    pub fn push(&mut self, mono: &[f32], mut on_frame: impl FnMut(&[f32])) {
        self.push_with_level(mono, |frame, _| on_frame(frame));
    }

    /// Like `push`, plus each frame's level in dBFS, measured on the model-rate samples the
    /// frame was computed from (`StreamingExtractor::push_with_level`): block-size independent.
    pub fn push_with_level(&mut self, mono: &[f32], mut on_frame: impl FnMut(&[f32], f32)) {
        let extractor = &mut self.extractor;
        for block in mono.chunks(STAGE) {
            let stage = &mut self.stage[..block.len()];
            for (d, &s) in stage.iter_mut().zip(block) {
                *d = sanitize_sample(s);
            }
            self.resampler.process(stage, |r| extractor.push_with_level(r, &mut on_frame));
        }
    }

    pub fn reset(&mut self) {
        self.resampler.reset();
        self.extractor.reset();
    }

    /// Host samples from the sample at a frame's centre to that frame's delivery
    /// (worst case): resampler FIFO + filter delay + the STFT's n_fft/2 look-ahead.
    /// Frame k is centred on host sample `k * hop_length * host_rate / sample_rate`.
    pub fn latency_samples(&self) -> usize {
        self.resampler.latency_input_samples() + self.look_ahead
    }

    /// Frames emitted since `new`/`reset`.
    pub fn frames_emitted(&self) -> u64 {
        self.extractor.frames_emitted()
    }
}
