//! Genrescope trainer: CNN ensemble on GTZAN-layout data (burn), exported to ONNX with the
//! plugin's input contract, optionally int8 QDQ-quantized.
//!
//! Where things live: `audio` (decoding), `data` (dataset, cache, splits, segments),
//! `weights` (framework-free weights + reference forward), `onnx` (graph writer),
//! `quantize` (calibration), `export` (model folders, `random_test_model`), `inference`
//! (running exported folders in ONNX Runtime), `metrics`, `musicnn` (the pretrained musicnn
//! trunk without TensorFlow: checkpoint reader, weights, ONNX graph, and with `train` the burn
//! module); with the `train` feature (burn):
//! `backend` (CPU or CUDA device), `model` (CNN), `training` (loop, early stopping,
//! checkpoints), `grid` (cross-validated hyper-parameter search), `ensemble` (the full run),
//! `plots`, `report`, `bench` (training throughput).
pub mod audio;
pub mod data;
pub mod export;
pub mod heads;
pub mod inference;
pub mod metrics;
pub mod musicnn;
pub mod onnx;
pub mod quantize;
pub mod weights;

#[cfg(feature = "train")]
pub mod backend;
#[cfg(feature = "train")]
pub mod bench;
#[cfg(feature = "train")]
pub mod ensemble;
#[cfg(feature = "train")]
pub mod grid;
#[cfg(feature = "train")]
pub mod model;
#[cfg(feature = "train")]
pub mod plots;
#[cfg(feature = "train")]
pub mod report;
#[cfg(feature = "train")]
pub mod training;

pub use export::random_test_model;
