//! Process-wide ONNX Runtime loading (`ort` with `load-dynamic`).
//!
//! The library is found by absolute path, in this order:
//! 1. `$GENRESCOPE_ORT_LIB` (if set, it must point at the library: no fallback);
//! 2. `libonnxruntime.so` beside the module that contains this code (the plugin binary when
//!    loaded by a host, the executable otherwise), found with `dladdr`;
//! 3. `<workspace>/.ort/libonnxruntime.so` (developer fallback, written by `cargo xtask ort`),
//!    only with the `dev-paths` feature (tests, the trainer): a shipped binary holds no path of
//!    the machine that built it.
//!
//! Loading and the single ORT [`Environment`] happen once per process and are shared by all plugin
//! instances; a failure is cached too, so every later call returns the same error quickly.
use ort::environment::Environment;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable with an absolute path to the ONNX Runtime library.
pub const ORT_LIB_ENV: &str = "GENRESCOPE_ORT_LIB";
/// File name of the library beside the plugin binary and in `<workspace>/.ort/`.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so";
/// Folder beside the plugin binary holding the shipped model (`cargo xtask bundle` copies `models/` there).
pub const MODEL_DIR_NAME: &str = "genrescope-model";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// No candidate path holds a readable regular file.
    NotFound { searched: Vec<PathBuf> },
    /// `$GENRESCOPE_ORT_LIB` is set but does not point at a readable regular file.
    BadEnvPath { path: PathBuf, reason: String },
    /// The file exists but ONNX Runtime could not be loaded from it (dlopen, missing symbol, version).
    Load { path: PathBuf, message: String },
    /// The library loaded but creating the environment failed.
    Environment { path: PathBuf, message: String },
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { searched } => {
                write!(f, "ONNX Runtime library not found; looked in: ")?;
                for (i, p) in searched.iter().enumerate() {
                    write!(f, "{}{}", if i > 0 { ", " } else { "" }, p.display())?;
                }
                write!(f, "; run `cargo xtask ort` (or set {ORT_LIB_ENV} to the library's absolute path)")
            }
            Self::BadEnvPath { path, reason } => {
                write!(f, "{ORT_LIB_ENV}={} is not usable: {reason}", path.display())
            }
            Self::Load { path, message } => {
                write!(f, "could not load ONNX Runtime from {}: {message}", path.display())
            }
            Self::Environment { path, message } => {
                write!(f, "ONNX Runtime loaded from {} but creating its environment failed: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for RuntimeError {}

struct Runtime {
    path: PathBuf,
    env: Environment,
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Loads ONNX Runtime once per process; returns the library's path.
pub fn init_onnx_runtime() -> Result<&'static Path, RuntimeError> {
    runtime().map(|r| r.path.as_path())
}

/// The process-wide ORT environment (loads the library first if needed). ORT allows only one
/// environment per process: always use this one for `Session::builder`.
pub fn environment() -> Result<&'static Environment, RuntimeError> {
    runtime().map(|r| &r.env)
}

fn load() -> Result<Runtime, RuntimeError> {
    let path = locate(std::env::var_os(ORT_LIB_ENV).map(PathBuf::from), &default_candidates())?;
    load_from(&path)
}

/// Loads the library at `path` (which must already be checked to exist) and builds the environment.
fn load_from(path: &Path) -> Result<Runtime, RuntimeError> {
    let builder =
        ort::init_from(path).map_err(|e| RuntimeError::Load { path: path.to_path_buf(), message: e.to_string() })?;
    let env = builder
        .with_name("genrescope")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(Runtime { path: path.to_path_buf(), env })
}

/// Candidates after the environment variable: beside this module, then (`dev-paths` only) the
/// workspace's `.ort/`.
pub fn default_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in module_dirs() {
        push_unique(&mut out, dir.join(ORT_LIB_NAME));
    }
    #[cfg(feature = "dev-paths")]
    {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ws = ws.parent().unwrap_or(ws);
        push_unique(&mut out, ws.join(".ort").join(ORT_LIB_NAME));
    }
    out
}

fn push_unique(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}

/// Picks the library path: the env override if given (must be usable), else the first usable candidate.
fn locate(env_path: Option<PathBuf>, candidates: &[PathBuf]) -> Result<PathBuf, RuntimeError> {
    if let Some(path) = env_path.filter(|p| !p.as_os_str().is_empty()) {
        let path = absolute(&path);
        return match check_file(&path) {
            Ok(()) => Ok(path),
            Err(reason) => Err(RuntimeError::BadEnvPath { path, reason }),
        };
    }
    candidates
        .iter()
        .find(|p| check_file(p).is_ok())
        .cloned()
        .ok_or_else(|| RuntimeError::NotFound { searched: candidates.to_vec() })
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// A readable regular file (after following symlinks)?
fn check_file(p: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    std::fs::File::open(p).map(drop).map_err(|e| format!("not readable: {e}"))
}

/// Path of the shared object (or executable) that contains this code, via `dladdr`.
/// As a plugin this is the `.clap` / VST3 `.so`; in tests and CLIs it is the executable.
// unsafe: dladdr is the only way to ask the loader which file this code was mapped from.
#[allow(unsafe_code)]
pub fn module_path() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::ffi::{CStr, OsStr};
        use std::os::unix::ffi::OsStrExt;
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = module_path as fn() -> Option<PathBuf> as *const libc::c_void;
        // SAFETY: dladdr only reads the address and fills `info`.
        let rc = unsafe { libc::dladdr(addr, &mut info) };
        if rc == 0 || info.dli_fname.is_null() {
            return std::env::current_exe().ok();
        }
        // SAFETY: dli_fname is a NUL-terminated string owned by the dynamic loader.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        let path = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
        if path.is_absolute() {
            return Some(path);
        }
        // Relative: a library dlopen'ed by a relative path (resolved against the working
        // directory), or the main executable, for which glibc reports argv[0].
        if path.components().count() > 1 {
            if let Ok(abs) = std::env::current_dir().map(|d| d.join(&path)) {
                if abs.is_file() {
                    return Some(abs);
                }
            }
        }
        std::env::current_exe().ok()
    }
    #[cfg(not(unix))]
    {
        std::env::current_exe().ok()
    }
}

