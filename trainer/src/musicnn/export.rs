//! The trunk as it ships: int8 calibration of the timbral convs, the three graphs (whole windows,
//! and the streaming split's per-frame and per-window halves) and their manifest entry.
//!
//! Calibration is min/max over the calibration windows, from a float graph of the same layout
//! ([`TrunkOnnxOptions::ranges`]): the timbral convs' input, and for each timbral conv's output
//! only the values its max over frequency can pick that change the result. After the max come
//! the ±1 "unsign", ReLU and BN: a channel with a positive sign only needs `[0, largest max]`
//! (below 0 the ReLU gives 0 anyway), one with a negative sign (its conv negated) only `[smallest
//! max, 0]`, and an element below every max it competes with never is the max. So the output
//! range is `[min over negative channels of their max, max over positive channels of their
//! max]`: exact on the calibration windows (clipping outside it changes no result there), and far
//! narrower than the elements' own min/max (measured on GTZAN: −143…50 → see REPORT.md).
use super::onnx::{
    frame_channels, frame_context, range_outputs, timbral_layers, trunk_part_to_onnx, Int8Timbral, TrunkOnnxOptions,
    TrunkPart, FRAME_FEATURES, INPUT_NAME, INPUT_SHAPE,
};
use super::weights::MusicnnWeights;
use crate::inference::run_outputs;
use genrescope_core::model::{ModelFile, Quantization, StreamingSplit, TrunkEntry, TrunkOutput};
use genrescope_onnx_graph::ActParams;
use std::path::Path;

/// x86 CPUs without VNNI multiply u8 activations by s8 weights in pairs summed into int16
/// (`vpmaddubsw`), which saturates past 32767 = 2·127·129: one of the two must lose a bit, or
/// results depend on the CPU. Measured on the timbral convs (GTZAN fold-B windows, penultimate
/// RMS error vs fp32; AVX2 kernels forced with tools/cpuid-mask): 8-bit weights and input 2.3 %
/// with VNNI but 21 % on AVX2 (saturated); 7-bit weights 5.5 % on both; **8-bit weights with a
/// 7-bit input (clipped to its calibrated range) 2.6 % on both, to the bit**. The input is what
/// ships: 8-bit weights ...
pub const WEIGHT_MAX: f32 = 127.0;
/// ... and the input on `0..=127`.
pub const INPUT_TOP: u8 = 127;

/// Calibrated int8 parameters of the timbral convs from `windows` (each `window_len` values).
pub fn calibrate(
    w: &MusicnnWeights,
    windows: &[f32],
    window_len: usize,
    work: &Path,
    threads: usize,
    weight_max: f32,
    input_top: u8,
) -> anyhow::Result<Int8Timbral> {
    let opts = TrunkOnnxOptions { abs_scale_rewrite: true, ranges: true, ..Default::default() };
    let file = work.join("trunk_ranges.onnx");
    std::fs::create_dir_all(work)?;
    std::fs::write(&file, trunk_part_to_onnx(w, &opts, TrunkPart::Whole)?)?;
    let outs = range_outputs(w);
    let r = run_outputs(&file, INPUT_NAME, &INPUT_SHAPE, &outs, windows, window_len, threads)?;
    let stride: usize = outs.iter().map(|o| o.1).sum();
    anyhow::ensure!(!r.is_empty(), "no calibration windows");
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for row in r.chunks_exact(stride) {
        lo = lo.min(row[0]);
        hi = hi.max(row[1]);
    }
    let input = ActParams::from_range_levels(lo, hi, input_top);
    let mut outputs = Vec::new();
    let mut off = 2;
    for c in w.front.iter().take(outs.len() - 1) {
        let n = c.out_channels();
        // The BN's sign after the |a| rewrite: negative channels have their conv negated.
        let negative: Vec<bool> = c.bn.a.iter().map(|&a| a < 0.0).collect();
        let (mut lo, mut hi) = (0.0f32, 0.0f32);
        for row in r.chunks_exact(stride) {
            for (k, &neg) in negative.iter().enumerate() {
                if neg {
                    lo = lo.min(row[off + k]);
                } else {
                    hi = hi.max(row[off + n + k]);
                }
            }
        }
        outputs.push(ActParams::from_range(lo, hi));
        off += 2 * n;
    }
    Ok(Int8Timbral { input, outputs, weight_max, input_top })
}

/// The graphs of one trunk.
pub struct TrunkGraphs {
    pub whole: Vec<u8>,
    pub frames: Vec<u8>,
    pub window: Vec<u8>,
    pub quantization: Quantization,
    pub quantized_layers: Vec<String>,
    pub channels: usize,
    pub context: usize,
}

/// The trunk's three graphs: fp32 (`int8 = None`) or with the timbral convs in int8. fp32 uses
/// the plain BN layout (today's numbers); int8 the |a| rewrite its calibration assumes.
pub fn graphs(w: &MusicnnWeights, int8: Option<&Int8Timbral>) -> anyhow::Result<TrunkGraphs> {
    let opts = TrunkOnnxOptions { abs_scale_rewrite: int8.is_some(), int8: int8.cloned(), ..Default::default() };
    Ok(TrunkGraphs {
        whole: trunk_part_to_onnx(w, &opts, TrunkPart::Whole)?,
        frames: trunk_part_to_onnx(w, &opts, TrunkPart::Frames)?,
        window: trunk_part_to_onnx(w, &opts, TrunkPart::Window)?,
        quantization: if int8.is_some() { Quantization::Int8Qdq } else { Quantization::Fp32 },
        quantized_layers: if int8.is_some() { timbral_layers(w) } else { Vec::new() },
        channels: frame_channels(w),
        context: frame_context(w),
    })
}

impl TrunkGraphs {
    /// Writes `<prefix>.onnx`, `<prefix>_frames.onnx`, `<prefix>_window.onnx` into `dir`; returns
    /// the manifest entry (`streaming`: whether it names the split, which needs a frame-causal
    /// normalization).
    pub fn write(
        &self,
        dir: &Path,
        prefix: &str,
        outputs: &[(String, usize)],
        origin: Option<String>,
        streaming: bool,
    ) -> anyhow::Result<TrunkEntry> {
        std::fs::create_dir_all(dir)?;
        let write = |suffix: &str, bytes: &[u8]| -> anyhow::Result<ModelFile> {
            let file = format!("{prefix}{suffix}.onnx");
            std::fs::write(dir.join(&file), bytes)?;
            Ok(ModelFile { file, sha256: genrescope_core::sha256_hex(bytes) })
        };
        let whole = write("", &self.whole)?;
        let split = if streaming {
            Some(StreamingSplit {
                frames: write("_frames", &self.frames)?,
                window: write("_window", &self.window)?,
                frame_output: FRAME_FEATURES.into(),
                channels: self.channels,
                context: self.context,
            })
        } else {
            None
        };
        Ok(TrunkEntry {
            file: whole.file,
            sha256: whole.sha256,
            quantization: self.quantization,
            outputs: outputs.iter().map(|(n, d)| TrunkOutput { name: n.clone(), dim: *d }).collect(),
            origin,
            quantized_layers: self.quantized_layers.clone(),
            streaming: split,
        })
    }
}
