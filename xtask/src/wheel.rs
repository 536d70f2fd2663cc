//! A PyPI wheel pinned by SHA-256: fetched with pip (or given by an environment variable), and
//! members extracted with their own pinned hashes. Shared by `xtask ort` and `xtask musicnn`.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Wheel {
    pub package: &'static str,
    pub version: &'static str,
    /// The file pip writes.
    pub file: &'static str,
    pub sha256: &'static str,
    /// Names a local copy of the wheel to use instead of pip.
    pub env_var: &'static str,
    /// pip arguments after `--no-deps --only-binary=:all:` (platform pins).
    pub pip_args: &'static [&'static str],
    /// For the progress line, e.g. " (29 MB)".
    pub size_note: &'static str,
}

impl Wheel {
    /// The verified wheel: `$env_var` if set, else `download/<file>`, pip-downloaded when absent or wrong.
    pub fn fetch(&self, download: &Path) -> Result<PathBuf> {
        let wheel = match std::env::var_os(self.env_var) {
            Some(w) => PathBuf::from(w),
            None => {
                let wheel = download.join(self.file);
                if !(wheel.is_file() && sha256_file(&wheel)? == self.sha256) {
                    self.pip_download(download)?;
                }
                wheel
            }
        };
        if !wheel.is_file() {
            bail!("expected the wheel at {} but it is not there", wheel.display());
        }
        let got = sha256_file(&wheel)?;
        if got != self.sha256 {
            bail!(
                "SHA-256 mismatch for {}:\n  expected {}\n  got      {got}\nrefusing to use it (delete it and retry)",
                wheel.display(),
                self.sha256
            );
        }
        Ok(wheel)
    }

    fn pip_download(&self, download: &Path) -> Result<()> {
        fs::create_dir_all(download)?;
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = Command::new(&python);
        let req = format!("{}=={}", self.package, self.version);
        cmd.args(["-m", "pip", "download", &req, "--no-deps", "--only-binary=:all:"])
            .args(self.pip_args)
            .arg("-d")
            .arg(download);
        eprintln!("xtask: downloading the {} {} wheel{}: {cmd:?}", self.package, self.version, self.size_note);
        let (env, file) = (self.env_var, self.file);
        let status = cmd.status().map_err(|e| {
            anyhow::anyhow!(
                "could not run `{python} -m pip` ({e}); install Python 3 with pip, or set {env} to a downloaded {file}"
            )
        })?;
        if !status.success() {
            bail!(
                "`{python} -m pip download {req}` failed ({status}); is PyPI reachable? (or set {env} to a downloaded {file})"
            );
        }
        if !download.join(file).is_file() {
            bail!("pip did not produce {file} in {}", download.display());
        }
        Ok(())
    }
}

/// Extracts `member` of the wheel to `dest`: into `<dest>.partial` while hashing, checked against
/// `sha256`, then renamed, so `dest` is either absent or complete and verified.
pub fn extract_verified(
    archive: &mut zip::ZipArchive<File>,
    wheel: &Path,
    member: &str,
    dest: &Path,
    sha256: &str,
    mode: Option<u32>,
) -> Result<()> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dest.with_file_name(format!("{name}.partial"));
    let hash = {
        let mut entry =
            archive.by_name(member).with_context(|| format!("{member} not found in {}", wheel.display()))?;
        let mut out = File::create(&tmp).with_context(|| format!("could not create {}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).with_context(|| format!("could not decompress {member} from the wheel"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        out.sync_all()?;
        hex(&hasher.finalize())
    };
    if hash != sha256 {
        let _ = fs::remove_file(&tmp);
        bail!(
            "SHA-256 mismatch for {member} extracted from {}:\n  expected {sha256}\n  got      {hash}",
            wheel.display()
        );
    }
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    fs::rename(&tmp, dest).with_context(|| format!("could not move {} to {}", tmp.display(), dest.display()))
}

pub fn open(wheel: &Path) -> Result<zip::ZipArchive<File>> {
    zip::ZipArchive::new(File::open(wheel)?).with_context(|| format!("{} is not a valid zip/wheel", wheel.display()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).with_context(|| format!("could not read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
