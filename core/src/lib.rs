//! Genrescope core: everything shared by the engine, the plugin, the CLI and the trainer.
//!
//! Data flows one way: `audio_file` (decoding, `decode` feature) → `features` (everything the
//! audio thread runs: downmix, resampling, streaming frames; and the per-window transform, all
//! described by the model's spec) → `window` (frames into model windows) → `model` (manifest,
//! ONNX Runtime: trunk once, heads, soft vote) → `smoothing` (over time, level gate).
//!
//! Model folders are untrusted input: [`model::admission`] checks one against [`limits`] before
//! anything is built from it.
//!
//! Cargo features: `decode` (symphonia: [`audio_file::decode_file`]; the plugin leaves it off),
//! `dev-paths` (the workspace's `.ort/` as a last fallback for ONNX Runtime, for tests and
//! developer tools; never in a shipped binary, see [`runtime`]).
// A panic on the analysis or audio thread is a lost feature or a host crash: fail with a
// typed error instead, or say in an `expect` why it cannot happen (workspace lint policy).
#![warn(clippy::unwrap_used, clippy::expect_used)]
pub mod audio_file;
pub mod features;
pub mod labels;
pub mod limits;
pub mod model;
pub mod runtime;
pub mod smoothing;
pub mod window;

use sha2::{Digest, Sha256};

/// Lower-case hex of some bytes (hashes in manifests, caches and the library).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