/// Keeps the module that contains this code (the plugin binary) mapped until the process ends,
/// even if the host unloads it: a thread of ours that must outlive its plugin object (a model
/// load still running when the plugin is dropped) then never runs unmapped code. ONNX Runtime is
/// never unloaded either, so this costs nothing a host would notice.
// unsafe: dlopen(RTLD_NOLOAD | RTLD_NODELETE) on our own, already loaded module.
#[allow(unsafe_code)]
pub fn pin_this_module() {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Some(path) = module_path() else { return };
        let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return };
        // SAFETY: RTLD_NOLOAD only takes another reference to an already loaded object; the
        // handle is deliberately never closed.
        let _ = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE) };
    }
}

/// Directory of the plugin binary (see [`module_path`]); look for the shipped model beside it
/// (`plugin_binary_dir()?.join(MODEL_DIR_NAME)`).
pub fn plugin_binary_dir() -> Option<PathBuf> {
    module_path().and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The module's directory as loaded, plus the canonical one if different (plugins are often
/// installed as symlinks into ~/.clap or ~/.vst3).
fn module_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = module_path() {
        if let Some(d) = p.parent() {
            dirs.push(d.to_path_buf());
        }
        if let Some(d) = std::fs::canonicalize(&p).ok().and_then(|c| c.parent().map(Path::to_path_buf)) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("genrescope-rt-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn missing_library_is_a_quick_clear_error() {
        let d = tmpdir("missing");
        let cands = vec![d.join("a").join(ORT_LIB_NAME), d.join(ORT_LIB_NAME)];
        let t = Instant::now();
        let err = locate(None, &cands).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(err, RuntimeError::NotFound { searched: cands.clone() });
        let msg = err.to_string();
        assert!(msg.contains("ONNX Runtime library not found"), "{msg}");
        assert!(msg.contains(&cands[1].display().to_string()), "{msg}");
        assert!(msg.contains("cargo xtask ort"), "{msg}");
    }

    #[test]
    fn env_path_must_be_a_readable_file() {
        let d = tmpdir("env");
        let err = locate(Some(d.join("nope.so")), &[]).unwrap_err();
        assert!(matches!(err, RuntimeError::BadEnvPath { .. }), "{err}");
        // A directory is not a library either.
        let err = locate(Some(d.clone()), &[]).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // The override wins over candidates, and relative paths become absolute.
        let f = d.join("libfake.so");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(locate(Some(f.clone()), &[PathBuf::from("/nonexistent")]).unwrap(), f);
    }

    #[test]
    fn first_existing_candidate_wins() {
        let d = tmpdir("cands");
        let f = d.join(ORT_LIB_NAME);
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(locate(None, &[d.join("nope.so"), f.clone()]).unwrap(), f);
    }

    /// Serializes the tests that touch ort's process-global library slot.
    static ORT_GLOBAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn garbage_file_fails_to_load_without_hanging() {
        let _g = ORT_GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        if RUNTIME.get().is_some() {
            // ort keeps the first library it loaded: a second dlopen is never attempted.
            eprintln!("SKIP garbage_file_fails_to_load_without_hanging: ORT already loaded in this process");
            return;
        }
        let d = tmpdir("garbage");
        let f = d.join(ORT_LIB_NAME);
        std::fs::write(&f, b"this is not an ELF file").unwrap();
        let t = Instant::now();
        // Only the dlopen step: never build an environment outside RUNTIME (one per process).
        let err = ort::init_from(&f).err().expect("garbage must not load");
        assert!(err.to_string().contains(&f.display().to_string()), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn module_path_is_this_test_executable() {
        let p = module_path().expect("dladdr");
        assert!(p.is_absolute());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(std::fs::canonicalize(&p).unwrap(), std::fs::canonicalize(exe).unwrap());
        assert!(plugin_binary_dir().unwrap().is_dir());
        // First candidate: the library beside this module.
        assert_eq!(default_candidates()[0], plugin_binary_dir().unwrap().join(ORT_LIB_NAME));
    }

    #[test]
    fn loads_the_real_library() {
        let lib_available =
            std::env::var_os(ORT_LIB_ENV).is_some() || default_candidates().iter().any(|p| check_file(p).is_ok());
        if !lib_available {
            if std::env::var_os("CI").is_some() {
                panic!("CI: ONNX Runtime library missing (run `cargo xtask ort`): {:?}", default_candidates());
            }
            eprintln!("SKIP loads_the_real_library: no ONNX Runtime library; run `cargo xtask ort`");
            return;
        }
        let _g = ORT_GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now();
        let path = init_onnx_runtime().unwrap_or_else(|e| panic!("{e}"));
        assert!(path.is_absolute());
        // Second call: cached, same path, instant.
        assert_eq!(init_onnx_runtime().unwrap(), path);
        assert!(environment().is_ok());
        eprintln!("ONNX Runtime loaded from {} in {:?}", path.display(), t.elapsed());
    }
}
