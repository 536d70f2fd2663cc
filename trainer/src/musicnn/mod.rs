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

/// MSD_musicnn's 50 output tags (the `taggram` trunk output), in output order: musicnn 0.1.0's
/// `configuration.py` (`MSD_LABELS`), checked against TensorFlow's outputs in
/// `tests/data/musicnn/trunk_ref.json`.
pub const MSD_TAGS: [&str; 50] = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
];
