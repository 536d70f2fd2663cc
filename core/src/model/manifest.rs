//! The model manifest: `manifest.json` beside the ONNX members of an ensemble.
//!
//! It pins everything the engine needs to refuse a model it cannot run correctly:
//! labels, the exact feature configuration (and its hash), input shape and member files
//! with their SHA-256.
use crate::features::FeatureConfig;
use crate::labels::GENRES;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    /// Plain float32 graph.
    Fp32,
    /// Static int8 quantization in QDQ form (QuantizeLinear/DequantizeLinear pairs).
    Int8Qdq,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// File name relative to the manifest's folder.
    pub file: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub quantization: Quantization,
    /// Validation accuracy measured by the trainer (segment level), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f32>,
    /// Free-form hyper-parameters of the member, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperparams: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format_version: u32,
    pub name: String,
    /// Output classes in model order.
    pub labels: Vec<String>,
    pub feature_config: FeatureConfig,
    /// `feature_config.hash()` at training time.
    pub feature_hash: String,
    /// Graph input name and shape; batch dimension first (-1 = dynamic).
    pub input_name: String,
    pub input_shape: [i64; 4],
    /// Graph output name; the output is per-class probabilities (softmax inside the graph).
    pub output_name: String,
    pub members: Vec<MemberEntry>,
    /// Free-form description of the training data and evaluation, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest not found at {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid model manifest {path}: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("unsupported manifest format version {0} (this build reads {FORMAT_VERSION})")]
    Version(u32),
    #[error("model manifest is inconsistent: {0}")]
    Invalid(String),
    #[error(
        "model was trained on different features (model hash {model}, this build computes {running}); \
         retrain or use a matching build"
    )]
    FeatureMismatch { model: String, running: String },
    #[error("member {file} is corrupt or was changed: SHA-256 {actual}, manifest says {expected}")]
    Checksum { file: String, expected: String, actual: String },
}

impl ModelManifest {
    /// Reads `<dir>/manifest.json` (or the file itself if `path` is a file).
    pub fn load(path: &Path) -> Result<(Self, PathBuf), ManifestError> {
        let file = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
        if !file.is_file() {
            return Err(ManifestError::NotFound(file));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|source| ManifestError::Io { path: file.clone(), source })?;
        let manifest: ModelManifest = serde_json::from_str(&text)
            .map_err(|source| ManifestError::Parse { path: file.clone(), source })?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((manifest, dir))
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let file = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).expect("manifest serializes");
        std::fs::write(&file, text + "\n")?;
        Ok(file)
    }

    /// Checks internal consistency and that the model matches the running feature extractor.
    pub fn validate(&self, running: &FeatureConfig) -> Result<(), ManifestError> {
        if self.format_version != FORMAT_VERSION {
            return Err(ManifestError::Version(self.format_version));
        }
        let running_hash = running.hash();
        if self.feature_hash != running_hash || self.feature_config.hash() != running_hash {
            return Err(ManifestError::FeatureMismatch {
                model: self.feature_hash.clone(),
                running: running_hash,
            });
        }
        if self.labels.len() != GENRES.len()
            || self.labels.iter().zip(GENRES).any(|(a, b)| a != b)
        {
            return Err(ManifestError::Invalid(format!(
                "labels {:?} differ from the engine's genres {:?}",
                self.labels, GENRES
            )));
        }
        let [_, ch, frames, dim] = self.input_shape;
        if ch != 1
            || frames != running.window_frames as i64
            || dim != running.frame_dim() as i64
        {
            return Err(ManifestError::Invalid(format!(
                "input shape {:?} does not match [N, 1, {}, {}]",
                self.input_shape,
                running.window_frames,
                running.frame_dim()
            )));
        }
        if self.members.is_empty() {
            return Err(ManifestError::Invalid("no ensemble members".into()));
        }
        Ok(())
    }

    /// Verifies every member file's SHA-256; returns their absolute paths.
    pub fn verify_members(&self, dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
        self.members
            .iter()
            .map(|m| {
                let path = dir.join(&m.file);
                let bytes = std::fs::read(&path)
                    .map_err(|source| ManifestError::Io { path: path.clone(), source })?;
                let actual = sha256_hex(&bytes);
                if !actual.eq_ignore_ascii_case(&m.sha256) {
                    return Err(ManifestError::Checksum {
                        file: m.file.clone(),
                        expected: m.sha256.clone(),
                        actual,
                    });
                }
                Ok(path)
            })
            .collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
