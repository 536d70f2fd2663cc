//! Real-time-safe mono resampler for the plugin front end: a fixed-chunk rubato
//! `SincFixedIn` behind an input FIFO. Pass-through when the rates are equal.
//! Output sample j corresponds to input time j / ratio (measured: rubato 0.16's SincFixedIn
//! starts its read position half a filter early, so its `output_delay()` must NOT be
//! dropped; a test pins the alignment to < 1 output sample).
//! Everything is allocated in `new`; `process`/`reset` never allocate.

use super::spec::SpecError;
use rubato::{
    calculate_cutoff, Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};

/// Input samples per rubato call: small enough for low latency, large enough that
/// per-call overhead stays negligible (2.7 ms at 48 kHz).
pub const CHUNK: usize = 128;
const SINC_LEN: usize = 128;
const WINDOW: WindowFunction = WindowFunction::BlackmanHarris2;

pub struct StreamResampler {
    in_rate: f64,
    out_rate: f64,
    inner: Option<SincFixedIn<f32>>,
    in_buf: Vec<f32>,
    in_fill: usize,
    out_buf: Vec<f32>,
}

impl StreamResampler {
    /// Rates from 1 kHz to 768 kHz, e.g. 44100/48000/88200/96000/192000/11025/37800 -> 16000;
    /// anything else (0, negative, NaN, absurd) is an error.
    pub fn new(in_rate: f64, out_rate: f64) -> Result<Self, SpecError> {
        for (what, r) in [("host", in_rate), ("model", out_rate)] {
            if !(r.is_finite() && (1000.0..=768_000.0).contains(&r)) {
                return Err(SpecError(format!("{what} sample rate {r} Hz is outside 1000..768000 Hz")));
            }
        }
        let passthrough = (in_rate - out_rate).abs() < 1e-6 * out_rate;
        let inner = if passthrough {
            None
        } else {
            let params = SincInterpolationParameters {
                sinc_len: SINC_LEN,
                f_cutoff: calculate_cutoff(SINC_LEN, WINDOW),
                oversampling_factor: 256,
                interpolation: SincInterpolationType::Linear,
                window: WINDOW,
            };
            let r = SincFixedIn::<f32>::new(out_rate / in_rate, 1.0, params, CHUNK, 1)
                .map_err(|e| SpecError(format!("resampler {in_rate} -> {out_rate} Hz: {e}")))?;
            Some(r)
        };
        let out_len = inner.as_ref().map_or(0, |r| r.output_frames_max());
        Ok(Self { in_rate, out_rate, inner, in_buf: vec![0.0; CHUNK], in_fill: 0, out_buf: vec![0.0; out_len] })
    }

    pub fn ratio(&self) -> f64 {
        self.out_rate / self.in_rate
    }

    /// Worst-case input samples that must follow an input sample before the output at
    /// its time is delivered: FIFO fill (CHUNK - 1) plus the sinc filter's half length.
    pub fn latency_input_samples(&self) -> usize {
        match self.inner {
            None => 0,
            Some(_) => CHUNK - 1 + SINC_LEN / 2 + 1,
        }
    }

    pub fn reset(&mut self) {
        if let Some(r) = self.inner.as_mut() {
            r.reset();
        }
        self.in_fill = 0;
    }

    /// Feeds any number of samples; `out` receives the resampled output in pieces.
    pub fn process(&mut self, mut input: &[f32], mut out: impl FnMut(&[f32])) {
        let Some(inner) = self.inner.as_mut() else {
            if !input.is_empty() {
                out(input);
            }
            return;
        };
        while !input.is_empty() {
            let n = (CHUNK - self.in_fill).min(input.len());
            self.in_buf[self.in_fill..self.in_fill + n].copy_from_slice(&input[..n]);
            self.in_fill += n;
            input = &input[n..];
            if self.in_fill < CHUNK {
                break;
            }
            self.in_fill = 0;
            #[allow(clippy::expect_used, reason = "rubato fails only on wrong buffer sizes, fixed in new()")]
            let (_, produced) = inner
                .process_into_buffer(&[&self.in_buf[..]], &mut [&mut self.out_buf[..]], None)
                .expect("buffers sized in new");
            if produced > 0 {
                out(&self.out_buf[..produced]);
            }
        }
    }
}
