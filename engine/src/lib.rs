//! The real-time engine every face of Genrescope shares (plugin, CLI, library scan).
//!
//! Data flows one way: host audio → [`frontend`] (audio thread: downmix, resample, feature
//! frames) → [`queue`] (lock-free, typed) → [`analysis`] (analysis thread: windows → model →
//! smoothing → gate) → [`shared`] (atomics the editor, MIDI output and CLI read). [`offline`]
//! drives exactly the same code synchronously, for files. [`settings`] holds the one definition
//! of every user setting's default and range.
pub mod analysis;
pub mod frontend;
pub mod offline;
pub mod queue;
pub mod settings;
pub mod shared;

pub use analysis::{default_model_dir, AnalysisThread, Analyzer, Prediction};
pub use frontend::AudioFrontEnd;
pub use offline::{file_verdict, OfflineEngine, OfflineError, OfflineSettings};
pub use queue::{frame_queue, FrameMeta, FrameReceiver, FrameSender};
pub use shared::{HistoryPoint, SharedState, Status};
