//! Engine benchmarks (numbers in BENCHMARKS.md, "Plugin engine"):
//! - audio thread: `AudioFrontEnd::process` + `MidiOut::emit` per host block, both front ends;
//! - analysis thread: one prediction (window transform + trunk once + members + vote), and the
//!   trunk alone;
//! - offline `analyze` of a 30 s clip (GTZAN blues.00042 if present, else synthetic).
//!
//! Models: the shipped `models/` (when `models/manifest.json` exists) and testkit's tiny
//! random-weight models (plumbing cost only). Run pinned to one core, short:
//! `taskset -c 1 cargo bench -p genrescope --bench engine -- --measurement-time 3 --warm-up-time 1`
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use genrescope::midi::{MidiConfig, MidiOut};
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::{FeatureTransform, FrontEndSpec};
use genrescope_core::model::Ensemble;
use genrescope_engine::frontend::queue_capacity;
use genrescope_engine::{frame_queue, AudioFrontEnd, Claim, HistoryPoint, OfflineEngine, OfflineSettings, SharedState};
use genrescope_testkit::TinyModel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn music(rate: f64, frames: usize) -> Vec<Vec<f32>> {
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let (mut l, mut r) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    for i in 0..frames {
        let t = i as f64 / rate;
        let tone: f64 = [220.0, 277.2, 329.6, 440.0].iter().map(|f| (std::f64::consts::TAU * f * t).sin() * 0.12).sum();
        let beat = (-((t * 2.0).fract() * 20.0)).exp() as f32;
        l.push(tone as f32 + 0.3 * beat * noise());
        r.push(tone as f32 * 0.8 + 0.3 * beat * noise());
    }
    vec![l, r]
}

fn audio_thread(c: &mut Criterion) {
    for (tag, cfg) in [("musicnn", FrontEndSpec::musicnn()), ("mfcc", FrontEndSpec::gtzan_mfcc())] {
        for rate in [44_100.0f32, 48_000.0, 96_000.0] {
            let signal = music(rate as f64, rate as usize * 10);
            let mut g = c.benchmark_group(format!("audio_thread_{tag}_{}k", rate / 1000.0));
            for block in [64usize, 512] {
                let shared = Arc::new(SharedState::default());
                // A genre is being claimed, so emit() does its full work every block.
                let mut probs = [0.05f32; 10];
                probs[3] = 0.55;
                shared.publish(HistoryPoint { time_s: 3.0, probs, other: 0.0, claim: Claim::Genre(3) }, -12.0);
                let (sender, mut receiver) = frame_queue(cfg.mel_dim(), queue_capacity(&cfg));
                let mut fe = AudioFrontEnd::new(&cfg, rate, block, sender).unwrap();
                let mut midi = MidiOut::default();
                let mcfg = MidiConfig { cc: true, program_change: true, ..MidiConfig::default() };
                let mut pos = 0usize;
                let mut sent = 0u32;
                g.throughput(Throughput::Elements(block as u64));
                g.bench_function(BenchmarkId::new("frontend+midi", block), |b| {
                    b.iter(|| {
                        if pos + block > signal[0].len() {
                            pos = 0;
                        }
                        let chans = [&signal[0][pos..pos + block], &signal[1][pos..pos + block]];
                        fe.process(&chans);
                        midi.emit(&shared, &mcfg, rate, block, |_| sent = sent.wrapping_add(1));
                        pos += block;
                        // The analysis thread's side: free the queue (O(1)), so no frame is dropped.
                        receiver.clear();
                    })
                });
                assert_eq!(receiver.dropped(), 0);
                std::hint::black_box(sent);
            }
            g.finish();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("genrescope-bench").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (label, model dir) of every model to measure.
fn models() -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for (label, spec, trunk) in
        [("tiny-mfcc", FrontEndSpec::gtzan_mfcc(), false), ("tiny-trunk", FrontEndSpec::musicnn(), true)]
    {
        let dir = scratch(label);
        let t = TinyModel::new(spec).members(3);
        let t = if trunk { t.with_trunk(3) } else { t };
        t.write(&dir).unwrap();
        v.push((label.to_string(), dir));
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    if shipped.join("manifest.json").is_file() {
        v.push(("shipped".into(), shipped));
    } else {
        eprintln!("models/manifest.json absent: only random-weight models measured");
    }
    v
}

/// A window of mel power frames shaped like music (a few loud bands, a tilt), for `spec`.
fn mel_window(spec: &FrontEndSpec, frames: usize) -> Vec<f32> {
    let dim = spec.mel_dim();
    (0..frames * dim).map(|i| 1e-3 * (1.0 + ((i * 7919) % 97) as f32) / (1.0 + (i % dim) as f32)).collect()
}

fn analysis(c: &mut Criterion) {
    let mut g = c.benchmark_group("analysis_prediction");
    for (label, dir) in models() {
        let mut e = Ensemble::load(&dir).expect("load model");
        let m = e.manifest().clone();
        let mel = mel_window(&m.front_end, m.input.window_frames);
        let mut t = FeatureTransform::new(&m.front_end).unwrap();
        let mut w = vec![0.0; m.window_len()];
        let n = e.num_members();
        // What the analysis thread does per prediction: transform the window, run the model.
        g.bench_function(BenchmarkId::new(format!("{label}-x{n}"), n), |b| {
            b.iter(|| {
                t.apply(std::hint::black_box(&mel), &mut w);
                e.predict(&w).unwrap()
            })
        });
        if m.trunk.is_some() {
            t.apply(&mel, &mut w);
            g.bench_function(BenchmarkId::new(format!("{label}-trunk"), 1), |b| {
                b.iter(|| e.run_trunk(std::hint::black_box(&w)).unwrap())
            });
        }
    }
    g.finish();
}

fn clip() -> (DecodedAudio, String) {
    let p = std::env::var_os("GTZAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/gtzan"))
        .join("blues/blues.00042.ogg");
    match genrescope_core::audio_file::decode_file(&p) {
        Ok(a) => (a, "blues.00042 (22.05 kHz mono)".into()),
        Err(_) => {
            let channels = music(44_100.0, 44_100 * 30);
            (
                DecodedAudio { sample_rate: 44_100, channels, warnings: vec![] },
                "synthetic 30 s (44.1 kHz stereo)".into(),
            )
        }
    }
}

fn offline(c: &mut Criterion) {
    let (audio, what) = clip();
    let secs = audio.num_frames() as f64 / audio.sample_rate as f64;
    eprintln!("offline: {what}, {secs:.1} s");
    let mut g = c.benchmark_group("offline_analyze");
    g.sample_size(10);
    for (label, dir) in models() {
        let mut engine = OfflineEngine::new(&dir).unwrap();
        let settings = OfflineSettings::default();
        g.bench_function(BenchmarkId::new(label, format!("{secs:.0}s")), |b| {
            b.iter_batched(|| (), |_| engine.analyze(&audio, &settings).unwrap().len(), BatchSize::PerIteration)
        });
    }
    g.finish();
}

criterion_group!(benches, audio_thread, analysis, offline);
criterion_main!(benches);
