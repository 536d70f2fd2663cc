//! Which burn device trains (`train --device`, `bench-train --device`): the flex CPU backend
//! always, CUDA with the `cuda` cargo feature (`cuda[:N]`).
//!
//! One device per process, chosen once at start-up (`select`): a training run never mixes
//! devices, and threading a device through every call (CV folds, heads, refits) would buy
//! nothing. Results are deterministic per device with the same seed, but CPU and CUDA runs
//! differ in the last bits (other kernels, other reduction orders), so their models differ.
use burn::prelude::*;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// burn's pure-Rust flex backend (rayon + SIMD).
    Cpu,
    /// burn's CUDA backend on the given GPU; libcuda and NVRTC are loaded at run time.
    Cuda(usize),
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(i)) => Ok(Backend::Cuda(i)),
                _ => Err(format!("unknown device {s:?}: use cpu, cuda or cuda:N")),
            },
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Cpu => f.write_str("cpu"),
            Backend::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

static SELECTED: OnceLock<Backend> = OnceLock::new();

/// Chooses the process's device and checks that it runs a small op, so that a missing
/// driver or feature is a clear error up front rather than a panic mid-training.
pub fn select(backend: Backend) -> anyhow::Result<()> {
    if let Backend::Cuda(_) = backend {
        anyhow::ensure!(cfg!(feature = "cuda"), "this trainer was built without CUDA: rebuild with `--features cuda`");
    }
    #[cfg(feature = "cuda")]
    if let Backend::Cuda(_) = backend {
        // The driver's soname is stable, so its absence is a clear answer; cubecl would only
        // panic on its own device thread.
        // SAFETY: loading the NVIDIA driver library runs no initialisation beyond its own.
        #[allow(unsafe_code)]
        let driver = ["libcuda.so.1", "libcuda.so"].iter().any(|n| unsafe { libloading::Library::new(n) }.is_ok());
        anyhow::ensure!(
            driver,
            "{backend}: no NVIDIA driver library (libcuda.so.1) found; CUDA training needs an \
             NVIDIA GPU with its driver"
        );
    }
    let current = *SELECTED.get_or_init(|| backend);
    anyhow::ensure!(current == backend, "device already set to {current}, cannot switch to {backend}");
    let dev = device();
    // cubecl reports a missing libcuda or GPU by panicking on first use.
    let probe = std::panic::catch_unwind(move || Tensor::<1>::ones([4], &dev).sum().into_scalar::<f32>());
    match probe {
        Ok(4.0) => Ok(()),
        Ok(v) => anyhow::bail!("{backend} computed 1+1+1+1 = {v}"),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            anyhow::bail!(
                "{backend} is not usable ({msg}); see the message above. CUDA needs the driver \
                 (libcuda.so.1) and NVRTC (libnvrtc.so*) on the library path"
            )
        }
    }
}

/// The selected backend (CPU unless `select` chose another).
pub fn selected() -> Backend {
    *SELECTED.get_or_init(|| Backend::Cpu)
}

/// The inference device of the selected backend (training wraps it in `.autodiff()`).
pub fn device() -> Device {
    match selected() {
        Backend::Cpu => Device::flex(),
        #[cfg(feature = "cuda")]
        Backend::Cuda(i) => Device::cuda(i),
        #[cfg(not(feature = "cuda"))]
        Backend::Cuda(_) => unreachable!("select() refuses CUDA without the feature"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(Backend::Cpu));
        assert_eq!("cuda".parse(), Ok(Backend::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Backend::Cuda(3)));
        assert!("gpu".parse::<Backend>().is_err());
        assert!("cuda:x".parse::<Backend>().is_err());
        assert_eq!(Backend::Cuda(1).to_string(), "cuda:1");
    }

    #[test]
    fn cpu_is_the_default_and_runs() {
        select(Backend::Cpu).unwrap();
        assert_eq!(selected(), Backend::Cpu);
        #[cfg(not(feature = "cuda"))]
        {
            let err = select(Backend::Cuda(0)).unwrap_err().to_string();
            assert!(err.contains("without CUDA"), "{err}");
        }
    }
}
