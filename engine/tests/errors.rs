//! One test per error a user can cause, each asserting the typed variant the engine returns (not
//! only its text): a missing model folder, a model whose front end this build cannot compute (or
//! whose front-end hash does not match), a corrupt ONNX file, an undecodable audio file, no ONNX
//! Runtime (`no_runtime.rs`, its own process). Plus a load cancelled by a plugin going away.
use genrescope_core::audio_file::{decode_file, DecodeError, DecodedAudio};
use genrescope_core::features::FrontEndSpec;
use genrescope_core::model::{ManifestError, ModelError, ModelManifest, MANIFEST_FILE};
use genrescope_engine::{frame_queue, Analyzer, EngineError, OfflineEngine, SharedState, Status};
use genrescope_testkit::{scratch_dir, TinyModel};
use std::path::Path;
use std::sync::Arc;

fn load_err(dir: &Path) -> EngineError {
    match OfflineEngine::new(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_model_folder() {
    let dir = scratch_dir("errors-missing").join("nope");
    let e = load_err(&dir);
    assert!(
        matches!(&e, EngineError::Model { dir: d, source: ModelError::Manifest(ManifestError::NotFound(_)) } if d == &dir),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.starts_with(&format!("model {}: ", dir.display())) && text.contains("not found"), "{text}");
}

#[test]
fn foreign_front_end() {
    let dir = scratch_dir("errors-foreign");
    TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    // A compression this build does not know.
    std::fs::write(dir.join(MANIFEST_FILE), text.replace("log10_one_plus", "cube_root")).unwrap();
    let e = load_err(&dir);
    assert!(matches!(&e, EngineError::Model { source: ModelError::Manifest(ManifestError::FrontEnd(_)), .. }), "{e:?}");
    assert!(e.to_string().contains("cannot compute the features"), "{e}");
    // A known front end, edited after the hash was taken.
    std::fs::write(dir.join(MANIFEST_FILE), text.replace("\"n_mels\": 96", "\"n_mels\": 95")).unwrap();
    let e = load_err(&dir);
    assert!(
        matches!(&e, EngineError::Model { source: ModelError::Manifest(ManifestError::FrontEndHash { .. }), .. }),
        "{e:?}"
    );
}

#[test]
fn corrupt_onnx_file() {
    let dir = scratch_dir("errors-corrupt-onnx");
    let mut manifest = TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let file = dir.join(&manifest.members[0].file);
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &garbage).unwrap();
    // Changed behind the manifest's back: the checksum catches it before ONNX Runtime sees it.
    let e = load_err(&dir);
    assert!(
        matches!(&e, EngineError::Model { source: ModelError::Manifest(ManifestError::Checksum { .. }), .. }),
        "{e:?}"
    );
    // Written corrupt (the manifest vouches for these bytes): ONNX Runtime refuses the file.
    manifest.members[0].sha256 = genrescope_core::sha256_hex(&garbage);
    manifest.write(&dir, MANIFEST_FILE).unwrap();
    let e = load_err(&dir);
    assert!(matches!(&e, EngineError::Model { source: ModelError::Load { file: f, .. }, .. } if f == &file), "{e:?}");
}

#[test]
fn undecodable_audio_file() {
    let dir = scratch_dir("errors-undecodable");
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    for name in ["garbage.wav", "garbage.mp3", "empty.ogg"] {
        let path = dir.join(name);
        std::fs::write(&path, if name.starts_with("empty") { &[][..] } else { &garbage[..] }).unwrap();
        let e = EngineError::from(decode_file(&path).unwrap_err());
        assert!(
            matches!(&e, EngineError::Decode(DecodeError::Corrupt { path: p, .. } | DecodeError::Unsupported { path: p, .. }) if p == &path),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = EngineError::from(decode_file(&dir.join("absent.wav")).unwrap_err());
    assert!(matches!(e, EngineError::Decode(DecodeError::Io { .. })), "{e:?}");
    // What decoding can still hand over, the engine refuses with its own error.
    let model = scratch_dir("errors-undecodable-model");
    TinyModel::new(FrontEndSpec::musicnn()).write(&model).unwrap();
    let empty = DecodedAudio { sample_rate: 44100, channels: vec![vec![]], warnings: vec![] };
    let e = OfflineEngine::new(&model).unwrap().analyze(&empty, &Default::default()).unwrap_err();
    assert!(matches!(e, EngineError::NoAudio), "{e:?}");
}

/// A load given up because the plugin is going away: typed, and not published as an error.
#[test]
fn cancelled_load_is_typed_and_silent() {
    let dir = scratch_dir("errors-cancelled");
    TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let (manifest, folder) = ModelManifest::load(&dir).unwrap();
    let shared = Arc::new(SharedState::default());
    let mut analyzer = Analyzer::new(shared.clone());
    let (_, receiver) = frame_queue(manifest.front_end.mel_dim(), 4);
    let e = analyzer.load_until(manifest, folder, receiver, &|| true).unwrap_err();
    assert!(e.is_cancelled() && matches!(e, EngineError::Model { source: ModelError::Cancelled, .. }), "{e:?}");
    assert!(analyzer.model().is_none());
    assert_ne!(shared.status(), Status::Error);
    assert_eq!(shared.error_text(), "");
}

/// A failed load is returned and published as the same text (what the editor shows).
#[test]
fn load_error_is_returned_and_published() {
    let dir = scratch_dir("errors-published");
    let mut manifest = TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    manifest.members[0].sha256 = "0".repeat(64);
    let shared = Arc::new(SharedState::default());
    let mut analyzer = Analyzer::new(shared.clone());
    let (_, receiver) = frame_queue(manifest.front_end.mel_dim(), 4);
    let e = analyzer.load(manifest, dir, receiver).unwrap_err();
    assert!(matches!(e, EngineError::Model { source: ModelError::Manifest(ManifestError::Checksum { .. }), .. }));
    assert_eq!(shared.status(), Status::Error);
    assert_eq!(shared.error_text(), e.to_string());
    // Steps without a model drain nothing into predictions and report no error.
    assert_eq!(analyzer.step(|_| panic!("no model, no prediction")).unwrap(), 0);
}
