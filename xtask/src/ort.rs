//! Fetch ONNX Runtime's shared library from the `onnxruntime` PyPI wheel, pinned by SHA-256.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const ORT_VERSION: &str = "1.31.1";
/// File name of the library in `.ort/` and in the bundles.
pub const LIB_NAME: &str = "libonnxruntime.so";
/// The wheel pip picks on x86_64 glibc Linux for CPython 3.11.
pub const WHEEL_NAME: &str = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl";
pub const WHEEL_SHA256: &str = "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f";
/// Path of the library inside the wheel.
pub const WHEEL_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";
pub const LIB_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";

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
    let wheel = match std::env::var_os("GENRESCOPE_ORT_WHEEL") {
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

    // Extract to a temporary file while hashing, verify, then rename into place.
    let tmp = dir.join(format!("{LIB_NAME}.partial"));
    let lib_hash = {
        let mut archive = zip::ZipArchive::new(File::open(&wheel)?)
            .with_context(|| format!("{} is not a valid zip/wheel", wheel.display()))?;
        let mut member = archive
            .by_name(WHEEL_MEMBER)
            .with_context(|| format!("{WHEEL_MEMBER} not found in {}", wheel.display()))?;
        let mut out = File::create(&tmp).with_context(|| format!("could not create {}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member.read(&mut buf).context("could not decompress the library from the wheel")?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        out.sync_all()?;
        hex(&hasher.finalize())
    };
    if lib_hash != LIB_SHA256 {
        let _ = fs::remove_file(&tmp);
        bail!(
            "SHA-256 mismatch for {WHEEL_MEMBER} extracted from {}:\n  expected {LIB_SHA256}\n  got      {lib_hash}",
            wheel.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    }
    fs::rename(&tmp, &dest).with_context(|| format!("could not move library to {}", dest.display()))?;
    let _ = fs::remove_dir_all(&download);
    eprintln!("xtask: installed ONNX Runtime {ORT_VERSION} at {} (sha256 verified)", dest.display());
    Ok(dest)
}

fn pip_download(download: &Path) -> Result<()> {
    fs::create_dir_all(download)?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", &format!("onnxruntime=={ORT_VERSION}")])
        .args(["--no-deps", "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"])
        .args(["--platform", "manylinux_2_28_x86_64", "-d"])
        .arg(download);
    eprintln!("xtask: downloading the onnxruntime {ORT_VERSION} wheel: {cmd:?}");
    let status = cmd.status().map_err(|e| {
        anyhow::anyhow!("could not run `{python} -m pip` ({e}); install Python 3 with pip, or set GENRESCOPE_ORT_WHEEL to a downloaded {WHEEL_NAME}")
    })?;
    if !status.success() {
        bail!("`{python} -m pip download onnxruntime=={ORT_VERSION}` failed ({status}); is PyPI reachable? (or set GENRESCOPE_ORT_WHEEL to a downloaded {WHEEL_NAME})");
    }
    if !download.join(WHEEL_NAME).is_file() {
        bail!("pip did not produce {WHEEL_NAME} in {}", download.display());
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).with_context(|| format!("could not read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
