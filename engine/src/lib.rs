//! The real-time engine every face of Genrescope shares (plugin, CLI, library scan).
//!
//! Data flows one way: host audio → [`frontend`] (audio thread: downmix, resample, feature
//! frames) → [`queue`] (lock-free, typed) → [`analysis`] (analysis thread: windows → model →
//! smoothing → gate) → [`shared`] (atomics the editor, MIDI output and CLI read). [`offline`]
//! drives exactly the same code synchronously, for files. [`settings`] holds the one definition
//! of every user setting's default and range. Every fallible call returns an [`EngineError`].
//!
//! Cargo feature `dev-paths`: [`default_model_dir`] falls back to the workspace's `models/`
//! (tests, developer builds; never in a shipped binary).
// A panic on the analysis or audio thread is a lost feature or a host crash: fail with a
// typed error instead, or say in an `expect` why it cannot happen (workspace lint policy).
#![warn(clippy::unwrap_used, clippy::expect_used)]
pub mod analysis;
pub mod error;
pub mod frontend;
pub mod offline;
pub mod queue;
pub mod settings;
pub mod shared;

pub use analysis::{default_model_dir, AnalysisThread, Analyzer, Prediction};
pub use error::EngineError;
pub use frontend::{AudioFrontEnd, FrontEndError};
pub use offline::{file_verdict, FileVerdict, OfflineEngine, OfflineSettings};
pub use queue::{frame_queue, FrameMeta, FrameReceiver, FrameSender};
pub use shared::{Claim, HistoryPoint, SharedState, Status, OTHER_TOP};
