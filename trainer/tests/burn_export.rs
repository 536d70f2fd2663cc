//! burn model (fp32, inference mode) == exported ONNX fp32 in ONNX Runtime, within 1e-4.
#![cfg(feature = "train")]
use genrescope_core::model::{Ensemble, Quantization};
use genrescope_trainer::data::ModelInput;
use genrescope_trainer::data::Segments;
use genrescope_trainer::export::{write_model_dir, ExportMember};
use genrescope_trainer::training::{normalize, predict, train, TrainConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// burn's backend RNG is process-wide: two trainings on parallel test threads draw from the
/// same stream, so tests that train run one at a time (the CLI trains sequentially).
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn burn_and_onnx_runtime_agree() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = ModelInput::gtzan_mfcc();
    let (frames, dim) = (cfg.window_frames, cfg.frame_dim());
    let mut rng = StdRng::seed_from_u64(11);
    let n = 48;
    let mut seg = Segments { window_len: frames * dim, ..Default::default() };
    for i in 0..n {
        seg.windows.extend((0..frames * dim).map(|k| {
            if k % dim == 0 {
                rng.random_range(-400.0..-100.0)
            } else {
                rng.random_range(-50.0..50.0) + (i % 10) as f32
            }
        }));
        seg.labels.push(i % 10);
        seg.track.push(i);
        seg.track_ids.push(format!("t{i}"));
        seg.track_labels.push(i % 10);
    }
    let (mean, inv_std) = seg.coefficient_stats(dim);
    for depth in [2, 3, 4] {
        let mut tc = TrainConfig { max_epochs: 2, batch_size: 16, ..Default::default() };
        tc.model.depth = depth;
        tc.model.width = 8;
        // Two epochs move the batch-norm statistics away from (0, 1), so folding is exercised.
        let t = train(&tc, &seg, None, &mean, &inv_std, None, "test").unwrap();
        let burn_probs = predict(&t.model, &tc.model, &normalize(&seg, &mean, &inv_std), n);
        let w = t.model.to_weights(&tc.model, &mean, &inv_std);
        let dir = std::env::temp_dir().join(format!("gs-burn-export-{depth}-{}", std::process::id()));
        let m = ExportMember { weights: w, ranges: None, val_accuracy: None, hyperparams: None };
        write_model_dir(&dir, &cfg, "t", &[m], Quantization::Fp32, "manifest.json", None).unwrap();
        let mut ens = Ensemble::load(&dir).unwrap();
        let mut max_err = 0f32;
        for (i, want) in burn_probs.iter().enumerate().take(n) {
            let p = ens.predict(seg.window(i)).unwrap();
            max_err = p.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(max_err, f32::max);
        }
        assert!(max_err < 1e-4, "depth {depth}: max |burn - ORT| = {max_err}");
    }
}

/// Same seed, same data -> the same model, bit for bit (init, dropout and shuffling are seeded).
#[test]
fn training_is_deterministic_for_a_seed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = ModelInput::gtzan_mfcc();
    let (frames, dim) = (cfg.window_frames, cfg.frame_dim());
    let mut rng = StdRng::seed_from_u64(5);
    let n = 40;
    let mut seg = Segments { window_len: frames * dim, ..Default::default() };
    for i in 0..n {
        seg.windows.extend((0..frames * dim).map(|_| rng.random_range(-50.0..50.0) + (i % 10) as f32 * 5.0));
        seg.labels.push(i % 10);
        seg.track.push(i);
        seg.track_ids.push(format!("t{i}"));
        seg.track_labels.push(i % 10);
    }
    let (mean, inv_std) = seg.coefficient_stats(dim);
    let mut tc = TrainConfig { max_epochs: 2, batch_size: 8, ..Default::default() };
    tc.model.width = 8;
    tc.model.depth = 2;
    let run = |seed: u64| {
        let mut c = tc.clone();
        c.seed = seed;
        let t = train(&c, &seg, None, &mean, &inv_std, None, "det").unwrap();
        // Reported per-epoch stats (accumulated on the device): an untrained 10-class model's
        // mean cross-entropy is near ln 10 = 2.30, and accuracy counts whole windows.
        let first = &t.history[0];
        assert!((1.5..3.5).contains(&first.train_loss), "{first:?}");
        let hits = first.train_accuracy * n as f32;
        assert!((hits - hits.round()).abs() < 1e-3 && hits <= n as f32, "{first:?}");
        predict(&t.model, &c.model, &normalize(&seg, &mean, &inv_std), n)
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b, "same seed must give identical predictions");
    assert_ne!(a, c, "a different seed must give a different model");
}
