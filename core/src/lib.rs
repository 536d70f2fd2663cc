//! Genrescope core: everything shared by the plugin and the trainer.
pub mod audio_file;
pub mod features;
pub mod labels;
pub mod model;
pub mod resample;
pub mod runtime;
pub mod smoothing;
pub mod window;
