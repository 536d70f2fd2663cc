//! Signals and comparisons shared by the features tests. The generators are the same
//! formulas as tools/librosa_ref.py, so the librosa references need no stored audio.
#![allow(dead_code)]

pub const SR: f64 = 22050.0;

pub fn sine(freq: f64, rate: f64, n: usize, amp: f64) -> Vec<f32> {
    (0..n).map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as f32).collect()
}

/// Linear chirp f0 -> f1 over the whole length.
pub fn chirp(f0: f64, f1: f64, rate: f64, n: usize, amp: f64) -> Vec<f32> {
    let dur = n as f64 / rate;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let ph = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * dur));
            (amp * ph.sin()) as f32
        })
        .collect()
}

/// 64-bit LCG, top 24 bits -> uniform [-0.25, 0.25); exact in f32, same as the Python side.
pub fn lcg_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
        })
        .collect()
}

/// Largest `|a-b| / max(|a|, |b|, floor)`: relative error, with an absolute floor
/// (in the values' unit, dB) so near-zero coefficients are not judged relatively.
pub fn max_rel_err(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(&x, &y)| (x - y).abs() / x.abs().max(y.abs()).max(floor)).fold(0.0, f32::max)
}

pub fn max_abs_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(&x, &y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn read_f32le(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

use genrescope_core::features::{extract_features, extract_mel, FeatureOutput, FrontEndSpec};

/// The first models' MFCC front end (librosa defaults at 22050 Hz).
pub fn mfcc_spec() -> FrontEndSpec {
    FrontEndSpec::gtzan_mfcc()
}

/// The same front end with log-mel (dB) output instead of MFCC.
pub fn as_logmel(spec: &FrontEndSpec) -> FrontEndSpec {
    FrontEndSpec { output: FeatureOutput::LogMel, ..spec.clone() }
}

/// Model-input features of a whole signal (one window).
pub fn features(spec: &FrontEndSpec, signal: &[f32]) -> Vec<f32> {
    extract_features(spec, signal).unwrap()
}

/// Mel power frames of a whole signal (what the streaming paths emit).
pub fn mel(spec: &FrontEndSpec, signal: &[f32]) -> Vec<f32> {
    extract_mel(spec, signal).unwrap()
}
