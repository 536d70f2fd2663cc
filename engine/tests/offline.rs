//! The offline driver against the model directly: the engine's predictions are exactly what the
//! front end + model compute for the same audio, for any block size, for trunk models too, and
//! v1 model folders give what the engine that wrote them gave.
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::{extract_mel_at_rate, FeatureTransform, FrontEndSpec};
use genrescope_core::model::Ensemble;
use genrescope_engine::EngineError::{Setting, ZeroBlock};
use genrescope_engine::{file_verdict, OfflineEngine, OfflineSettings};
use genrescope_testkit::{scratch_dir, TinyModel};
use std::path::Path;

/// A busy, music-like signal at `rate`: partials with vibrato and a noise pulse, stereo.
fn music(rate: f64, seconds: f64) -> DecodedAudio {
    let n = (rate * seconds) as usize;
    let mut seed = 0x1234_5678u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let (mut l, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let t = i as f64 / rate;
        let vib = 1.0 + 0.01 * (2.0 * std::f64::consts::PI * 5.0 * t).sin();
        let f0 = if t % 4.0 < 2.0 { 220.0 } else { 330.0 };
        let tone: f64 =
            [1.0, 1.26, 1.5, 2.0].iter().map(|k| (2.0 * std::f64::consts::PI * f0 * k * vib * t).sin() * 0.1).sum();
        let beat = (-((t * 2.0).fract() * 20.0)).exp() as f32;
        l.push(tone as f32 + 0.3 * beat * noise());
        r.push(tone as f32 * 0.8 + 0.3 * beat * noise());
    }
    DecodedAudio { sample_rate: rate as u32, channels: vec![l, r], warnings: vec![] }
}

fn settings(block: usize, hop_s: Option<f32>) -> OfflineSettings {
    OfflineSettings { block, smoothing_s: 0.0, hop_s, gate_db: -60.0 }
}

/// What the predictions must be: the same frames (host-rate pipeline), windows every `hop`
/// frames, transform, model.
fn reference(model_dir: &Path, audio: &DecodedAudio, hop_frames: usize) -> Vec<[f32; 10]> {
    let mut ens = Ensemble::load(model_dir).unwrap();
    let m = ens.manifest().clone();
    let spec = &m.front_end;
    let (mel, _) = extract_mel_at_rate(spec, &audio.to_mono(), audio.sample_rate as f32).unwrap();
    let mut t = FeatureTransform::new(spec).unwrap();
    let (dim, frames) = (spec.mel_dim(), m.input.window_frames);
    let n = mel.len() / dim;
    let mut window = vec![0.0; m.window_len()];
    let mut out = Vec::new();
    let mut end = frames;
    while end <= n {
        t.apply(&mel[(end - frames) * dim..end * dim], &mut window);
        out.push(ens.predict(&window).unwrap());
        end += hop_frames;
    }
    out
}

#[test]
fn predictions_equal_front_end_plus_model_for_any_block_size() {
    for (name, spec, trunk) in [
        ("mfcc", FrontEndSpec::gtzan_mfcc(), false),
        ("musicnn", FrontEndSpec::musicnn(), false),
        ("musicnn-trunk", FrontEndSpec::musicnn(), true),
    ] {
        let dir = scratch_dir(&format!("offline-{name}"));
        let tiny = TinyModel::new(spec.clone());
        let tiny = if trunk { tiny.with_trunk(3) } else { tiny };
        let manifest = tiny.write(&dir).unwrap();
        let mut engine = OfflineEngine::new(&dir).unwrap();
        assert_eq!(engine.num_members(), manifest.members.len());
        for rate in [22050.0, 44100.0, 48000.0] {
            let audio = music(rate, 9.0);
            let hop_s = 0.5f32;
            let hop_frames = (hop_s as f64 * spec.frames_per_second()).round() as usize;
            let want = reference(&dir, &audio, hop_frames);
            assert!(want.len() >= 10, "{name} {rate}: {} windows", want.len());
            let mut first = None;
            for block in [64, 333, 512, 1024, 4096] {
                let got = engine.analyze(&audio, &settings(block, Some(hop_s))).unwrap();
                assert_eq!(got.len(), want.len(), "{name} {rate} Hz block {block}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(g.top.is_some());
                    for (a, b) in g.raw.iter().zip(w) {
                        assert!((a - b).abs() < 1e-6, "{name} {rate} Hz block {block}: {a} vs {b}");
                    }
                    assert_eq!(g.embedding.is_some(), trunk, "{name}: embedding only with a trunk");
                }
                // Block size changes nothing at all.
                let raws: Vec<_> = got.iter().map(|p| p.raw).collect();
                match &first {
                    None => first = Some(raws),
                    Some(f) => assert_eq!(f, &raws, "{name} {rate} Hz block {block}"),
                }
            }
        }
        // Default hop: the model's window, windows side by side.
        let audio = music(44100.0, 12.0);
        let got = engine.analyze(&audio, &OfflineSettings { block: 512, ..OfflineSettings::default() }).unwrap();
        let window_s = manifest.window_seconds();
        assert_eq!(got.len(), reference(&dir, &audio, manifest.input.window_frames).len(), "{name}");
        let gap = got[1].time_s - got[0].time_s;
        assert!((gap - window_s).abs() < 0.02, "{name}: hop {gap} vs window {window_s}");
        assert!(file_verdict(&got).is_some());
    }
}

