//! Fetch musicnn's pretrained `MSD_musicnn` checkpoint from the `musicnn` PyPI wheel, pinned by SHA-256.
//!
//! Only the two tensor-bundle files (`.index`, `.data-00000-of-00001`) and the wheel's ISC licence are
//! kept; the trainer reads them with `genrescope_trainer::musicnn::checkpoint` (no TensorFlow).
use crate::ort::{hex, sha256_file};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MUSICNN_VERSION: &str = "0.1.0";
/// The only distribution of musicnn 0.1.0 on PyPI (pure Python; it ships the TF1 checkpoints).
pub const WHEEL_NAME: &str = "musicnn-0.1.0-py3-none-any.whl";
pub const WHEEL_SHA256: &str = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa";
/// Folder under `<workspace>/.musicnn/` that holds the checkpoint; its files have an empty base name
/// (`.index`, `.data-00000-of-00001`), i.e. the checkpoint prefix is `MSD_musicnn/`.
pub const CHECKPOINT_DIR: &str = "MSD_musicnn";

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
    let wheel = match std::env::var_os("GENRESCOPE_MUSICNN_WHEEL") {
        Some(w) => PathBuf::from(w),
        None => {
            let wheel = download.join(WHEEL_NAME);
            if !(wheel.is_file() && sha256_file(&wheel)? == WHEEL_SHA256) {
                pip_download(&download)?;
            }
            wheel
        }
    };
    if !wheel.is_file() {
        bail!("expected the wheel at {} but it is not there", wheel.display());
    }
    let got = sha256_file(&wheel)?;
    if got != WHEEL_SHA256 {
        bail!(
            "SHA-256 mismatch for {}:\n  expected {WHEEL_SHA256}\n  got      {got}\nrefusing to use it (delete it and retry)",
            wheel.display()
        );
    }

    let mut archive = zip::ZipArchive::new(File::open(&wheel)?)
        .with_context(|| format!("{} is not a valid zip/wheel", wheel.display()))?;
    for (member, rel, sha) in FILES {
        let dest = dir.join(rel);
        if dest.is_file() && sha256_file(&dest)? == sha {
            continue;
        }
        // Extract to a temporary file while hashing, verify, then rename into place.
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dest.with_file_name(format!("{name}.partial"));
        let hash = {
            let mut entry =
                archive.by_name(member).with_context(|| format!("{member} not found in {}", wheel.display()))?;
            let mut out = File::create(&tmp).with_context(|| format!("could not create {}", tmp.display()))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n =
                    entry.read(&mut buf).with_context(|| format!("could not decompress {member} from the wheel"))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
            out.sync_all()?;
            hex(&hasher.finalize())
        };
        if hash != sha {
            let _ = fs::remove_file(&tmp);
            bail!(
                "SHA-256 mismatch for {member} extracted from {}:\n  expected {sha}\n  got      {hash}",
                wheel.display()
            );
        }
        fs::rename(&tmp, &dest).with_context(|| format!("could not move {} to {}", tmp.display(), dest.display()))?;
    }
    let _ = fs::remove_dir_all(&download);
    eprintln!(
        "xtask: installed the musicnn {MUSICNN_VERSION} MSD_musicnn checkpoint at {} (+ LICENSE.md, ISC; sha256 verified)",
        ckpt.display()
    );
    Ok(ckpt)
}

fn pip_download(download: &Path) -> Result<()> {
    fs::create_dir_all(download)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", &format!("musicnn=={MUSICNN_VERSION}")])
        .args(["--no-deps", "--only-binary=:all:", "-d"])
        .arg(download);
    eprintln!("xtask: downloading the musicnn {MUSICNN_VERSION} wheel (29 MB): {cmd:?}");
    let status = cmd.status().map_err(|e| {
        anyhow::anyhow!("could not run `{python} -m pip` ({e}); install Python 3 with pip, or set GENRESCOPE_MUSICNN_WHEEL to a downloaded {WHEEL_NAME}")
    })?;
    if !status.success() {
        bail!("`{python} -m pip download musicnn=={MUSICNN_VERSION}` failed ({status}); is PyPI reachable? (or set GENRESCOPE_MUSICNN_WHEEL to a downloaded {WHEEL_NAME})");
    }
    if !download.join(WHEEL_NAME).is_file() {
        bail!("pip did not produce {WHEEL_NAME} in {}", download.display());
    }
    Ok(())
}
