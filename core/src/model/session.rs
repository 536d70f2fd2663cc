//! The one place ONNX Runtime sessions are built: single-threaded by default, no spinning,
//! on the process-wide environment (`crate::runtime`).
use super::ModelError;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::Path;

/// How a session may use the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Intra-op threads. 1 in the plugin and the CLI (the calling thread does the work, no pool
    /// threads); the trainer may use more for bulk embedding.
    pub threads: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { threads: 1 }
    }
}

pub fn build(file: &Path, opts: SessionOptions) -> Result<Session, ModelError> {
    let env = crate::runtime::environment()?;
    let threads = opts.threads.max(1);
    Session::builder(env)
        .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .and_then(|b| b.with_inter_op_spinning(false).map_err(Into::into))
        .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
        .and_then(|mut b| b.commit_from_file(file))
        .map_err(|e: ort::Error| ModelError::Load { file: file.to_path_buf(), message: e.to_string() })
}
