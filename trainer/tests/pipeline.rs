//! `train` end to end on synthetic clips: a GTZAN-layout corpus (no splits/ folder, so a seeded
//! stratified split) and a `tracks.csv` corpus with artists and an out-of-set label, plus the
//! generated non-music: decoding (44.1 kHz WAV, resampled), mel frames and their cache, level
//! normalization, the real musicnn trunk probed and pruned exactly, embeddings, the tiny head grid
//! by 2-fold CV scored per corpus, the ensemble, the zero-shot member, calibration and the
//! out-of-set threshold, both model folders, and the report through the engine; a second run with
//! the same seed writes the same bytes.
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

const SR: u32 = 44_100;

/// 7 s of a class-specific chord with a pulse, plus noise.
fn clip(class: usize, i: usize, noise: &mut u32) -> Vec<u8> {
    let f = 110.0 * (class as f32 + 1.0) * (1.0 + 0.01 * i as f32);
    let pulse = 1.0 + class as f32 * 0.5;
    let x: Vec<f32> = (0..7 * SR)
        .map(|n| {
            *noise = noise.wrapping_mul(1664525).wrapping_add(1013904223);
            let r = (*noise >> 8) as f32 / (1 << 24) as f32 - 0.5;
            let t = n as f32 / SR as f32;
            let env = 0.5 + 0.5 * (std::f32::consts::TAU * pulse * t).sin();
            let tone = (std::f32::consts::TAU * f * t).sin() + 0.5 * (std::f32::consts::TAU * 1.5 * f * t).sin();
            0.3 * env * tone + 0.1 * r
        })
        .collect();
    wav_bytes(SR, &[x])
}

/// GTZAN layout: 4 clips per genre.
fn write_dataset(root: &Path) {
    let mut noise = 12345u32;
    for (g, genre) in GENRES.iter().enumerate() {
        std::fs::create_dir_all(root.join(genre)).unwrap();
        for i in 0..4 {
            std::fs::write(root.join(genre).join(format!("{genre}.{i:05}.wav")), clip(g, i, &mut noise)).unwrap();
        }
    }
    // A corrupt file and a too-short one are skipped and listed, not fatal.
    std::fs::write(root.join("rock/rock.00090.wav"), b"RIFF garbage").unwrap();
    std::fs::write(root.join("jazz/jazz.00091.wav"), wav_bytes(SR, &[vec![0.1; SR as usize]])).unwrap();
}

