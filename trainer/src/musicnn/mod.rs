//! musicnn (Pons & Serra 2019), the pretrained MSD_musicnn trunk: reading its TensorFlow checkpoint
//! (`cargo xtask musicnn` puts it in `<workspace>/.musicnn/MSD_musicnn/`), its framework-free
//! weights (`weights`), the trunk as a burn module (`model`, `train` feature) and as an ONNX
//! graph (`onnx`), exact pruning of its dead filters (`prune`), and fine-tuning of its back end on
//! cached front-end outputs (`finetune`, `train` feature).
pub mod checkpoint;
#[cfg(feature = "train")]
pub mod finetune;
#[cfg(feature = "train")]
pub mod model;
pub mod onnx;
pub mod prune;
pub mod weights;
