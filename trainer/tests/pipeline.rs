//! End to end on synthetic clips in GTZAN layout: decode (wav, 44.1 kHz -> resampled),
//! features, CV grid, members, soft voting, fp32 + int8 export, load in the engine.
#![cfg(feature = "train")]
use genrescope_core::labels::GENRES;
use genrescope_core::model::Ensemble;
use genrescope_trainer::data::ModelInput;
use genrescope_trainer::ensemble::{run, TrainOptions};
use genrescope_trainer::grid::GridSize;
use std::path::Path;

fn write_wav(path: &Path, sr: u32, samples: &[f32]) {
    let data: Vec<u8> = samples.iter().flat_map(|&s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&sr.to_le_bytes());
    b.extend_from_slice(&(sr * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    std::fs::write(path, b).unwrap();
}

#[test]
fn trains_exports_and_the_engine_loads_the_result() {
    let root = std::env::temp_dir().join(format!("gs-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("gtzan");
    let sr = 44100u32;
    let mut noise = 12345u32;
    for (g, genre) in GENRES.iter().enumerate() {
        std::fs::create_dir_all(data.join(genre)).unwrap();
        for i in 0..4 {
            // Each genre: its own tone plus noise, 7 s (2 segments after resampling to 22050 Hz).
            let f = 110.0 * (g as f32 + 1.0) * (1.0 + 0.01 * i as f32);
            let x: Vec<f32> = (0..7 * sr)
                .map(|n| {
                    noise = noise.wrapping_mul(1664525).wrapping_add(1013904223);
                    let r = (noise >> 8) as f32 / (1 << 24) as f32 - 0.5;
                    0.4 * (2.0 * std::f32::consts::PI * f * n as f32 / sr as f32).sin() + 0.1 * r
                })
                .collect();
            write_wav(&data.join(genre).join(format!("{genre}.{i:05}.wav")), sr, &x);
        }
    }
    // A corrupt file and a too-short one are skipped and listed, not fatal.
    std::fs::write(data.join("rock/rock.00090.wav"), b"RIFF garbage").unwrap();
    write_wav(&data.join("jazz/jazz.00091.wav"), sr, &vec![0.1; sr as usize]);

    let cfg = ModelInput::gtzan_mfcc();
    let opts = TrainOptions {
        data: data.clone(),
        out: root.join("model"),
        work: root.join("work"),
        cache: Some(root.join("cache")),
        grid: GridSize::Tiny,
        folds: 2,
        members: 2,
        seed: 7,
        max_epochs: Some(3),
        threads: 2,
        train_hop_frames: Some(65),
        class_balanced: true,
    };
    let summary = run(&opts, &cfg).unwrap();
    assert_eq!(summary.members.len(), 2);
    assert_eq!(summary.cv.len(), 2);
    let skipped: Vec<_> = summary.skipped.iter().map(|(p, _)| p.clone()).collect();
    assert!(skipped.iter().any(|p| p.ends_with("rock.00090.wav")), "{skipped:?}");
    assert!(skipped.iter().any(|p| p.ends_with("jazz.00091.wav")), "{skipped:?}");
    // Seeded stratified split (no splits/ folder): every genre in both splits, whole tracks.
    assert_eq!(summary.valid_tracks + summary.train_tracks, 40);
    assert_eq!(summary.valid_segments, 2 * summary.valid_tracks);
    // Training uses overlapping windows (hop 65 of 130 frames); scores stay on segments.
    assert_eq!(summary.train_hop_frames, 65);
    assert!(
        summary.train_windows > summary.train_segments,
        "{} windows vs {} segments",
        summary.train_windows,
        summary.train_segments
    );
    assert!(root.join("work/confusion_valid_segments.png").is_file());
    assert!(root.join("work/training_curves.png").is_file());

    // Both exported folders run in the plugin's engine.
    for manifest in [opts.out.join("manifest.json"), opts.out.join("manifest.fp32.json")] {
        let mut ens = Ensemble::load(&manifest).unwrap();
        assert_eq!(ens.num_members(), 2);
        let p = ens.predict(&vec![-200.0; ens.window_len()]).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    // Second run hits the feature cache and the CV checkpoints: same result, no re-decoding.
    let cached = std::fs::read_dir(root.join("cache")).unwrap().count();
    assert_eq!(cached, 40 + 1, "one cache file per decodable clip (the short one included)");
    let again = run(&opts, &cfg).unwrap();
    assert_eq!(again.ensemble_segment.correct, summary.ensemble_segment.correct);
}
