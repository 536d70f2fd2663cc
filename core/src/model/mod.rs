//! Trained models: the manifest (format 2, and 1 read by `v1`), admission (what a model folder may
//! ask for), session building, the loaded
//! ensemble (trunk once per window, members, soft vote).
pub mod admission;
pub mod ensemble;
pub mod manifest;
pub mod session;
mod v1;
pub mod vote;

pub use ensemble::{Ensemble, EnsembleOutput, ModelError};
pub use manifest::{
    Calibration, InputSpec, ManifestError, MemberEntry, ModelManifest, OutOfSet, Quantization, TrunkEntry, TrunkOutput,
    VerifiedFiles, Vote, VoteRule, FORMAT_VERSION, MANIFEST_FILE,
};
pub use session::SessionOptions;
pub use vote::{soft_vote, top_genre, top_k, Combiner};
