//! musicnn (Pons & Serra 2019), the pretrained MSD_musicnn trunk: reading its TensorFlow checkpoint
//! (`cargo xtask musicnn` puts it in `<workspace>/.musicnn/MSD_musicnn/`), its framework-free
//! weights (`weights`), the trunk as a burn module (`model`, `train` feature) and as an ONNX
//! graph (`onnx`), exact pruning of its dead filters (`prune`), and fine-tuning of its back end on
//! cached front-end outputs (`finetune`, `train` feature).
pub mod checkpoint;
pub mod export;
#[cfg(feature = "train")]
pub mod finetune;
#[cfg(feature = "train")]
pub mod model;
pub mod onnx;
pub mod prune;
pub mod weights;

/// MSD_musicnn's 50 output tags (the `taggram` trunk output), in output order; core keeps the list
/// (the library stores and finds tracks by them).
pub use genrescope_core::labels::MSD_TAGS;
