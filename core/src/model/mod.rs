//! Trained models: the manifest format and the ONNX Runtime ensemble.
pub mod ensemble;
pub mod manifest;

pub use ensemble::{Ensemble, ModelError};
pub use manifest::{ManifestError, MemberEntry, ModelManifest, Quantization, MANIFEST_FILE};
