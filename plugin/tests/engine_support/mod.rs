//! Helpers shared by the conformance, stress and fault-injection tests (not the CLAP host itself,
//! which is `common/`).
#![allow(dead_code)]

use genrescope_core::features::FrontEndSpec;
pub use genrescope_testkit::scratch_dir;
use genrescope_testkit::TinyModel;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const CC_BASE: u8 = 20; // the plugin's default "First CC"
pub const TOP_CC: u8 = CC_BASE + 10;

/// A busy, music-like stereo signal: a few partials with vibrato, a pulsing noise "drum".
pub fn music(rate: f64, start: usize, frames: usize, seed: &mut u64) -> Vec<Vec<f32>> {
    let mut l = Vec::with_capacity(frames);
    let mut r = Vec::with_capacity(frames);
    for i in start..start + frames {
        let t = i as f64 / rate;
        let vib = 1.0 + 0.01 * (2.0 * std::f64::consts::PI * 5.0 * t).sin();
        let tone: f64 =
            [220.0, 277.2, 329.6, 440.0].iter().map(|f| (2.0 * std::f64::consts::PI * f * vib * t).sin() * 0.12).sum();
        let beat = (-((t * 2.0).fract() * 20.0)).exp() as f32;
        l.push(tone as f32 + 0.3 * beat * noise(seed));
        r.push(tone as f32 * 0.8 + 0.3 * beat * noise(seed));
    }
    vec![l, r]
}

/// xorshift64 white noise in [-1, 1).
pub fn noise(seed: &mut u64) -> f32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Uniform in 1..=max.
pub fn rand_block(rng: &mut u64, max: usize) -> usize {
    *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    1 + (*rng >> 33) as usize % max
}

/// Bitwise equality, so NaN payloads and -0.0 count too.
pub fn assert_bit_exact(input: &[Vec<f32>], output: &[Vec<f32>], what: &str) {
    assert_eq!(input.len(), output.len(), "{what}: channel count");
    for (ch, (i, o)) in input.iter().zip(output).enumerate() {
        assert_eq!(i.len(), o.len(), "{what}: channel {ch} length");
        if let Some(n) = i.iter().zip(o).position(|(a, b)| a.to_bits() != b.to_bits()) {
            panic!("{what}: channel {ch} sample {n}: in {:e} out {:e}", i[n], o[n]);
        }
    }
}

/// A random-weight model shaped like the shipped one (musicnn front end, a trunk and 2 heads),
/// written once per test process.
pub fn test_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_dir("model");
        TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).seed(11).write(&dir).expect("write test model");
        dir
    })
}

/// [`test_model`] with the out-of-set class (threshold 0.5): bright tones
/// ([`genrescope_testkit::bright_tones`]) are "other", [`music`] is not.
pub fn oos_test_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_dir("model-oos");
        TinyModel::new(FrontEndSpec::musicnn())
            .with_trunk(2)
            .seed(11)
            .out_of_set(0.5)
            .write(&dir)
            .expect("write test model");
        dir
    })
}

/// A test model with the first models' front end (MFCC at 22050 Hz, no trunk).
pub fn mfcc_test_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_dir("model-mfcc");
        TinyModel::new(FrontEndSpec::gtzan_mfcc()).seed(12).write(&dir).expect("write test model");
        dir
    })
}

/// A valid model whose trunk carries `pad` bytes of (legitimate) ONNX metadata, which the
/// checksum stage and ONNX Runtime both read: a model that takes a while to load (about 10 ms per
/// MB on the dev machine, most of it in one ONNX Runtime session build).
pub fn padded_model(name: &str, pad: usize) -> PathBuf {
    let dir = scratch_dir(name);
    let mut m = TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).seed(3).write(&dir).unwrap();
    let trunk = dir.join("trunk.onnx");
    let mut bytes = std::fs::read(&trunk).unwrap();
    // ModelProto.metadata_props (field 14) = StringStringEntryProto { key (1), value (2) }.
    let mut entry = vec![0x0a, 3];
    entry.extend_from_slice(b"pad");
    entry.push(0x12);
    varint(&mut entry, pad as u64);
    entry.resize(entry.len() + pad, b' ');
    bytes.push(14 << 3 | 2);
    varint(&mut bytes, entry.len() as u64);
    bytes.extend_from_slice(&entry);
    std::fs::write(&trunk, &bytes).unwrap();
    m.trunk.as_mut().unwrap().sha256 = genrescope_core::sha256_hex(&bytes);
    m.write(&dir, genrescope_core::model::MANIFEST_FILE).unwrap();
    dir
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A fresh instance of `host`'s plugin reading its model from `dir`.
pub fn instance_with_model(host: &crate::common::TestHost, dir: &Path) -> crate::common::Instance {
    let mut inst = host.instantiate();
    inst.set_model_dir(dir);
    inst
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// OS threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// Names of this process's threads (for diagnostics).
pub fn thread_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Resident set size of this process in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of this process in seconds.
// unsafe: getrusage has no std wrapper.
#[allow(unsafe_code)]
pub fn process_cpu_s() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall writing into a zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (user + system) of the threads whose name starts with `name` (from /proc/self/task/*/stat), seconds.
// unsafe: sysconf (the clock tick) has no std wrapper.
#[allow(unsafe_code)]
pub fn threads_cpu_s(name: &str) -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    dir.filter_map(|e| {
        let p = e.ok()?.path();
        let comm = std::fs::read_to_string(p.join("comm")).ok()?;
        if !comm.trim().starts_with(name) {
            return None;
        }
        let stat = std::fs::read_to_string(p.join("stat")).ok()?;
        // Fields after the ")" that closes the name: state is field 3; utime, stime are 14, 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / tick)
    })
    .sum()
}
