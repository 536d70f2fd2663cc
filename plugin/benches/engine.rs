//! Engine benchmarks (numbers in BENCHMARKS.md, "Plugin engine"):
//! - audio thread: `AudioFrontEnd::process` + `MidiCcOut::emit` per host block at 48 kHz;
//! - analysis thread: one ensemble prediction (fp32 vs int8, whole ensemble and one member);
//! - offline `analyze` of a 30 s clip (GTZAN blues.00042 if present, else synthetic).
//!
//! The model is `random_test_model` (random weights, seed-size CNN); the shipped `models/` is used
//! as well when `models/manifest.json` exists. Run pinned to one core, short:
//! `taskset -c 1 cargo bench -p genrescope --bench engine -- --measurement-time 3 --warm-up-time 1`
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use genrescope::frontend::{queue_capacity, AudioFrontEnd};
use genrescope::midi::MidiCcOut;
use genrescope::offline::{OfflineEngine, OfflineSettings};
use genrescope::shared::{HistoryPoint, SharedState};
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::FeatureConfig;
use genrescope_core::model::Ensemble;
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
    let cfg = FeatureConfig::default();
    let rate = 48_000.0;
    let signal = music(rate as f64, 48_000 * 10);
    let mut g = c.benchmark_group("audio_thread_48k");
    for block in [64usize, 512] {
        let shared = Arc::new(SharedState::default());
        // A genre is being claimed, so emit() does its full work every block.
        let mut probs = [0.05f32; 10];
        probs[3] = 0.55;
        shared.publish(HistoryPoint { time_s: 3.0, probs, top: Some(3) }, -12.0);
        let (producer, mut consumer) = rtrb::RingBuffer::new(queue_capacity(&cfg));
        let mut fe = AudioFrontEnd::new(&cfg, rate, block, producer, shared.clone());
        let mut midi = MidiCcOut::default();
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
                midi.emit(&shared, 0, 20, |_, _, v| sent = sent.wrapping_add(v as u32));
                pos += block;
                // The analysis thread's side: free the queue (O(1)), so no frame is dropped.
                if let Ok(ch) = consumer.read_chunk(consumer.slots()) {
                    ch.commit_all();
                }
            })
        });
        assert_eq!(shared.dropped_frames.load(std::sync::atomic::Ordering::Relaxed), 0);
        std::hint::black_box(sent);
    }
    g.finish();
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("genrescope-bench").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (label, model dir) of every model to measure.
fn models() -> Vec<(String, PathBuf)> {
    let cfg = FeatureConfig::default();
    let mut v = Vec::new();
    for (label, quantized) in [("random-fp32", false), ("random-int8", true)] {
        let dir = scratch(label);
        genrescope_trainer::export::random_test_model(&dir, &cfg, 3, quantized, 42).unwrap();
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

fn window(cfg: &FeatureConfig) -> Vec<f32> {
    let dim = cfg.frame_dim();
    (0..cfg.window_frames * dim)
        .map(|i| if i % dim == 0 { -250.0 + (i % 97) as f32 } else { ((i * 7919) % 120) as f32 - 60.0 })
        .collect()
}

fn analysis(c: &mut Criterion) {
    let cfg = FeatureConfig::default();
    let w = window(&cfg);
    let mut g = c.benchmark_group("analysis_prediction");
    for (label, dir) in models() {
        let mut e = Ensemble::load(&dir, &cfg).expect("load model");
        let n = e.num_members();
        g.bench_function(BenchmarkId::new(format!("{label}-ensemble-x{n}"), n), |b| {
            b.iter(|| e.predict(std::hint::black_box(&w)).unwrap())
        });
        g.bench_function(BenchmarkId::new(format!("{label}-member0"), 1), |b| {
            b.iter(|| e.predict_member(0, std::hint::black_box(&w)).unwrap())
        });
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
            (DecodedAudio { sample_rate: 44_100, channels, warnings: vec![] }, "synthetic 30 s (44.1 kHz stereo)".into())
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
