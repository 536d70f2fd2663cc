//! Fetch musicnn's pretrained `MSD_musicnn` checkpoint from the `musicnn` PyPI wheel, pinned by SHA-256.
//!
//! Only the two tensor-bundle files (`.index`, `.data-00000-of-00001`) and the wheel's ISC licence are
//! kept; the trainer reads them with `genrescope_trainer::musicnn::checkpoint` (no TensorFlow).
use crate::wheel::{self, sha256_file, Wheel};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

pub const MUSICNN_VERSION: &str = "0.1.0";
/// The only distribution of musicnn 0.1.0 on PyPI (pure Python; it ships the TF1 checkpoints).
pub const WHEEL_NAME: &str = "musicnn-0.1.0-py3-none-any.whl";
pub const WHEEL_SHA256: &str = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa";
/// Folder under `<workspace>/.musicnn/` that holds the checkpoint; its files have an empty base name
/// (`.index`, `.data-00000-of-00001`), i.e. the checkpoint prefix is `MSD_musicnn/`.
pub const CHECKPOINT_DIR: &str = "MSD_musicnn";
const WHEEL: Wheel = Wheel {
    package: "musicnn",
    version: MUSICNN_VERSION,
    file: WHEEL_NAME,
    sha256: WHEEL_SHA256,
    env_var: "GENRESCOPE_MUSICNN_WHEEL",
    pip_args: &[],
    size_note: " (29 MB)",
};

/// (path inside the wheel, path under `.musicnn/`, SHA-256 of the extracted file).
const FILES: [(&str, &str, &str); 3] = [
    (
        "musicnn/MSD_musicnn/.index",
        "MSD_musicnn/.index",
        "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
    ),
    (
        "musicnn/MSD_musicnn/.data-00000-of-00001",
        "MSD_musicnn/.data-00000-of-00001",
        "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
    ),
    (
        "musicnn-0.1.0.dist-info/LICENSE.md",
        "LICENSE.md",
        "60c4194f702ddd969f969577743546327b4e9db560c07ec286be5cec27f55fcd",
    ),
];

/// Make sure `<root>/.musicnn/MSD_musicnn/{.index,.data-00000-of-00001}` and `<root>/.musicnn/LICENSE.md`
/// exist with the pinned hashes; returns the checkpoint prefix directory `<root>/.musicnn/MSD_musicnn`.
///
/// Environment: `GENRESCOPE_MUSICNN_WHEEL=/path/to/wheel` uses a local wheel instead of pip;
/// `PYTHON` picks the interpreter whose pip downloads the wheel (default `python3`).
pub fn ensure(root: &Path) -> Result<PathBuf> {
    let dir = root.join(".musicnn");
    let ckpt = dir.join(CHECKPOINT_DIR);
    let mut all_ok = true;
    for (_, rel, sha) in FILES {
        let dest = dir.join(rel);
        if !(dest.is_file() && sha256_file(&dest)? == sha) {
            all_ok = false;
            break;
        }
    }
    if all_ok {
        eprintln!("xtask: {} OK (musicnn {MUSICNN_VERSION} MSD_musicnn checkpoint, sha256 verified)", ckpt.display());
        return Ok(ckpt);
    }
    fs::create_dir_all(&ckpt).with_context(|| format!("could not create {}", ckpt.display()))?;

    let download = dir.join("download");
    let wheel = WHEEL.fetch(&download)?;
    let mut archive = wheel::open(&wheel)?;
    for (member, rel, sha) in FILES {
        let dest = dir.join(rel);
        if !(dest.is_file() && sha256_file(&dest)? == sha) {
            wheel::extract_verified(&mut archive, &wheel, member, &dest, sha, None)?;
        }
    }
    let _ = fs::remove_dir_all(&download);
    eprintln!(
        "xtask: installed the musicnn {MUSICNN_VERSION} MSD_musicnn checkpoint at {} (+ LICENSE.md, ISC; sha256 verified)",
        ckpt.display()
    );
    Ok(ckpt)
}
