//! Resource limits on what a model folder may ask for, each with its reason.
//!
//! A model folder is untrusted input: its manifest's numbers size the audio thread's buffers, the
//! frame queue, the analyzer's windows and the ONNX Runtime sessions, inside someone's DAW. Every
//! number is checked against these limits by model admission ([`crate::model::admission`]) before
//! anything is allocated from it; the front-end ones also by [`crate::features::FrontEndSpec::validate`],
//! which every feature constructor calls. The limits are generous (the shipped model and every model
//! the trainer writes sit far below them); what they keep out is a folder that would take the host
//! down (an allocation of a terabyte aborts the process) or make the audio thread miss its deadline.

/// One limit: the largest value admitted, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// What is limited, as a person reads it ("model sample rate (Hz)").
    pub what: &'static str,
    pub max: u64,
    pub reason: &'static str,
}

/// A value over its [`Limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} is {value}, more than the limit of {} ({})", limit.what, limit.max, limit.reason)]
pub struct LimitExceeded {
    pub limit: Limit,
    pub value: u64,
}

impl Limit {
    /// `Ok` when `value <= self.max`.
    pub fn check(&self, value: u64) -> Result<(), LimitExceeded> {
        if value <= self.max {
            Ok(())
        } else {
            Err(LimitExceeded { limit: *self, value })
        }
    }

    /// For derived float quantities (frames per second): rounded up, NaN counts as over.
    pub fn check_f64(&self, value: f64) -> Result<(), LimitExceeded> {
        if value <= self.max as f64 {
            Ok(())
        } else {
            let shown = if value.is_finite() { value.ceil() as u64 } else { u64::MAX };
            Err(LimitExceeded { limit: *self, value: shown })
        }
    }
}

/// Lowest model sample rate (the highest is [`MAX_SAMPLE_RATE`]).
pub const MIN_SAMPLE_RATE: u32 = 4_000;

pub const MAX_SAMPLE_RATE: Limit = Limit {
    what: "model sample rate (Hz)",
    max: 192_000,
    reason: "genre models run at 8 to 48 kHz; the resampler and every per-second buffer grow with the rate",
};

pub const MAX_N_FFT: Limit = Limit {
    what: "n_fft",
    max: 16_384,
    reason: "one STFT frame per hop runs on the audio thread; 16384 is a second of audio at 16 kHz",
};

pub const MAX_N_MELS: Limit = Limit {
    what: "n_mels",
    max: 512,
    reason: "the mel filterbank is built on the host's main thread at activation; models use 40 to 256",
};

pub const MAX_FRAMES_PER_SECOND: Limit = Limit {
    what: "frames per second (sample_rate / hop_length)",
    max: 1_000,
    reason: "every frame is an FFT on the audio thread and a slot in the frame queue; models use 20 to 100",
};

pub const MAX_STFT_SAMPLES_PER_SECOND: Limit = Limit {
    what: "STFT input per second (frames per second x n_fft)",
    max: 1 << 22,
    reason: "the audio thread's FFT work; the shipped model needs 32000, the first MFCC models 88200",
};

pub const MAX_WINDOW_FRAMES: Limit = Limit {
    what: "frames per model window",
    max: 8_192,
    reason: "the analyzer keeps a window of frames in several buffers; musicnn reads 187",
};

pub const MAX_WINDOW_VALUES: Limit = Limit {
    what: "values per model window (frames x values per frame)",
    max: 1 << 20,
    reason: "the analyzer holds about three windows (4 MiB each at this limit); musicnn reads 17952",
};

/// Seconds of frames the real-time frame queue holds (engine `queue_capacity`).
pub const QUEUE_SECONDS: f64 = 12.0;

pub const MAX_QUEUE_BYTES: Limit = Limit {
    what: "frame queue (bytes)",
    max: 32 << 20,
    reason: "allocated at activation on the host's thread; the shipped model's is 0.3 MB",
};

pub const MAX_MANIFEST_BYTES: Limit = Limit {
    what: "manifest.json size (bytes)",
    max: 1 << 20,
    reason: "read whole on the host's main thread at activation; the shipped manifest is 4 KiB",
};

pub const MAX_MODEL_BYTES: Limit = Limit {
    what: "model files in total (bytes)",
    max: 1 << 30,
    reason: "ONNX Runtime holds the whole model in the host's memory; the shipped model is 1.3 MB",
};

pub const MAX_MEMBERS: Limit = Limit {
    what: "ensemble members (heads)",
    max: 64,
    reason: "one ONNX Runtime session each, all run for every window; the shipped model has 2",
};

pub const MAX_TRUNK_OUTPUTS: Limit =
    Limit { what: "trunk outputs", max: 16, reason: "each is copied for every window; musicnn's trunk has 2" };

pub const MAX_TENSOR_DIM: Limit = Limit {
    what: "a tensor dimension (input shape or trunk output)",
    max: 1 << 20,
    reason: "trunk outputs are copied for every window and stored as embeddings; musicnn's largest is 200",
};

pub const MAX_TENSOR_RANK: Limit = Limit {
    what: "a tensor rank (dimensions of the model input)",
    max: 8,
    reason: "model inputs are [batch, frames, bands] or [batch, 1, frames, bands]",
};

pub const MAX_NAME_BYTES: Limit = Limit {
    what: "a name in the manifest (bytes)",
    max: 1_024,
    reason: "names are shown in the editor and in error messages",
};

/// Frames the real-time frame queue holds at `frames_per_second` ([`QUEUE_SECONDS`] of them).
pub fn queue_frames(frames_per_second: f64) -> usize {
    (frames_per_second * QUEUE_SECONDS).ceil() as usize
}

/// Every limit, for documentation and tests.
pub const ALL: [Limit; 15] = [
    MAX_SAMPLE_RATE,
    MAX_N_FFT,
    MAX_N_MELS,
    MAX_FRAMES_PER_SECOND,
    MAX_STFT_SAMPLES_PER_SECOND,
    MAX_WINDOW_FRAMES,
    MAX_WINDOW_VALUES,
    MAX_QUEUE_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
    MAX_MEMBERS,
    MAX_TRUNK_OUTPUTS,
    MAX_TENSOR_DIM,
    MAX_TENSOR_RANK,
    MAX_NAME_BYTES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_check_and_explain() {
        assert!(MAX_N_MELS.check(512).is_ok());
        let e = MAX_N_MELS.check(513).unwrap_err();
        assert_eq!(e.value, 513);
        let text = e.to_string();
        assert!(text.contains("n_mels is 513") && text.contains("512") && text.contains("main thread"), "{text}");
        assert!(MAX_FRAMES_PER_SECOND.check_f64(f64::NAN).is_err());
        assert!(MAX_FRAMES_PER_SECOND.check_f64(f64::INFINITY).is_err());
        assert_eq!(MAX_FRAMES_PER_SECOND.check_f64(1000.5).unwrap_err().value, 1001);
        assert!(MAX_FRAMES_PER_SECOND.check_f64(62.5).is_ok());
        for l in ALL {
            assert!(l.max > 0 && !l.reason.is_empty() && !l.what.is_empty());
        }
    }
}
