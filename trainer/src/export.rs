//! Writing a model folder: ONNX members + `manifest.json` (the format in
//! `genrescope_core::model::manifest`), and random-weight test models for other crates' tests.
use crate::data::ModelInput;
use crate::onnx::{member_to_onnx, INPUT_NAME, OUTPUT_NAME};
use crate::quantize::{calibrate, ActivationRanges};
use crate::weights::CnnWeights;
use anyhow::{ensure, Context};
use genrescope_core::labels::GENRES;
use genrescope_core::model::{InputSpec, MemberEntry, ModelManifest, Quantization, FORMAT_VERSION};
use genrescope_core::sha256_hex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// The fp32 twin of `manifest.json` in a trained model folder.
pub const FP32_MANIFEST_FILE: &str = "manifest.fp32.json";

/// One trained (or random) member ready to be written.
pub struct ExportMember {
    pub weights: CnnWeights,
    /// Required for [`Quantization::Int8Qdq`].
    pub ranges: Option<ActivationRanges>,
    pub val_accuracy: Option<f32>,
    pub hyperparams: Option<serde_json::Value>,
}

/// Writes `member_<i>.<fp32|int8>.onnx` for every member and the manifest as
/// `manifest_file` (`manifest.json` is what `Ensemble::load(dir)` reads).
pub fn write_model_dir(
    dir: &Path,
    input: &ModelInput,
    name: &str,
    members: &[ExportMember],
    quantization: Quantization,
    manifest_file: &str,
    notes: Option<String>,
) -> anyhow::Result<ModelManifest> {
    ensure!(!members.is_empty(), "no members to export");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = Vec::new();
    for (i, m) in members.iter().enumerate() {
        ensure!(
            m.weights.frames == input.window_frames && m.weights.dim == input.frame_dim(),
            "member {i} input {}x{} does not match the feature config",
            m.weights.frames,
            m.weights.dim
        );
        let (tag, ranges) = match quantization {
            Quantization::Fp32 => ("fp32", None),
            Quantization::Int8Qdq => ("int8", Some(m.ranges.as_ref().context("int8 export needs calibration ranges")?)),
        };
        let bytes = member_to_onnx(&m.weights, ranges)?;
        let file = format!("member_{i}.{tag}.onnx");
        std::fs::write(dir.join(&file), &bytes).with_context(|| format!("writing {file}"))?;
        entries.push(MemberEntry {
            file,
            sha256: sha256_hex(&bytes),
            quantization,
            inputs: vec![INPUT_NAME.into()],
            output: OUTPUT_NAME.into(),
            val_accuracy: m.val_accuracy,
            hyperparams: m.hyperparams.clone(),
        });
    }
    let manifest = ModelManifest {
        format_version: FORMAT_VERSION,
        name: name.into(),
        labels: GENRES.iter().map(|s| s.to_string()).collect(),
        front_end: input.spec.clone(),
        front_end_hash: input.spec.hash(),
        input: InputSpec {
            name: INPUT_NAME.into(),
            shape: vec![-1, 1, input.window_frames as i64, input.frame_dim() as i64],
            window_frames: input.window_frames,
        },
        trunk: None,
        members: entries,
        embedding: None,
        notes,
    };
    manifest.write(dir, manifest_file).with_context(|| format!("writing {manifest_file}"))?;
    Ok(manifest)
}

/// A random window with MFCC-like ranges (c0 around -250, the rest around 0), `frames * dim`
/// values: calibration data for random models and inputs for export tests.
pub fn mfcc_like_window(rng: &mut StdRng, frames: usize, dim: usize) -> Vec<f32> {
    (0..frames * dim)
        .map(|i| if i % dim == 0 { rng.random_range(-450.0..-50.0) } else { rng.random_range(-60.0..60.0) })
        .collect()
}

/// Writes a valid model folder (members + `manifest.json`) with random weights, for tests
/// that need a model without training. Small architecture (2 blocks of 8 channels) so that
/// writing and running it is fast; no burn involved.
pub fn random_test_model(
    dir: &Path,
    input: &ModelInput,
    n_members: usize,
    quantized: bool,
    seed: u64,
) -> anyhow::Result<()> {
    ensure!(n_members > 0, "n_members must be > 0");
    let (frames, dim) = (input.window_frames, input.frame_dim());
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let calib: Vec<Vec<f32>> = (0..4).map(|_| mfcc_like_window(&mut rng, frames, dim)).collect();
    let members: Vec<ExportMember> = (0..n_members)
        .map(|m| {
            let weights = CnnWeights::random(frames, dim, 2, 8, 16, seed.wrapping_add(m as u64));
            let ranges = quantized.then(|| calibrate(&weights, calib.iter().map(|v| v.as_slice())));
            ExportMember {
                weights,
                ranges,
                val_accuracy: None,
                hyperparams: Some(serde_json::json!({"random_test_model": true, "seed": seed, "member": m})),
            }
        })
        .collect();
    let q = if quantized { Quantization::Int8Qdq } else { Quantization::Fp32 };
    write_model_dir(
        dir,
        input,
        "random-test-model",
        &members,
        q,
        genrescope_core::model::MANIFEST_FILE,
        Some("Random weights for tests; predictions are meaningless.".into()),
    )?;
    Ok(())
}

/// Re-quantizes a model folder without its training checkpoints: reads the fp32 members listed
/// in `<dir>/manifest.fp32.json`, calibrates activation ranges on `calibration` (raw MFCC
/// windows; use training data, never the data you evaluate on) with the reference forward pass,
/// and writes `member_<i>.int8.onnx` + `manifest.json` beside them. Name, notes and per-member
/// metadata are kept.
pub fn quantize_model_dir(dir: &Path, calibration: &[&[f32]]) -> anyhow::Result<ModelManifest> {
    ensure!(!calibration.is_empty(), "no calibration windows");
    let fp32_manifest = dir.join(FP32_MANIFEST_FILE);
    let (fp32, _) = ModelManifest::load(&fp32_manifest)?;
    ensure!(fp32.trunk.is_none(), "{}: a trunk model; re-quantize it with the trainer", fp32_manifest.display());
    let input = ModelInput { spec: fp32.front_end.clone(), window_frames: fp32.input.window_frames };
    let paths = fp32.verify_files(dir)?.members;
    let mut members = Vec::new();
    for (entry, path) in fp32.members.iter().zip(&paths) {
        ensure!(
            entry.quantization == Quantization::Fp32,
            "{} is listed as {:?}, expected fp32",
            entry.file,
            entry.quantization
        );
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let weights = crate::onnx::member_from_onnx(&bytes).with_context(|| format!("reading {}", entry.file))?;
        let ranges = calibrate(&weights, calibration.iter().copied());
        members.push(ExportMember {
            weights,
            ranges: Some(ranges),
            val_accuracy: entry.val_accuracy,
            hyperparams: entry.hyperparams.clone(),
        });
    }
    write_model_dir(
        dir,
        &input,
        &fp32.name,
        &members,
        Quantization::Int8Qdq,
        genrescope_core::model::MANIFEST_FILE,
        fp32.notes.clone(),
    )
}
