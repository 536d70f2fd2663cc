//! The shipped genre model: heads on the musicnn trunk. Without burn: `head` (plain head weights,
//! ONNX), `embed` (trunk outputs for many windows), `evaluate` (a model folder through the engine
//! on held-out audio: accuracy and robustness). With the `train` feature: `model` (the head as a
//! burn module), `fit` (training one head), `cv` (grid, artist-disjoint 2-fold CV, ensemble), `run`
//! (the whole pipeline, step by step) and `report` (REPORT.md, card.json).
pub mod calibrate;
pub mod embed;
pub mod evaluate;
pub mod head;

#[cfg(feature = "train")]
pub mod cv;
#[cfg(feature = "train")]
pub mod fit;
#[cfg(feature = "train")]
pub mod model;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod run;
pub mod zeroshot;
