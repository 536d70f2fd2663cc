//! Genrescope core: everything shared by the plugin and the trainer.
pub mod audio_file;
pub mod labels;
pub mod runtime;
pub mod features;
pub mod resample;
