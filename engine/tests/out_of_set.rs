//! The out-of-set class through the engine, with the test kit's out-of-set model (bright tones are
//! "other", low music is not): "other / unsure" is its own state, distinct from a genre, from
//! silence and from no model; its probability is smoothed like a genre's; a file's verdict says
//! "other" from the mean over ungated windows; a model without the class never says it.
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::FrontEndSpec;
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::{Calibration, Vote, VoteRule};
use genrescope_engine::{Claim, FileVerdict, OfflineEngine, OfflineSettings, Prediction, SharedState, Status};
use genrescope_testkit::{bright_tones, scratch_dir, TinyModel};
use std::path::PathBuf;

const RATE: f64 = 44100.0;
const THRESHOLD: f32 = 0.5;

/// Voices at 220–660 Hz with a noise beat (energy low in the spectrum), about −17 dBFS.
fn music(seconds: f64) -> Vec<f32> {
    let n = (RATE * seconds) as usize;
    let mut seed = 0x1234_5678u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE;
            let f0 = if t % 4.0 < 2.0 { 220.0 } else { 330.0 };
            let tone: f64 =
                [1.0, 1.26, 1.5, 2.0].iter().map(|k| (std::f64::consts::TAU * f0 * k * t).sin() * 0.1).sum();
            let beat = (-((t * 2.0).fract() * 20.0)).exp() as f32;
            tone as f32 + 0.3 * beat * noise()
        })
        .collect()
}

fn bright(seconds: f64) -> Vec<f32> {
    bright_tones(RATE as u32, seconds as f32, 1).remove(0)
}

fn audio(parts: &[Vec<f32>]) -> DecodedAudio {
    DecodedAudio { sample_rate: RATE as u32, channels: vec![parts.concat()], warnings: vec![] }
}

fn model(name: &str, tiny: TinyModel) -> PathBuf {
    let dir = scratch_dir(name);
    tiny.write(&dir).unwrap();
    dir
}

fn settings(smoothing_s: f32) -> OfflineSettings {
    OfflineSettings { block: 512, smoothing_s, hop_s: Some(0.5), gate_db: -50.0 }
}

#[test]
fn bright_tones_are_other_music_is_a_genre_silence_is_gated() {
    for trunk in [false, true] {
        let tiny = TinyModel::new(FrontEndSpec::musicnn()).out_of_set(THRESHOLD);
        let dir = model(&format!("oos-states-{trunk}"), if trunk { tiny.with_trunk(2) } else { tiny });
        let mut engine = OfflineEngine::new(&dir).unwrap();
        // No smoothing: each window's claim is its own.
        let run = |engine: &mut OfflineEngine, a: &DecodedAudio| engine.analyze(a, &settings(0.0)).unwrap();
        let music = run(&mut engine, &audio(&[music(10.0)]));
        assert!(music.len() > 10);
        for p in &music {
            assert!(matches!(p.claim(), Claim::Genre(_)) && p.top.is_some() && !p.out_of_set, "{p:?}");
            assert!(p.other < 0.01 && !p.gated);
            let sum = p.raw.iter().sum::<f32>() + p.other;
            assert!((sum - 1.0).abs() < 1e-4, "genres and other sum to 1: {sum}");
        }
        let v = engine.verdict(&music).unwrap();
        assert!(matches!(v.claim, Claim::Genre(_)) && v.other < 0.01, "{v:?}");

        let tones = run(&mut engine, &audio(&[bright(10.0)]));
        for p in &tones {
            assert_eq!(p.claim(), Claim::Other, "{p:?}");
            assert!(p.out_of_set && p.top.is_none() && !p.gated && p.other > 0.9 && p.smoothed_other == p.other);
            // The genres are still there, just not claimed.
            assert!((p.smoothed.iter().sum::<f32>() + p.smoothed_other - 1.0).abs() < 1e-4);
        }
        let v = engine.verdict(&tones).unwrap();
        assert_eq!(v.claim, Claim::Other);
        assert!(v.other > 0.9 && (v.probs.iter().sum::<f32>() + v.other - 1.0).abs() < 1e-4, "{v:?}");

        let silence = run(&mut engine, &audio(&[vec![0.0; RATE as usize * 8]]));
        assert!(!silence.is_empty());
        for p in &silence {
            assert_eq!(p.claim(), Claim::Nothing);
            assert!(p.gated && !p.out_of_set && p.other == 0.0 && p.smoothed_other == 0.0);
        }
        assert_eq!(engine.verdict(&silence), None);
    }
}

