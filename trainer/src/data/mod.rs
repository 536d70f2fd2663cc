//! The data every model here trains and is scored on: `corpus` (the clips of a GTZAN-layout
//! folder, track-level splits), `features` (mel frames through the plugin's front end, cached on
//! disk) and `windows` (fixed-length windows of model input with their labels and tracks).
#[cfg(feature = "augment")]
pub mod augment;
pub mod corpora;
pub mod corpus;
pub mod features;
pub mod synthetic;
pub mod windows;

pub use corpora::{load_corpora, Corpus, CorpusClip, Fold, NUM_CLASSES, OUT_OF_SET};
pub use corpus::{scan, split, stratified, Clip, Split};
pub use features::{featurize, ClipFeatures};
pub use windows::{ModelInput, Segments};
