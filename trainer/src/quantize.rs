//! Static int8 calibration: activation ranges -> uint8 QDQ parameters.
//!
//! Ranges are min/max over calibration windows (training data), recorded at every point the
//! QDQ graph quantizes (see `onnx.rs`): normalized input, each block's ReLU output (shared
//! by its max pool) and the hidden dense ReLU. Weights are quantized per channel in `onnx.rs`.
use crate::weights::{CnnWeights, Trace};
use serde::{Deserialize, Serialize};

/// Per-tensor asymmetric uint8 parameters: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActParams {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActParams {
    /// The range is widened to include 0 so that zero (ReLU floor, padding) is exact.
    pub fn from_range(min: f32, max: f32) -> Self {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        Self { scale, zero_point }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationRanges {
    pub input: ActParams,
    pub blocks: Vec<ActParams>,
    pub hidden: ActParams,
}

/// Running min/max at each quantization point.
#[derive(Clone, Debug)]
pub struct RangeRecorder {
    input: (f32, f32),
    blocks: Vec<(f32, f32)>,
    hidden: (f32, f32),
    pub count: usize,
}

fn widen(r: &mut (f32, f32), v: &[f32]) {
    for &x in v {
        r.0 = r.0.min(x);
        r.1 = r.1.max(x);
    }
}

impl RangeRecorder {
    pub fn new(depth: usize) -> Self {
        let empty = (f32::INFINITY, f32::NEG_INFINITY);
        Self { input: empty, blocks: vec![empty; depth], hidden: empty, count: 0 }
    }

    pub fn record_input(&mut self, v: &[f32]) {
        widen(&mut self.input, v);
    }
    pub fn record_block(&mut self, i: usize, v: &[f32]) {
        widen(&mut self.blocks[i], v);
    }
    pub fn record_hidden(&mut self, v: &[f32]) {
        widen(&mut self.hidden, v);
    }

    pub fn record_trace(&mut self, t: &Trace) {
        self.record_input(&t.normalized);
        for (i, b) in t.block_relu.iter().enumerate() {
            self.record_block(i, b);
        }
        self.record_hidden(&t.hidden_relu);
        self.count += 1;
    }

    pub fn finish(&self) -> ActivationRanges {
        let p = |r: (f32, f32)| {
            if r.0 <= r.1 {
                ActParams::from_range(r.0, r.1)
            } else {
                ActParams::from_range(0.0, 1.0)
            }
        };
        ActivationRanges {
            input: p(self.input),
            blocks: self.blocks.iter().map(|&r| p(r)).collect(),
            hidden: p(self.hidden),
        }
    }
}

/// Calibrates with the reference forward pass (framework-free; used for test models and
/// whenever burn is not at hand).
pub fn calibrate<'a>(w: &CnnWeights, windows: impl IntoIterator<Item = &'a [f32]>) -> ActivationRanges {
    let mut rec = RangeRecorder::new(w.depth());
    for win in windows {
        rec.record_trace(&w.forward(win));
    }
    rec.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_map_to_uint8_with_zero_exact() {
        for (lo, hi) in [(-3.0f32, 5.0f32), (0.0, 7.0), (0.5, 2.0), (-4.0, -1.0)] {
            let p = ActParams::from_range(lo, hi);
            let q = |x: f32| ((x / p.scale).round() + p.zero_point as f32).clamp(0.0, 255.0);
            let dq = |q: f32| p.scale * (q - p.zero_point as f32);
            assert_eq!(dq(q(0.0)), 0.0);
            for x in [lo, hi, 0.5 * (lo + hi)] {
                assert!((dq(q(x)) - x).abs() <= 0.51 * p.scale, "{x} in [{lo}, {hi}]: {p:?}");
            }
        }
        // ReLU outputs get zero point 0, which lets ORT drop the Relu before a QuantizeLinear.
        assert_eq!(ActParams::from_range(0.0, 7.0).zero_point, 0);
    }
}