/// A `tracks.csv` corpus: jazz and rock by two artists each (one per fold) and an out-of-set
/// label ("electronic"), 2 clips per artist.
fn write_csv_corpus(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let mut noise = 999u32;
    let mut csv = String::from("file,genre,split,artist\n");
    for (genre, class) in [("jazz", 5usize), ("rock", 9), ("electronic", 10)] {
        for (a, split) in ["train", "valid"].iter().enumerate() {
            for i in 0..2 {
                let file = format!("{genre}_{a}_{i}.wav");
                std::fs::write(root.join(&file), clip(class, i + 2 * a, &mut noise)).unwrap();
                csv += &format!("{file},{genre},{split},{genre}-artist-{a}\n");
            }
        }
    }
    std::fs::write(root.join("tracks.csv"), csv).unwrap();
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
    let other = root.join("other-corpus");
    write_csv_corpus(&other);
    let opts = MusicnnOptions {
        corpora: vec![data, other],
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
        synthetic_per_fold: 2,
        out_of_set_budget: 0.03,
    };
    let r = run(&opts).unwrap();
    let skipped: Vec<&str> = r.data.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert!(skipped.iter().any(|p| p.ends_with("rock.00090.wav")), "{skipped:?}");
    assert!(skipped.iter().any(|p| p.ends_with("jazz.00091.wav")), "{skipped:?}");
    // GTZAN layout: 2 + 2 per genre (a seeded stratified split of its 40 usable tracks); the CSV
    // corpus 6 + 6 by its split column; the generated non-music 2 + 2 (+ speech if espeak-ng runs).
    let names: Vec<&str> = r.data.corpora.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["gtzan", "other-corpus", "synthetic"]);
    let fold_sizes = |k: usize| -> (usize, usize) {
        let c = &r.data.corpora[k];
        (c.per_class_a.iter().sum(), c.per_class_b.iter().sum())
    };
    // (The corrupt and the too-short clip are listed in their folds, then skipped.)
    assert_eq!(fold_sizes(0).0 + fold_sizes(0).1, 42);
    assert!(fold_sizes(0).0 >= 20 && fold_sizes(0).1 >= 20);
    assert_eq!(fold_sizes(1), (6, 6));
    assert_eq!(r.data.corpora[1].out_of_set_labels, vec![("electronic".to_string(), 4)]);
    assert_eq!(r.data.corpora[1].per_class_a[10], 2, "out-of-set class in fold A");
    assert!(fold_sizes(2).0 >= 2 && fold_sizes(2).1 >= 2);
    assert!(r.data.train_windows > r.data.train_segments, "overlapping training windows");
    assert!(r.data.level_reference.is_some_and(|l| l > 0.0));
    // Pruning removed filters and changed no output beyond rounding.
    assert!(r.trunk.summary.macs_after < r.trunk.summary.macs_before);
    for (name, d) in &r.trunk.summary.max_rel_diff {
        assert!(*d < 1e-5, "{name}: pruned trunk differs by {d}");
    }
    assert_eq!(r.choice.cv.len(), 2, "the tiny grid");
    assert!(!r.choice.members.is_empty() && r.choice.members.len() <= 2);
    // Every CV direction is scored per corpus with in-set tracks; the synthetic one has none.
    for d in &r.choice.cv[0].directions {
        let scored: Vec<&str> = d.per_corpus.iter().filter(|c| c.track.count > 0).map(|c| c.corpus.as_str()).collect();
        assert_eq!(scored, ["gtzan", "other-corpus"]);
    }
    let t = r.calibration.temperature;
    assert!(t.is_finite() && (0.05..=20.0).contains(&t), "temperature {t}");
    assert!(r.calibration.ece.iter().any(|e| e.corpus == "other-corpus" && e.direction == "A→B"));
    // Both folders are complete models the engine runs, with the out-of-set class and calibration.
    for dir in [&opts.out, &r.train_only_dir] {
        let (m, _) = ModelManifest::load(dir).unwrap();
        let zero_shot = usize::from(r.zero_shot.alpha > 0.0);
        assert_eq!(m.members.len(), r.choice.members.len() + zero_shot);
        assert_eq!(m.front_end, r.spec);
        assert_eq!(m.out_of_set.as_ref().map(|o| o.threshold), Some(r.calibration.threshold.threshold));
        assert_eq!(m.num_classes(), 11);
        let mut e = Ensemble::load(dir).unwrap();
        let out = e.run(&vec![1.0; e.window_len()]).unwrap();
        assert!((out.probs.iter().sum::<f32>() + out.other - 1.0).abs() < 1e-4);
    }
    // One cache file per decodable clip (the too-short one included).
    let cached = std::fs::read_dir(&opts.cache)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "f32"))
        .count();
    assert_eq!(cached, 41 + 12 + r.dataset.corpora[2].clips.len());

    genrescope_trainer::heads::report::write(&opts, &r).unwrap();
    let report = std::fs::read_to_string(opts.out.join("REPORT.md")).unwrap();
    assert!(report.contains(&format!("{} trained head(s)", r.choice.members.len())), "{report}");
    assert!(report.contains("## Through the engine"));
    assert!(report.contains("| other-corpus |"), "a row per corpus");
    assert!(report.contains("## Calibration and \"none of these\""));
    assert!(report.contains("## What looked at what"));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(opts.out.join("card.json")).unwrap()).unwrap();
    assert_eq!(card["name"], r.shipped.name.as_str());

    // Same seed, same data: the same model, byte for byte (the report's timings aside).
    let again = MusicnnOptions { out: root.join("model-again"), work: root.join("work-again"), ..opts };
    run(&again).unwrap();
    let model_files = |dir: &Path| files(dir).into_iter().filter(|(n, _)| n != "REPORT.md" && n != "card.json");
    assert!(model_files(&again.out).eq(model_files(&root.join("model"))), "a second run wrote another model");
}