#[test]
fn silence_is_gated_and_bad_settings_are_refused() {
    let dir = scratch_dir("offline-gate");
    TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let mut engine = OfflineEngine::new(&dir).unwrap();
    let silent = DecodedAudio { sample_rate: 48000, channels: vec![vec![0.0; 48000 * 8]], warnings: vec![] };
    let p = engine.analyze(&silent, &settings(512, Some(1.0))).unwrap();
    assert!(!p.is_empty() && p.iter().all(|p| p.top.is_none() && p.raw == [0.0; 10]));
    assert_eq!(file_verdict(&p), None);
    assert!(matches!(engine.analyze(&silent, &OfflineSettings { block: 0, ..settings(512, None) }), Err(ZeroBlock)));
    for (bad, name) in [
        (OfflineSettings { hop_s: Some(0.0), ..settings(512, None) }, "Update interval"),
        (OfflineSettings { smoothing_s: f32::NAN, ..settings(512, None) }, "Smoothing"),
        (OfflineSettings { gate_db: 10.0, ..settings(512, None) }, "Gate"),
    ] {
        match engine.analyze(&silent, &bad) {
            Err(Setting(e)) => assert_eq!(e.setting.name, name, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let empty = DecodedAudio { sample_rate: 48000, channels: vec![], warnings: vec![] };
    assert!(engine.analyze(&empty, &settings(512, None)).is_err());
    // A huge block still works: the queue is sized for it.
    let audio = music(48000.0, 8.0);
    let a = engine.analyze(&audio, &settings(1 << 18, Some(1.0))).unwrap();
    let b = engine.analyze(&audio, &settings(256, Some(1.0))).unwrap();
    assert_eq!(a.iter().map(|p| p.raw).collect::<Vec<_>>(), b.iter().map(|p| p.raw).collect::<Vec<_>>());
}

/// The first models' folders (format 1) still load and predict what the engine that wrote them
/// predicted: `core/tests/data/v1_model/reference_predictions.json` was made by `Genrescope
/// analyze` of commit 4980daa on this exact signal.
#[test]
fn v1_model_folder_predicts_as_before() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/data/v1_model");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference_predictions.json")).unwrap()).unwrap();
    // The signal of the reference: LCG noise + a 100 Hz → 8 kHz chirp, 10 s at 22050 Hz, the same
    // f64 expression as the Python generator that wrote the WAV.
    let (sr, n) = (22050usize, 22050usize * 10);
    let dur = n as f64 / sr as f64;
    let mut s: u64 = 12345;
    let signal: Vec<f32> = (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 0.5;
            let t = i as f64 / sr as f64;
            let ph = 2.0 * std::f64::consts::PI * (100.0 * t + (8000.0 - 100.0) * t * t / (2.0 * dur));
            (0.5 * noise + 0.3 * ph.sin()) as f32
        })
        .collect();
    let audio = DecodedAudio { sample_rate: sr as u32, channels: vec![signal], warnings: vec![] };
    let mut engine = OfflineEngine::new(&dir).unwrap();
    let got = engine
        .analyze(&audio, &OfflineSettings { block: 512, smoothing_s: 0.0, hop_s: Some(1.0), gate_db: -50.0 })
        .unwrap();
    let want = reference["predictions"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    let mut max_err = 0.0f32;
    for (g, w) in got.iter().zip(want) {
        assert!((g.time_s - w["time_s"].as_f64().unwrap()).abs() < 1e-9);
        for (a, b) in g.raw.iter().zip(w["raw"].as_array().unwrap()) {
            max_err = max_err.max((a - b.as_f64().unwrap() as f32).abs());
        }
    }
    // The old engine handed MFCC (computed from f64 mel power) to the model; now the mel power is
    // an f32 frame first. Measured difference: see the assertion.
    eprintln!("v1 reference: max |Δp| = {max_err:.2e}");
    assert!(max_err < 1e-5, "max |Δp| {max_err}");
}
