//! The audio-thread half of the engine: downmix, features + level, frame queue.
//!
//! Real-time safe after construction: no allocation, lock, log call or file access.
use genrescope_core::features::{FeatureConfig, FeaturePipeline};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::shared::SharedState;

/// Each queued frame is `frame_dim` features followed by the frame's input level in dBFS
/// (RMS of the model-rate samples it was computed from, so it does not depend on the host's
/// block size).
pub fn frame_stride(cfg: &FeatureConfig) -> usize {
    cfg.frame_dim() + 1
}

/// Queue capacity in frames: ~12 s of audio, so a busy analysis thread rarely drops any.
pub fn queue_capacity(cfg: &FeatureConfig) -> usize {
    (cfg.frames_per_second() * 12.0).ceil() as usize * frame_stride(cfg)
}

pub struct AudioFrontEnd {
    pipeline: FeaturePipeline,
    producer: rtrb::Producer<f32>,
    shared: Arc<SharedState>,
    mono: Vec<f32>,
    stride: usize,
}

impl AudioFrontEnd {
    pub fn new(
        cfg: &FeatureConfig,
        host_rate: f32,
        max_block: usize,
        producer: rtrb::Producer<f32>,
        shared: Arc<SharedState>,
    ) -> Self {
        let max_block = max_block.max(1);
        Self {
            pipeline: FeaturePipeline::new(cfg, host_rate, max_block),
            producer,
            shared,
            mono: vec![0.0; max_block],
            stride: frame_stride(cfg),
        }
    }

    /// Gives the queue producer back (to build a front end for a new sample rate).
    pub fn into_producer(self) -> rtrb::Producer<f32> {
        self.producer
    }

    pub fn reset(&mut self) {
        self.pipeline.reset();
    }

    /// Analyses one host block. `channels` are read only: audio passes through untouched.
    pub fn process<C: AsRef<[f32]>>(&mut self, channels: &[C]) {
        let len = channels.first().map_or(0, |c| c.as_ref().len());
        let mut start = 0;
        // Hosts may exceed the announced max block; split instead of allocating.
        while start < len {
            let n = (len - start).min(self.mono.len());
            self.downmix(channels, start, n);
            self.push_features(n);
            start += n;
        }
    }

    fn downmix<C: AsRef<[f32]>>(&mut self, channels: &[C], start: usize, n: usize) {
        let gain = 1.0 / channels.len().max(1) as f32;
        let mono = &mut self.mono[..n];
        mono.fill(0.0);
        for ch in channels {
            for (m, &x) in mono.iter_mut().zip(&ch.as_ref()[start..start + n]) {
                *m += x * gain;
            }
        }
    }

    fn push_features(&mut self, n: usize) {
        let Self { pipeline, producer, shared, mono, stride } = self;
        let stride = *stride;
        pipeline.push_with_level(&mono[..n], |frame, level| {
            match producer.write_chunk_uninit(stride) {
                Ok(chunk) => {
                    let values = frame.iter().copied().chain(std::iter::once(level));
                    chunk.fill_from_iter(values);
                }
                Err(_) => {
                    shared.dropped_frames.fetch_add(1, Relaxed);
                }
            }
        });
    }
}
