//! Genrescope trainer: the shipped genre model (pretrained musicnn trunk, pruned exactly, plus
//! small genre heads chosen by artist-disjoint CV) and the from-scratch CNN baseline, on
//! GTZAN-layout data, exported to ONNX model folders with the engine's input contract.
//!
//! Where things live: `musicnn` (the trunk without TensorFlow: checkpoint reader, weights, ONNX
//! graph, exact pruning, and with `train` the burn module), `heads` (the shipped model's pipeline:
//! embeddings, heads, CV, ensemble, engine evaluation, report), `audio` (decoding), `data`
//! (dataset, cache, splits, segments), `weights` (framework-free CNN weights + reference forward),
//! `onnx` (CNN graph writer), `quantize` (int8 calibration), `export` (model folders,
//! `random_test_model`), `inference` (running exported folders in ONNX Runtime), `metrics`;
//! the CNN baseline with the `train` feature (burn): `backend` (CPU or CUDA device), `model`
//! (CNN), `training` (loop, early stopping, checkpoints), `grid` (cross-validated search),
//! `ensemble` (the full run), `plots`, `report`, `bench` (training throughput).
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
