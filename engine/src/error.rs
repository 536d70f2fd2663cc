//! The engine's one error type. Core errors are wrapped, not turned into text, so a caller can
//! tell a missing model from a corrupt one; only the edge a person reads (the editor's status
//! line, the CLI's message) formats them.
use genrescope_core::audio_file::DecodeError;
use genrescope_core::model::ModelError;
use std::path::PathBuf;

use crate::frontend::FrontEndError;
use crate::settings::OutOfRange;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A model folder could not be loaded: missing, unreadable manifest, a front end this build
    /// cannot compute, a corrupt or changed ONNX file, no ONNX Runtime, or a cancelled load
    /// ([`ModelError::Cancelled`]).
    #[error("model {}: {source}", dir.display())]
    Model { dir: PathBuf, source: ModelError },
    /// ONNX Runtime panicked while loading a model (caught; the engine goes on without one).
    #[error("model {}: loading crashed inside ONNX Runtime", dir.display())]
    LoadCrashed { dir: PathBuf },
    /// A window could not be analysed (the stream goes on with the next one).
    #[error("inference: {0}")]
    Inference(#[source] ModelError),
    /// The audio-thread front end could not be built for this stream.
    #[error(transparent)]
    FrontEnd(#[from] FrontEndError),
    /// An audio file could not be decoded (the engine takes decoded audio; callers that decode
    /// report it through this error too).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An offline run's setting is outside its range.
    #[error("invalid setting {name}: {0}", name = .0.setting.name)]
    Setting(#[from] OutOfRange<f32>),
    #[error("invalid settings: the block size must be at least 1")]
    ZeroBlock,
    #[error("the audio has no channels or no samples")]
    NoAudio,
}

impl EngineError {
    /// Whether this is a model load given up because its analysis thread is going away.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, EngineError::Model { source: ModelError::Cancelled, .. })
    }
}
