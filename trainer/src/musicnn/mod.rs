//! musicnn (Pons & Serra 2019), the pretrained MSD_musicnn trunk: reading its TensorFlow checkpoint
//! (`cargo xtask musicnn` puts it in `<workspace>/.musicnn/MSD_musicnn/`) and its framework-free
//! weights (`weights`).
pub mod checkpoint;
pub mod weights;
