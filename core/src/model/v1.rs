//! Format version 1 manifests (the first CNN ensembles, MFCC input, no trunk): read and converted
//! into the current [`ModelManifest`], so old model folders keep working.
use super::manifest::{InputSpec, ManifestError, MemberEntry, ModelManifest, Quantization};
use crate::features::{
    Compression, DctNorm, FeatureOutput, FrontEndSpec, MelNorm, MelScale, MelSpec, Normalization, PadMode, WindowKind,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version 1's feature configuration, field for field: its canonical JSON is what the v1 hash
/// covers, so neither names nor order may change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FeatureConfigV1 {
    sample_rate: u32,
    n_fft: usize,
    hop_length: usize,
    n_mels: usize,
    fmin: f32,
    fmax: Option<f32>,
    n_mfcc: usize,
    window_frames: usize,
    top_db: Option<f32>,
    window: WindowKind,
    center: bool,
    pad_mode: PadMode,
    power: f32,
    mel_scale: MelScale,
    mel_norm: MelNorm,
    amin: f32,
    ref_power: f32,
    dct_type: u8,
    dct_norm: DctNorm,
}

impl FeatureConfigV1 {
    fn hash(&self) -> String {
        #[allow(clippy::expect_used, reason = "plain structs with string keys always serialize")]
        let json = serde_json::to_string(self).expect("serializes");
        crate::hex(&Sha256::digest(format!("genrescope-features-v1\n{json}").as_bytes()))
    }

    fn front_end(&self) -> FrontEndSpec {
        FrontEndSpec {
            sample_rate: self.sample_rate,
            n_fft: self.n_fft,
            hop_length: self.hop_length,
            window: self.window,
            center: self.center,
            pad_mode: self.pad_mode,
            power: self.power,
            mel: MelSpec {
                n_mels: self.n_mels,
                fmin: self.fmin,
                fmax: self.fmax,
                scale: self.mel_scale,
                norm: self.mel_norm,
            },
            normalization: Normalization::Off,
            compression: Compression::PowerToDb { amin: self.amin, ref_power: self.ref_power, top_db: self.top_db },
            output: FeatureOutput::Mfcc { n_mfcc: self.n_mfcc, dct_type: self.dct_type, dct_norm: self.dct_norm },
        }
    }
}

#[derive(Deserialize)]
struct MemberV1 {
    file: String,
    sha256: String,
    quantization: Quantization,
    #[serde(default)]
    val_accuracy: Option<f32>,
    #[serde(default)]
    hyperparams: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ManifestV1 {
    name: String,
    labels: Vec<String>,
    feature_config: FeatureConfigV1,
    feature_hash: String,
    input_name: String,
    input_shape: [i64; 4],
    output_name: String,
    members: Vec<MemberV1>,
    #[serde(default)]
    notes: Option<String>,
}

/// Converts a parsed v1 manifest (validation is the caller's).
pub(super) fn parse(value: serde_json::Value) -> Result<ModelManifest, ManifestError> {
    let parse_err = |e: serde_json::Error| ManifestError::Parse { path: Default::default(), message: e.to_string() };
    let v1: ManifestV1 = serde_json::from_value(value).map_err(parse_err)?;
    let computed = v1.feature_config.hash();
    if v1.feature_hash != computed {
        return Err(ManifestError::FrontEndHash { manifest: v1.feature_hash, computed });
    }
    let front_end = v1.feature_config.front_end();
    Ok(ModelManifest {
        format_version: 1,
        name: v1.name,
        labels: v1.labels,
        front_end_hash: front_end.hash(),
        front_end,
        input: InputSpec {
            name: v1.input_name.clone(),
            shape: v1.input_shape.to_vec(),
            window_frames: v1.feature_config.window_frames,
        },
        trunk: None,
        members: v1
            .members
            .into_iter()
            .map(|m| MemberEntry {
                file: m.file,
                sha256: m.sha256,
                quantization: m.quantization,
                inputs: vec![v1.input_name.clone()],
                output: v1.output_name.clone(),
                val_accuracy: m.val_accuracy,
                hyperparams: m.hyperparams,
            })
            .collect(),
        embedding: None,
        out_of_set: None,
        vote: None,
        calibration: None,
        notes: v1.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1_model")
    }

    #[test]
    fn v1_folder_loads_as_the_gtzan_mfcc_front_end() {
        let (m, dir) = ModelManifest::load(&fixture()).unwrap();
        assert_eq!(m.format_version, 1);
        assert_eq!(m.front_end, FrontEndSpec::gtzan_mfcc());
        assert_eq!(m.input.window_frames, 130);
        assert_eq!(m.input.shape, vec![-1, 1, 130, 13]);
        assert!(m.trunk.is_none());
        assert_eq!(m.members[0].inputs, vec!["mfcc".to_string()]);
        assert_eq!(m.members[0].output, "probs");
        m.verify_files(&dir).unwrap();
    }

    #[test]
    fn v1_hash_is_checked() {
        let text = std::fs::read_to_string(fixture().join("manifest.json")).unwrap();
        let tampered = text.replace("\"n_mfcc\": 13", "\"n_mfcc\": 12");
        assert_ne!(tampered, text);
        let e = ModelManifest::parse(&tampered).unwrap_err();
        assert!(matches!(e, ManifestError::FrontEndHash { .. }), "{e}");
    }
}
