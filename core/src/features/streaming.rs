//! Streaming extractor at the spec's sample rate: a linear frame buffer that starts with the
//! center=True left padding, so frame t is computed from exactly the samples the offline
//! path ([`super::extract_mel`]) uses for frame t.

use super::input::sanitize_sample;
use super::spec::{FrontEndSpec, SpecError};
use super::stft::FrameAnalyzer;
use crate::smoothing::to_dbfs;

pub struct StreamingExtractor {
    n_fft: usize,
    hop: usize,
    left_pad: usize,
    /// Samples of the current frame collected so far (`buf[..fill]`).
    buf: Vec<f64>,
    fill: usize,
    /// Samples still to drop before the next frame starts (only when hop > n_fft).
    skip: usize,
    analyzer: FrameAnalyzer,
    frame: Vec<f32>,
    frames_emitted: u64,
    samples_pushed: u64,
}

impl StreamingExtractor {
    pub fn new(spec: &FrontEndSpec) -> Result<Self, SpecError> {
        let mut s = Self {
            n_fft: spec.n_fft,
            hop: spec.hop_length,
            left_pad: spec.left_pad(),
            buf: vec![0.0; spec.n_fft],
            fill: 0,
            skip: 0,
            analyzer: FrameAnalyzer::new(spec)?,
            frame: vec![0.0; spec.mel_dim()],
            frames_emitted: 0,
            samples_pushed: 0,
        };
        s.reset();
        Ok(s)
    }

    /// Back to the state right after `new` (no allocation).
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
        self.fill = self.left_pad; // the zero padding of center=True
        self.skip = 0;
        self.frames_emitted = 0;
        self.samples_pushed = 0;
    }

    /// Frames emitted since `new`/`reset` (= index of the next frame).
    pub fn frames_emitted(&self) -> u64 {
        self.frames_emitted
    }

    /// Samples pushed since `new`/`reset` (excluding `flush` padding).
    pub fn samples_pushed(&self) -> u64 {
        self.samples_pushed
    }

    /// Feeds samples (any count, including 0); calls `on_frame` with each completed frame of
    /// mel power (`mel_dim` values). Allocation-free.
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(&[f32])) {
        self.push_with_level(samples, |frame, _| on_frame(frame));
    }

    /// Like `push`, and also hands over the RMS level (dBFS) of the `n_fft` samples each
    /// frame was computed from: a level tied to frames, so it does not depend on how the
    /// stream was cut into blocks (the silence gate uses it).
    pub fn push_with_level(&mut self, samples: &[f32], mut on_frame: impl FnMut(&[f32], f32)) {
        self.samples_pushed += samples.len() as u64;
        self.push_inner(samples.iter().map(|&x| sanitize_sample(x) as f64), &mut on_frame);
    }

    /// End of stream: appends the right-hand center padding and emits the remaining
    /// frames, so the total equals `num_frames(spec, samples_pushed)` like the offline path.
    /// Call `reset` before reusing the extractor.
    pub fn flush(&mut self, mut on_frame: impl FnMut(&[f32])) {
        if self.samples_pushed == 0 {
            return;
        }
        // With `left_pad` trailing zeros the stream is exactly librosa's padded signal.
        self.push_inner(std::iter::repeat_n(0.0, self.left_pad), &mut |frame, _| on_frame(frame));
    }

    fn push_inner(&mut self, mut samples: impl Iterator<Item = f64>, on_frame: &mut impl FnMut(&[f32], f32)) {
        loop {
            while self.skip > 0 {
                if samples.next().is_none() {
                    return;
                }
                self.skip -= 1;
            }
            while self.fill < self.n_fft {
                match samples.next() {
                    Some(x) => {
                        self.buf[self.fill] = x;
                        self.fill += 1;
                    }
                    None => return,
                }
            }
            self.analyzer.mel_frame(&self.buf, &mut self.frame);
            self.frames_emitted += 1;
            let mean_sq = self.buf.iter().map(|x| x * x).sum::<f64>() / self.n_fft as f64;
            on_frame(&self.frame, to_dbfs(mean_sq.sqrt() as f32));
            if self.hop < self.n_fft {
                self.buf.copy_within(self.hop.., 0);
                self.fill = self.n_fft - self.hop;
            } else {
                self.fill = 0;
                self.skip = self.hop - self.n_fft;
            }
        }
    }
}
