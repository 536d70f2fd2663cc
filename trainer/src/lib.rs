//! Genrescope trainer: builds the shipped genre model (the pretrained musicnn trunk, pruned
//! exactly, plus small genre heads chosen by artist-disjoint cross-validation and soft-voted) from a
//! GTZAN-layout folder, writes it as an ONNX model folder with the engine's input contract, and
//! reports on it through the engine the plugin runs.
//!
//! Where things live (trainer/README.md has the concept → file table):
//! - shared pieces: `data` (corpus scan and splits, mel frames + cache, windows), `audio`
//!   (decoding), `metrics`, `markdown` (report tables), `inference` (ONNX graphs over many
//!   windows, latency), and with the `train` feature (burn): `backend` (CPU or CUDA device),
//!   `training` (optimizers, class weights, the one early-stopping loop), `bench` (its throughput);
//! - the model: `musicnn` (the trunk without TensorFlow: checkpoint reader, weights, ONNX graph,
//!   exact pruning, burn module) and `heads` (plain heads + ONNX, trunk embeddings, engine
//!   evaluation; with `train`: the burn head, its fit, CV, the whole run step by step, the report).
pub mod audio;
pub mod data;
pub mod heads;
pub mod inference;
pub mod markdown;
pub mod metrics;
pub mod musicnn;

#[cfg(feature = "train")]
pub mod backend;
#[cfg(feature = "train")]
pub mod bench;
#[cfg(feature = "train")]
pub mod experiments;
#[cfg(feature = "train")]
pub mod training;
