//! Shared by the library's tests and the CLI's library tests (included by path): generated WAVs,
//! tiny testkit models, the shared GTZAN clips when present, and row checks.
#![allow(dead_code)]
use genrescope_core::features::FrontEndSpec;
use std::path::{Path, PathBuf};

pub fn ort_available() -> bool {
    match genrescope_core::runtime::init_onnx_runtime() {
        Ok(_) => true,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI: no ONNX Runtime: {e}");
            eprintln!("SKIPPED (no ONNX Runtime): {e}");
            false
        }
    }
}

/// A random-weight model with a trunk (so an embedding) and 2 heads; another seed is another model.
pub fn model(dir: &Path, seed: u64) -> PathBuf {
    let d = dir.join(format!("model-{seed}"));
    genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).seed(seed).write(&d).unwrap();
    d
}

/// A model without a trunk: no embedding.
pub fn model_without_embedding(dir: &Path) -> PathBuf {
    let d = dir.join("model-no-embedding");
    genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn()).members(2).seed(3).write(&d).unwrap();
    d
}

/// Deterministic "music" whose spectrum depends on `voice` (so the random model tells files
/// apart): harmonic voices with tremolo plus a little noise, about -15 dBFS.
pub fn music(rate: u32, seconds: f32, n_ch: usize, voice: u32) -> Vec<Vec<f32>> {
    let n = (rate as f32 * seconds) as usize;
    let f0 = 55.0 * (1.0 + voice as f32 * 0.37);
    let noise_gain = 0.02 + 0.03 * (voice % 5) as f32;
    let mut seed = 0x1234_5678u32.wrapping_add(voice);
    (0..n_ch)
        .map(|c| {
            (0..n)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let voices: f32 = (1..=(2 + voice % 4))
                        .map(|k| (std::f32::consts::TAU * f0 * k as f32 * (1.0 + c as f32 * 0.01) * t).sin() / k as f32)
                        .sum();
                    let tremolo = 0.6 + 0.4 * (std::f32::consts::TAU * (1.0 + voice as f32 * 0.5) * t).sin();
                    0.12 * voices * tremolo + noise_gain * noise
                })
                .collect()
        })
        .collect()
}

pub use genrescope_testkit::wav_bytes;

pub fn write_wav(path: &Path, rate: u32, channels: &[Vec<f32>]) -> PathBuf {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, wav_bytes(rate, channels)).unwrap();
    path.to_path_buf()
}

/// Up to `n` shared GTZAN clips (`$GENRESCOPE_GTZAN` or `<workspace>/../shared/datasets/gtzan`),
/// one per genre; none (with a note) where the data is not there.
pub fn gtzan_clips(n: usize) -> Vec<PathBuf> {
    let root = std::env::var_os("GENRESCOPE_GTZAN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/gtzan"));
    let clips: Vec<PathBuf> = genrescope_core::labels::GENRES
        .iter()
        .filter_map(|g| {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(root.join(g)).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
            files.sort();
            files.into_iter().next()
        })
        .take(n)
        .collect();
    if clips.is_empty() {
        eprintln!("note: no GTZAN clips under {}: generated audio only", root.display());
    }
    clips
}

/// Sets a file's mtime `secs` seconds later than it is, so a change is seen whatever the
/// filesystem's timestamp granularity.
pub fn bump_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let t = f.metadata().unwrap().modified().unwrap() + std::time::Duration::from_secs(secs);
    f.set_modified(t).unwrap();
}

/// The canonical path string the library stores for a file (which may be gone by now).
pub fn stored(path: &Path) -> String {
    let abs = std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::fs::canonicalize(path.parent().unwrap()).unwrap().join(path.file_name().unwrap()));
    abs.to_str().unwrap().to_owned()
}

/// Waits for `cond` (polling), failing after `secs` seconds: a hang guard, not a timing assumption.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "gave up after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