#[test]
fn other_is_smoothed_like_a_genre_and_a_file_verdict_is_the_mean() {
    let dir = model("oos-smoothing", TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).out_of_set(THRESHOLD));
    let mut engine = OfflineEngine::new(&dir).unwrap();
    let tau = 2.0f32;
    // Music, bright tones, silence: genre, then other once the smoothed probability crosses the
    // threshold, then nothing.
    let p = engine.analyze(&audio(&[music(12.0), bright(12.0), vec![0.0; RATE as usize * 6]]), &settings(tau)).unwrap();
    // The same one-pole filter on the out-of-set class as on each genre.
    for w in p.windows(2).filter(|w| !w[0].gated && !w[1].gated) {
        let alpha = 1.0 - (-((w[1].time_s - w[0].time_s) as f32) / tau).exp();
        let want = w[0].smoothed_other + alpha * (w[1].other - w[0].smoothed_other);
        assert!((w[1].smoothed_other - want).abs() < 1e-5, "{} vs {want}", w[1].smoothed_other);
        let want0 = w[0].smoothed[0] + alpha * (w[1].raw[0] - w[0].smoothed[0]);
        assert!((w[1].smoothed[0] - want0).abs() < 1e-5);
    }
    let claims: Vec<Claim> = p.iter().map(Prediction::claim).collect();
    let first_other = claims.iter().position(|c| *c == Claim::Other).expect("no window claimed other");
    let first_silent = claims.iter().position(|c| *c == Claim::Nothing).expect("no silent window");
    assert!(claims[..first_other].iter().all(|c| matches!(c, Claim::Genre(_))), "{claims:?}");
    assert!(claims[first_other..first_silent].iter().all(|c| *c == Claim::Other), "{claims:?}");
    assert!(claims[first_silent..].iter().all(|c| *c == Claim::Nothing), "{claims:?}");
    // "Other" starts where the smoothed probability reaches the threshold, not where the raw one
    // does: the smoothing delays it, as it delays a genre change.
    assert!(p[first_other].smoothed_other >= THRESHOLD && p[first_other - 1].smoothed_other < THRESHOLD);
    let first_raw_other = p.iter().position(|p| p.other >= THRESHOLD).unwrap();
    assert!(first_other > first_raw_other, "smoothing: {first_other} vs raw {first_raw_other}");
    // While gated the out-of-set meter decays with the genres.
    assert!(p[first_silent + 1].smoothed_other < p[first_silent - 1].smoothed_other);
    // The whole file: the mean over the ungated windows, half music, half tones: it depends on the
    // threshold, which is the model's.
    let v = engine.verdict(&p).unwrap();
    let judged: Vec<&Prediction> = p.iter().filter(|p| !p.gated).collect();
    let mean = judged.iter().map(|p| p.other as f64).sum::<f64>() / judged.len() as f64;
    assert!((v.other as f64 - mean).abs() < 1e-6 && v.other > 0.3 && v.other < 0.7, "{v:?}");
    assert_eq!(FileVerdict::of(&p, Some(v.other)).unwrap().claim, Claim::Other);
    assert!(matches!(FileVerdict::of(&p, Some(v.other + 0.01)).unwrap().claim, Claim::Genre(_)));
    assert!(matches!(FileVerdict::of(&p, None).unwrap().claim, Claim::Genre(_)));
}

