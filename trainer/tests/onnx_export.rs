//! The ONNX writer against ONNX Runtime (through the plugin's own `Ensemble`).
//! Needs the ORT library: `cargo xtask ort` (or GENRESCOPE_ORT_LIB).
use genrescope_core::model::{Ensemble, ModelManifest, Quantization};
use genrescope_trainer::data::ModelInput;
use genrescope_trainer::export::{
    mfcc_like_window, quantize_model_dir, random_test_model, write_model_dir, ExportMember, FP32_MANIFEST_FILE,
};
use genrescope_trainer::metrics::argmax;
use genrescope_trainer::onnx::member_from_onnx;
use genrescope_trainer::quantize::calibrate;
use genrescope_trainer::weights::CnnWeights;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gs-trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn random_test_model_loads_in_the_engine_fp32_and_int8() {
    let cfg = ModelInput::gtzan_mfcc();
    for quantized in [false, true] {
        let dir = tmp(&format!("random-{quantized}"));
        random_test_model(&dir, &cfg, 3, quantized, 9).unwrap();
        let (m, _) = ModelManifest::load(&dir).unwrap();
        assert_eq!(m.members.len(), 3);
        let q = if quantized { Quantization::Int8Qdq } else { Quantization::Fp32 };
        assert!(m.members.iter().all(|e| e.quantization == q));
        let mut ens = Ensemble::load(&dir).unwrap();
        let x = mfcc_like_window(&mut StdRng::seed_from_u64(1), cfg.window_frames, cfg.frame_dim());
        let p = ens.predict(&x).unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
        // Same seed, same bytes: tests can rely on a deterministic model.
        let dir2 = tmp(&format!("random2-{quantized}"));
        random_test_model(&dir2, &cfg, 3, quantized, 9).unwrap();
        assert_eq!(
            std::fs::read(dir.join(&m.members[0].file)).unwrap(),
            std::fs::read(dir2.join(&m.members[0].file)).unwrap()
        );
    }
}

/// fp32 graph == reference forward pass (BN already folded, normalization in-graph), and the
/// int8 QDQ graph picks the same class on nearly every window.
#[test]
fn fp32_graph_matches_reference_and_int8_tracks_it() {
    let cfg = ModelInput::gtzan_mfcc();
    let (frames, dim) = (cfg.window_frames, cfg.frame_dim());
    let mut rng = StdRng::seed_from_u64(3);
    let windows: Vec<Vec<f32>> = (0..40).map(|_| mfcc_like_window(&mut rng, frames, dim)).collect();
    for (depth, width) in [(2, 8), (3, 32), (4, 16)] {
        let w = CnnWeights::random(frames, dim, depth, width, 64, 5 + depth as u64);
        let ranges = calibrate(&w, windows.iter().take(20).map(|v| v.as_slice()));
        let member = ExportMember { weights: w.clone(), ranges: Some(ranges), val_accuracy: None, hyperparams: None };
        let dir = tmp(&format!("ref-{depth}"));
        write_model_dir(&dir, &cfg, "t", std::slice::from_ref(&member), Quantization::Fp32, "manifest.fp32.json", None)
            .unwrap();
        write_model_dir(&dir, &cfg, "t", std::slice::from_ref(&member), Quantization::Int8Qdq, "manifest.json", None)
            .unwrap();
        let mut fp = Ensemble::load(&dir.join("manifest.fp32.json")).unwrap();
        let mut q8 = Ensemble::load(&dir).unwrap();
        let mut agree = 0;
        for x in &windows {
            let reference = w.forward(x).probs;
            let p = fp.predict(x).unwrap();
            let max_err = p.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max_err < 1e-4, "depth {depth}: fp32 ONNX differs from reference by {max_err}");
            let p8 = q8.predict(x).unwrap();
            agree += (argmax(&p8) == argmax(&p)) as usize;
        }
        // Random weights give flat, fragile outputs; trained models are checked at >= 99% on
        // real validation data (tests/shipped_model.rs).
        assert!(agree * 10 >= windows.len() * 8, "depth {depth}: int8 agrees on {agree}/{}", windows.len());
    }
}

/// An fp32 member reads back to the weights it was written from, and a folder re-quantized
/// from its fp32 members alone (no checkpoint) is the folder the trainer would have written.
#[test]
fn fp32_members_read_back_and_requantize_like_the_trainer() {
    let cfg = ModelInput::gtzan_mfcc();
    let (frames, dim) = (cfg.window_frames, cfg.frame_dim());
    let mut rng = StdRng::seed_from_u64(11);
    let calib: Vec<Vec<f32>> = (0..8).map(|_| mfcc_like_window(&mut rng, frames, dim)).collect();
    let members: Vec<ExportMember> = [(2, 8), (3, 16)]
        .iter()
        .enumerate()
        .map(|(i, &(depth, width))| {
            let weights = CnnWeights::random(frames, dim, depth, width, 32, 20 + i as u64);
            let ranges = calibrate(&weights, calib.iter().map(|v| v.as_slice()));
            ExportMember {
                weights,
                ranges: Some(ranges),
                val_accuracy: Some(0.25 + i as f32),
                hyperparams: Some(serde_json::json!({ "member": i })),
            }
        })
        .collect();
    let dir = tmp("requantize");
    let write = |q, file| write_model_dir(&dir, &cfg, "t", &members, q, file, Some("n".into()));
    let fp32 = write(Quantization::Fp32, FP32_MANIFEST_FILE).unwrap();
    let trainer_int8 = write(Quantization::Int8Qdq, "manifest.json").unwrap();

    for (m, e) in members.iter().zip(&fp32.members) {
        let back = member_from_onnx(&std::fs::read(dir.join(&e.file)).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&m.weights).unwrap());
    }
    // An int8 member is refused with a reason rather than misread.
    let err = member_from_onnx(&std::fs::read(dir.join(&trainer_int8.members[0].file)).unwrap()).unwrap_err();
    assert!(format!("{err:#}").contains("int8 (QDQ) member"), "{err:#}");

    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let windows: Vec<&[f32]> = calib.iter().map(|v| v.as_slice()).collect();
    let requantized = quantize_model_dir(&dir, &windows).unwrap();
    assert_eq!(serde_json::to_value(&requantized).unwrap(), serde_json::to_value(&trainer_int8).unwrap());
    let mut ens = Ensemble::load(&dir).unwrap();
    assert!(ens.predict(&calib[0]).is_ok());
}
