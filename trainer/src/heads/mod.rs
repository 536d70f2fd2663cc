//! The shipped genre model: heads on the musicnn trunk. `embed` (trunk outputs for many windows)
//! and `head` (plain head weights, ONNX) build without burn; with the `train` feature: `fit`
//! (training one head), `cv` (grid, artist-disjoint 2-fold CV, ensemble), `run` (the whole
//! pipeline, step by step), `evaluate` (the engine on held-out audio: accuracy and robustness).
pub mod embed;
pub mod evaluate;
pub mod head;

#[cfg(feature = "train")]
pub mod cv;
#[cfg(feature = "train")]
pub mod fit;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod run;