#[test]
fn the_shared_state_tells_other_from_silence_and_from_no_model() {
    use genrescope_core::model::ModelManifest;
    use genrescope_engine::{frame_queue, Analyzer, AudioFrontEnd};
    use std::sync::Arc;
    let dir = model("oos-shared", TinyModel::new(FrontEndSpec::musicnn()).with_trunk(1).out_of_set(THRESHOLD));
    let shared = Arc::new(SharedState::default());
    assert_eq!((shared.claim(), shared.status(), shared.has_other()), (Claim::Nothing, Status::NoModel, false));
    let (manifest, mdir) = ModelManifest::load(&dir).unwrap();
    let spec = manifest.front_end.clone();
    let mut analyzer = Analyzer::new(shared.clone());
    let (tx, rx) = frame_queue(spec.mel_dim(), 4096);
    analyzer.load(manifest, mdir, rx).unwrap();
    assert_eq!(shared.other_threshold(), Some(THRESHOLD));
    shared.settings.smoothing_s.store(0.0, std::sync::atomic::Ordering::Relaxed);
    let mut fe = AudioFrontEnd::new(&spec, RATE as f32, 512, tx).unwrap();
    let mut feed = |signal: &[f32]| {
        for block in signal.chunks(512) {
            fe.process(&[block]);
            analyzer.step(|_| {}).unwrap();
        }
    };
    feed(&music(6.0));
    assert!(matches!(shared.claim(), Claim::Genre(_)) && shared.top().is_some());
    assert_eq!(shared.status(), Status::Analysing);
    assert!(shared.other() < 0.01);
    feed(&bright(6.0));
    assert_eq!((shared.claim(), shared.top(), shared.status()), (Claim::Other, None, Status::Other));
    assert!(shared.other() > 0.9);
    assert_eq!(shared.top.load(std::sync::atomic::Ordering::Relaxed), genrescope_engine::OTHER_TOP);
    let history = shared.history.lock().unwrap().clone();
    assert!(history.iter().any(|h| h.claim == Claim::Other && h.other > 0.9));
    feed(&vec![0.0; RATE as usize * 6]);
    assert_eq!((shared.claim(), shared.status()), (Claim::Nothing, Status::Silence));
    // A model without the class: the threshold goes with the old model.
    let plain = model("oos-shared-plain", TinyModel::new(FrontEndSpec::musicnn()).with_trunk(1));
    let (manifest, mdir) = ModelManifest::load(&plain).unwrap();
    let (_, rx) = frame_queue(spec.mel_dim(), 16);
    analyzer.load(manifest, mdir, rx).unwrap();
    assert_eq!((shared.other_threshold(), shared.has_other()), (None, false));
}

#[test]
fn a_model_without_the_class_never_says_other() {
    let dir = model("oos-none", TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2));
    let mut engine = OfflineEngine::new(&dir).unwrap();
    let p = engine.analyze(&audio(&[music(6.0), bright(6.0), vec![0.0; RATE as usize * 4]]), &settings(2.0)).unwrap();
    assert!(p.iter().all(|p| p.other == 0.0 && p.smoothed_other == 0.0 && !p.out_of_set));
    assert!(p.iter().all(|p| p.gated || p.top.is_some()), "every judged window claims a genre");
    let v = engine.verdict(&p).unwrap();
    assert_eq!(v.other, 0.0);
    assert_eq!(v.probs, genrescope_engine::file_verdict(&p).unwrap());
    assert!(matches!(v.claim, Claim::Genre(_)));
}

#[test]
fn a_vote_and_a_calibration_in_the_manifest_keep_the_states() {
    // Log-linear pooling with per-class weights and a temperature: still sums to 1, still "other"
    // on the tones and a genre on the music.
    let classes = NUM_GENRES + 1;
    let mut weights = vec![vec![1.0; classes], vec![0.5; classes]];
    weights[1][NUM_GENRES] = 2.0;
    let tiny = TinyModel::new(FrontEndSpec::musicnn())
        .with_trunk(2)
        .out_of_set(THRESHOLD)
        .vote(Vote { rule: VoteRule::LogLinear, weights: Some(weights) })
        .calibration(Calibration::Temperature { temperature: 1.5 });
    let dir = model("oos-vote", tiny);
    let mut engine = OfflineEngine::new(&dir).unwrap();
    assert!(engine.manifest().vote.is_some() && engine.manifest().calibration.is_some());
    let m = engine.analyze(&audio(&[music(6.0)]), &settings(0.0)).unwrap();
    let t = engine.analyze(&audio(&[bright(6.0)]), &settings(0.0)).unwrap();
    for p in m.iter().chain(&t) {
        assert!((p.raw.iter().sum::<f32>() + p.other - 1.0).abs() < 1e-4);
    }
    assert!(m.iter().all(|p| matches!(p.claim(), Claim::Genre(_))));
    assert!(t.iter().all(|p| p.claim() == Claim::Other));
}
