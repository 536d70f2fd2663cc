//! `train` end to end on synthetic clips in GTZAN layout (no splits/ folder, so a seeded
//! stratified split): decoding (44.1 kHz WAV, resampled), mel frames and their cache, level
//! normalization, the real musicnn trunk probed and pruned exactly, embeddings, the tiny head grid
//! by 2-fold CV, the ensemble, both model folders, and the report through the engine; a second run
//! with the same seed writes the same bytes.
//! Needs the checkpoint (`cargo xtask musicnn` / `GENRESCOPE_MUSICNN_DIR`; SKIP without it, except
//! in CI) and ONNX Runtime.
#![cfg(feature = "train")]
use genrescope_core::labels::GENRES;
use genrescope_core::model::{Ensemble, ModelManifest};
use genrescope_testkit::{scratch_dir, wav_bytes};
use genrescope_trainer::heads::cv::HeadGrid;
use genrescope_trainer::heads::run::{run, MusicnnOptions};
use std::path::{Path, PathBuf};

fn checkpoint() -> Option<PathBuf> {
    let dir = std::env::var_os("GENRESCOPE_MUSICNN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
    if dir.join(".index").is_file() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI: no musicnn checkpoint at {}", dir.display());
    eprintln!("SKIP: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
    None
}

/// 4 clips per genre, 7 s each: a genre-specific chord with a pulse, plus noise.
fn write_dataset(root: &Path) {
    let sr = 44_100u32;
    let mut noise = 12345u32;
    for (g, genre) in GENRES.iter().enumerate() {
        std::fs::create_dir_all(root.join(genre)).unwrap();
        for i in 0..4 {
            let f = 110.0 * (g as f32 + 1.0) * (1.0 + 0.01 * i as f32);
            let pulse = 1.0 + g as f32 * 0.5;
            let x: Vec<f32> = (0..7 * sr)
                .map(|n| {
                    noise = noise.wrapping_mul(1664525).wrapping_add(1013904223);
                    let r = (noise >> 8) as f32 / (1 << 24) as f32 - 0.5;
                    let t = n as f32 / sr as f32;
                    let env = 0.5 + 0.5 * (std::f32::consts::TAU * pulse * t).sin();
                    let tone =
                        (std::f32::consts::TAU * f * t).sin() + 0.5 * (std::f32::consts::TAU * 1.5 * f * t).sin();
                    0.3 * env * tone + 0.1 * r
                })
                .collect();
            std::fs::write(root.join(genre).join(format!("{genre}.{i:05}.wav")), wav_bytes(sr, &[x])).unwrap();
        }
    }
    // A corrupt file and a too-short one are skipped and listed, not fatal.
    std::fs::write(root.join("rock/rock.00090.wav"), b"RIFF garbage").unwrap();
    std::fs::write(root.join("jazz/jazz.00091.wav"), wav_bytes(sr, &[vec![0.1; sr as usize]])).unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn train_writes_a_model_the_engine_runs_and_reproduces_it() {
    let Some(checkpoint) = checkpoint() else { return };
    let root = scratch_dir("trainer-pipeline");
    let data = root.join("gtzan");
    write_dataset(&data);
    let opts = MusicnnOptions {
        data,
        out: root.join("model"),
        work: root.join("work"),
        cache: root.join("cache"),
        checkpoint,
        grid: HeadGrid::Tiny,
        max_members: 2,
        seed: 7,
        threads: 2,
        train_hop: 62,
        normalize_level: true,
        max_epochs: 5,
    };
    let r = run(&opts).unwrap();
    let skipped: Vec<&str> = r.data.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert!(skipped.iter().any(|p| p.ends_with("rock.00090.wav")), "{skipped:?}");
    assert!(skipped.iter().any(|p| p.ends_with("jazz.00091.wav")), "{skipped:?}");
    // Stratified split of the 40 usable tracks: one per genre held out.
    assert_eq!((r.data.train_tracks, r.data.valid_tracks), (30, 10));
    assert!(r.data.train_windows > r.data.train_segments, "overlapping training windows");
    assert!(r.data.level_reference.is_some_and(|l| l > 0.0));
    // Pruning removed filters and changed no output beyond rounding.
    assert!(r.trunk.summary.macs_after < r.trunk.summary.macs_before);
    for (name, d) in &r.trunk.summary.max_rel_diff {
        assert!(*d < 1e-5, "{name}: pruned trunk differs by {d}");
    }
    assert_eq!(r.choice.cv.len(), 2, "the tiny grid");
    assert!(!r.choice.members.is_empty() && r.choice.members.len() <= 2);
    // Both folders are complete models the engine runs.
    for dir in [&opts.out, &r.train_only_dir] {
        let (m, _) = ModelManifest::load(dir).unwrap();
        assert_eq!(m.members.len(), r.choice.members.len());
        assert_eq!(m.front_end, r.spec);
        let mut e = Ensemble::load(dir).unwrap();
        let p = e.predict(&vec![1.0; e.window_len()]).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    // One cache file per decodable clip (the too-short one included).
    assert_eq!(std::fs::read_dir(&opts.cache).unwrap().count(), 41);

    genrescope_trainer::heads::report::write(&opts, &r).unwrap();
    let report = std::fs::read_to_string(opts.out.join("REPORT.md")).unwrap();
    assert!(report.contains(&format!("{} head(s)", r.choice.members.len())), "{report}");
    assert!(report.contains("## Through the engine"));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(opts.out.join("card.json")).unwrap()).unwrap();
    assert_eq!(card["name"], r.shipped.name.as_str());

    // Same seed, same data: the same model, byte for byte (the report's timings aside).
    let again = MusicnnOptions { out: root.join("model-again"), work: root.join("work-again"), ..opts };
    run(&again).unwrap();
    let model_files = |dir: &Path| files(dir).into_iter().filter(|(n, _)| n != "REPORT.md" && n != "card.json");
    assert!(model_files(&again.out).eq(model_files(&root.join("model"))), "a second run wrote another model");
}
