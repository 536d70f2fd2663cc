//! musicnn (Pons & Serra 2019), the pretrained MSD_musicnn trunk: reading its TensorFlow checkpoint
//! (`cargo xtask musicnn` puts it in `<workspace>/.musicnn/MSD_musicnn/`).
pub mod checkpoint;
