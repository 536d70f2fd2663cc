//! The ONNX Runtime ensemble: one session per member, soft voting over their probabilities.
//!
//! Runs on the analysis thread only: `Session::run` allocates.
use super::manifest::{ManifestError, ModelManifest};
use crate::features::FeatureConfig;
use crate::labels::NUM_GENRES;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("ONNX Runtime unavailable: {0}")]
    Runtime(String),
    #[error("cannot load member {file}: {message}")]
    Load { file: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("input window has {got} values, the model expects {expected}")]
    InputSize { got: usize, expected: usize },
}

pub struct Ensemble {
    manifest: ModelManifest,
    dir: PathBuf,
    sessions: Vec<Session>,
    window_len: usize,
}

impl Ensemble {
    /// Loads and validates a model folder (or manifest path) for the running feature config,
    /// verifies member checksums, builds one single-threaded, non-spinning session per member
    /// and warms each up once so the first real prediction is not slow.
    pub fn load(path: &Path, running: &FeatureConfig) -> Result<Self, ModelError> {
        let (manifest, dir) = ModelManifest::load(path)?;
        manifest.validate(running)?;
        let files = manifest.verify_members(&dir)?;
        let env = crate::runtime::environment().map_err(|e| ModelError::Runtime(e.to_string()))?;
        let mut sessions = Vec::with_capacity(files.len());
        for file in files {
            let load_err = |message: String| ModelError::Load { file: file.clone(), message };
            let session = Session::builder(env)
                .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
                .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
                .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
                .and_then(|b| b.with_inter_op_spinning(false).map_err(Into::into))
                .and_then(|b| {
                    b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into)
                })
                .and_then(|mut b| b.commit_from_file(&file))
                .map_err(|e: ort::Error| load_err(e.to_string()))?;
            let names_ok = session.inputs().iter().any(|i| i.name() == manifest.input_name)
                && session.outputs().iter().any(|o| o.name() == manifest.output_name);
            if !names_ok {
                return Err(load_err(format!(
                    "graph lacks input '{}' or output '{}'",
                    manifest.input_name, manifest.output_name
                )));
            }
            sessions.push(session);
        }
        let window_len = running.window_frames * running.frame_dim();
        let mut ensemble = Self { manifest, dir, sessions, window_len };
        let warm = vec![0.0f32; window_len];
        ensemble.predict(&warm)?;
        Ok(ensemble)
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn num_members(&self) -> usize {
        self.sessions.len()
    }

    /// Number of floats in one input window (`window_frames * frame_dim`).
    pub fn window_len(&self) -> usize {
        self.window_len
    }

    /// Soft vote: the mean of all members' class probabilities for one window.
    pub fn predict(&mut self, window: &[f32]) -> Result<[f32; NUM_GENRES], ModelError> {
        let mut sum = [0.0f32; NUM_GENRES];
        for m in 0..self.sessions.len() {
            let p = self.predict_member(m, window)?;
            sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        let n = self.sessions.len() as f32;
        Ok(sum.map(|s| s / n))
    }

    /// One member's probabilities for one window.
    pub fn predict_member(
        &mut self,
        member: usize,
        window: &[f32],
    ) -> Result<[f32; NUM_GENRES], ModelError> {
        if window.len() != self.window_len {
            return Err(ModelError::InputSize { got: window.len(), expected: self.window_len });
        }
        let [_, c, h, w] = self.manifest.input_shape;
        let shape = [1i64, c, h, w];
        let input = TensorRef::from_array_view((shape, window))
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let session = &mut self.sessions[member];
        let outputs = session
            .run(ort::inputs![self.manifest.input_name.as_str() => input])
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        let (_, probs) = outputs[self.manifest.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        if probs.len() != NUM_GENRES {
            return Err(ModelError::Inference(format!(
                "member {member} returned {} values, expected {NUM_GENRES}",
                probs.len()
            )));
        }
        let mut out = [0.0f32; NUM_GENRES];
        out.copy_from_slice(probs);
        if out.iter().any(|p| !p.is_finite()) {
            return Err(ModelError::Inference(format!("member {member} returned non-finite output")));
        }
        Ok(out)
    }
}
