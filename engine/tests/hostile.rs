//! Hostile model folders (testkit's list: every resource limit exceeded, negative, zero, huge and
//! non-finite numbers, deep JSON, a 100 MB string, symlink loops, FIFOs, devices) through the
//! offline engine, the path the CLI and the library load models by: each is a typed model error
//! naming the problem, never a panic, an abort or a hang.
use genrescope_core::features::FrontEndSpec;
use genrescope_core::model::{ModelError, ModelManifest};
use genrescope_engine::{EngineError, OfflineEngine};
use genrescope_testkit::hostile::hostile_models;
use genrescope_testkit::{scratch_dir, TinyModel};
use std::time::{Duration, Instant};

#[test]
fn hostile_model_folders_are_refused_by_admission() {
    let good = scratch_dir("hostile-good");
    TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).write(&good).unwrap();
    OfflineEngine::new(&good).expect("control: the intact model loads");
    let models = hostile_models(&good, &scratch_dir("hostile"));
    assert!(models.len() >= 30, "{}", models.len());
    for h in &models {
        let t = Instant::now();
        let e = match OfflineEngine::new(&h.dir) {
            Ok(_) => panic!("{}: loaded", h.what),
            Err(e) => e,
        };
        assert!(matches!(e, EngineError::Model { source: ModelError::Manifest(_), .. }), "{}: {e:?}", h.what);
        let text = e.to_string();
        assert!(text.to_lowercase().contains(&h.error.to_lowercase()), "{}: {text}", h.what);
        // Refused from the manifest and file metadata alone: nothing big read, nothing blocked.
        assert!(t.elapsed() < Duration::from_secs(2), "{}: {:?}", h.what, t.elapsed());
        // The plugin's activation reads the manifest through the same admission.
        assert!(ModelManifest::load(&h.dir).is_err(), "{}", h.what);
        eprintln!("{}: {}", h.what, &text[..text.len().min(200)]);
    }
}
