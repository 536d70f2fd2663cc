//! Fetch ONNX Runtime's shared library from the `onnxruntime` PyPI wheel, pinned by SHA-256.
use crate::wheel::{self, sha256_file, Wheel};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

pub const ORT_VERSION: &str = "1.31.1";
/// File name of the library in `.ort/` and in the bundles.
pub const LIB_NAME: &str = "libonnxruntime.so";
/// The wheel pip picks on x86_64 glibc Linux for CPython 3.11.
pub const WHEEL_NAME: &str = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl";
pub const WHEEL_SHA256: &str = "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f";
/// Path of the library inside the wheel.
pub const WHEEL_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";
pub const LIB_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";
const WHEEL: Wheel = Wheel {
    package: "onnxruntime",
    version: ORT_VERSION,
    file: WHEEL_NAME,
    sha256: WHEEL_SHA256,
    env_var: "GENRESCOPE_ORT_WHEEL",
    pip_args: &["--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64"],
    size_note: "",
};

/// Make sure `<root>/.ort/libonnxruntime.so` exists with the pinned hash; returns its path.
///
/// Environment: `GENRESCOPE_ORT_WHEEL=/path/to/wheel` uses a local wheel instead of pip;
/// `PYTHON` picks the interpreter whose pip downloads the wheel (default `python3`).
pub fn ensure(root: &Path) -> Result<PathBuf> {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        bail!("`cargo xtask ort` only knows the x86_64 Linux wheel; set GENRESCOPE_ORT_LIB to an ONNX Runtime {ORT_VERSION} library instead");
    }
    let dir = root.join(".ort");
    let dest = dir.join(LIB_NAME);
    if dest.is_file() && sha256_file(&dest)? == LIB_SHA256 {
        eprintln!("xtask: {} OK (ONNX Runtime {ORT_VERSION}, sha256 verified)", dest.display());
        return Ok(dest);
    }
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let download = dir.join("download");
    let wheel = WHEEL.fetch(&download)?;
    wheel::extract_verified(&mut wheel::open(&wheel)?, &wheel, WHEEL_MEMBER, &dest, LIB_SHA256, Some(0o755))?;
    let _ = fs::remove_dir_all(&download);
    eprintln!("xtask: installed ONNX Runtime {ORT_VERSION} at {} (sha256 verified)", dest.display());
    Ok(dest)
}
