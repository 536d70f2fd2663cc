//! The audio-thread half of the engine: downmix, feature frames + level, frame queue.
//!
//! Built off the audio thread (activate, or per file offline) from the model's front-end spec;
//! after that real-time safe: no allocation, lock, log call or file access.
use genrescope_core::features::{downmix, FeaturePipeline, FrontEndSpec, SpecError};

use crate::queue::FrameSender;

#[derive(Debug, thiserror::Error)]
pub enum FrontEndError {
    /// The frame queue was made for another front end (a bug in the caller, not bad input).
    #[error("frame queue carries {queue} values per frame, the front end makes {front_end}")]
    QueueMismatch { queue: usize, front_end: usize },
    /// The spec or the host sample rate is unusable (e.g. a rate outside 1 kHz to 768 kHz).
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// Frames the queue holds: ~12 s of audio ([`genrescope_core::limits::QUEUE_SECONDS`]), so a busy
/// analysis thread rarely drops any. Model admission bounds its size in bytes.
pub fn queue_capacity(spec: &FrontEndSpec) -> usize {
    genrescope_core::limits::queue_frames(spec.frames_per_second())
}

pub struct AudioFrontEnd {
    pipeline: FeaturePipeline,
    sender: FrameSender,
    mono: Vec<f32>,
}

impl AudioFrontEnd {
    /// `max_block` is the host's largest block (longer blocks are split, never allocated for).
    pub fn new(
        spec: &FrontEndSpec,
        host_rate: f32,
        max_block: usize,
        sender: FrameSender,
    ) -> Result<Self, FrontEndError> {
        if sender.frame_dim() != spec.mel_dim() {
            return Err(FrontEndError::QueueMismatch { queue: sender.frame_dim(), front_end: spec.mel_dim() });
        }
        Ok(Self {
            pipeline: FeaturePipeline::new(spec, host_rate)?,
            sender,
            mono: vec![0.0; max_block.clamp(1, 1 << 16)],
        })
    }

    /// Host reset (transport jump): forget the audio so far; later frames start a new epoch.
    pub fn reset(&mut self) {
        self.pipeline.reset();
        self.sender.new_epoch();
    }

    /// Analyses one host block. `channels` are read only: audio passes through untouched.
    pub fn process<C: AsRef<[f32]>>(&mut self, channels: &[C]) {
        let len = channels.first().map_or(0, |c| c.as_ref().len());
        let mut start = 0;
        while start < len {
            let n = (len - start).min(self.mono.len());
            let Self { pipeline, sender, mono } = self;
            downmix(channels, start, &mut mono[..n]);
            pipeline.push_with_level(&mono[..n], |frame, level| {
                sender.send(frame, level);
            });
            start += n;
        }
    }

    /// Host samples from a frame's centre to its delivery (see `FeaturePipeline::latency_samples`).
    pub fn latency_samples(&self) -> usize {
        self.pipeline.latency_samples()
    }
}
