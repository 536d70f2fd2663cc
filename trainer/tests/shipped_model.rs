//! The committed model in `models/`: the musicnn trunk + genre heads the plugin and the CLI run.
//! Its folder is complete and consistent with REPORT.md and card.json, its front end is musicnn's
//! with the level normalization, and through the engine its verdicts do not change when a clip is
//! 20 dB quieter or 10 dB louder. Needs the GTZAN copy (`GENRESCOPE_GTZAN`, default
//! `<workspace>/../shared/datasets/gtzan`) for the level test (SKIP without it, except in CI).
use genrescope_core::audio_file::decode_file;
use genrescope_core::features::{FrontEndSpec, Normalization};
use genrescope_core::labels::GENRES;
use genrescope_core::model::{Ensemble, ModelManifest};
use genrescope_engine::{file_verdict, OfflineEngine, OfflineSettings};
use genrescope_trainer::metrics::argmax;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

#[test]
fn shipped_folder_is_the_musicnn_model_and_matches_its_report() {
    let dir = models();
    let (m, _) = ModelManifest::load(&dir).expect("models/manifest.json");
    let trunk = m.trunk.as_ref().expect("a trunk");
    assert_eq!(m.input.window_frames, 187);
    assert!(trunk.origin.as_deref().is_some_and(|o| o.contains("musicnn") && o.contains("ISC")));
    assert!(dir.join("LICENSE-musicnn.md").is_file(), "the trunk's licence travels with it");
    assert_eq!(m.embedding.as_deref(), Some("penultimate"));
    // musicnn's front end, plus a level normalization: per window (the models before issue 18), or
    // the running one, which comes with the int8 streaming trunk and its fp32 twin.
    let plain = FrontEndSpec { normalization: Normalization::Off, ..m.front_end.clone() };
    assert_eq!(plain, FrontEndSpec::musicnn());
    match m.front_end.normalization {
        Normalization::WindowMeanPower { .. } => assert!(trunk.streaming.is_none()),
        Normalization::RunningMeanPower { .. } => {
            assert!(trunk.streaming.is_some(), "a running normalization ships with the streaming trunk");
            assert_eq!(trunk.quantized_layers, ["timbral_7x38", "timbral_7x67"]);
            let (fp32, _) = ModelManifest::load(&dir.join("manifest-fp32.json")).expect("the fp32 twin");
            assert_eq!(fp32.members, m.members, "the fp32 twin runs the same heads");
            Ensemble::load(&dir.join("manifest-fp32.json")).expect("the fp32 twin loads");
        }
        ref other => panic!("unexpected normalization {other:?}"),
    }
    let report = std::fs::read_to_string(dir.join("REPORT.md")).expect("REPORT.md");
    // Trained heads are `head_i.onnx`; a zero-shot member (issue 21) is described apart.
    let heads = m.members.iter().filter(|x| x.file.starts_with("head_")).count();
    let described = [format!("{heads} head(s)"), format!("{heads} trained head(s)")];
    assert!(described.iter().any(|d| report.contains(d.as_str())), "REPORT.md describes other heads");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("card.json")).unwrap()).unwrap();
    assert_eq!(card["name"], m.name.as_str());
    // Loads and runs (checksums, sessions, warm-up); the vote is a distribution over the genres
    // and, for a model with the out-of-set class, "other".
    let mut e = Ensemble::load(&dir).expect("loads");
    let out = e.run(&vec![1.0; e.window_len()]).unwrap();
    assert!((out.probs.iter().sum::<f32>() + out.other - 1.0).abs() < 1e-4);
    assert_eq!(out.other > 0.0, m.out_of_set.is_some(), "'other' comes with the out-of-set class");
}

/// One validation clip per genre that has one: the verdict at 0 dB survives −20 dB and +10 dB.
#[test]
fn verdicts_survive_level_changes() {
    let data = std::env::var_os("GENRESCOPE_GTZAN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/gtzan"));
    let list = data.join("splits/valid.txt");
    if !list.is_file() {
        assert!(std::env::var_os("CI").is_none(), "CI: no GTZAN copy at {}", data.display());
        eprintln!("SKIP: no GTZAN copy at {}", data.display());
        return;
    }
    let text = std::fs::read_to_string(&list).unwrap();
    let mut clips = Vec::new();
    for g in GENRES {
        if let Some(l) = text.lines().find(|l| l.starts_with(&format!("{g}/"))) {
            clips.push(data.join(l.trim()));
        }
    }
    assert!(clips.len() >= 6, "{} clips", clips.len());
    let mut engine = OfflineEngine::new(&models()).expect("shipped model");
    let settings = OfflineSettings::default();
    for clip in &clips {
        let audio = decode_file(clip).unwrap();
        let mut verdict = |gain_db: f32| {
            let mut a = audio.clone();
            let g = 10f32.powf(gain_db / 20.0);
            a.channels.iter_mut().flatten().for_each(|x| *x *= g);
            file_verdict(&engine.analyze(&a, &settings).unwrap()).map(|p| argmax(&p))
        };
        let at0 = verdict(0.0);
        assert!(at0.is_some(), "{}: no verdict at its own level", clip.display());
        for db in [-20.0, 10.0] {
            assert_eq!(verdict(db), at0, "{}: the verdict changes at {db:+} dB", clip.display());
        }
    }
}
