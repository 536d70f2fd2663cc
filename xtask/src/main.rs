//! `cargo xtask`: project tasks for Genrescope.
//!
//! - `cargo xtask ort`: fetch + verify ONNX Runtime into `<workspace>/.ort/libonnxruntime.so`.
//! - `cargo xtask musicnn`: fetch + verify musicnn's pretrained MSD_musicnn checkpoint (TensorFlow tensor
//!   bundle) into `<workspace>/.musicnn/MSD_musicnn/` (+ its ISC licence as `.musicnn/LICENSE.md`).
//! - `cargo xtask bundle <pkg> [--release]`: `ort`, then nice-plug-xtask's bundler (CLAP + VST3), then
//!   copy `libonnxruntime.so` and the shipped `models/` (as `genrescope-model/`) next to the plugin binary.
//! - `cargo xtask test [cargo test args]`: fmt and clippy gates, the CLAP tests against a debug bundle,
//!   then `cargo test --workspace --release` against the release bundle (see `Cmd::Test`).
//! - `cargo xtask bench-model [--model DIR] [--audio FILE] [--json]`: per-prediction latency of a model
//!   folder on this CPU (every `manifest*.json`, streaming and whole windows; see BENCHMARKS.md).
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: every fuzz target of `fuzz/` (or those named) for N
//!   seconds each with `cargo fuzz` (libFuzzer), one at a time, growing `fuzz/corpus/<target>/`;
//!   crashes land in `fuzz/artifacts/<target>/` (see `fuzz::run`).
//! - anything else is handed to nice-plug-xtask unchanged.
mod fuzz;
mod musicnn;
mod ort;
mod wheel;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the folder, beside the plugin binary, that holds the shipped models
/// (a copy of `<workspace>/models/`). Keep in sync with
/// `genrescope_core::runtime::MODEL_DIR_NAME` (used by the plugin's model lookup).
const MODELS_DIR_NAME: &str = "genrescope-model";
/// The command line's binary (package `genrescope-cli`).
const CLI_NAME: &str = "Genrescope";

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Genrescope project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download ONNX Runtime (PyPI wheel), verify its SHA-256 and put it at .ort/libonnxruntime.so.
    Ort,
    /// Download musicnn 0.1.0 (PyPI wheel), verify its SHA-256 and extract the MSD_musicnn checkpoint
    /// to .musicnn/MSD_musicnn/ (.index, .data-00000-of-00001) and its licence to .musicnn/LICENSE.md.
    Musicnn,
    /// `ort`, then build + bundle the plugin (CLAP, VST3), then copy libonnxruntime.so and
    /// models/ next to the plugin binary in each bundle. Takes nice-plug-xtask's bundle arguments.
    Bundle {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The project's test gate. Whole-workspace runs (no `-p` in ARGS): `cargo fmt --check`,
    /// `cargo clippy --workspace --all-targets -D warnings`, the CLAP tests against a debug bundle
    /// (so nice-plug's `assert_process_allocs` fires on any audio-thread allocation), then
    /// `cargo test --workspace --release --no-fail-fast --features genrescope-trainer/train [ARGS]`
    /// against the release bundles (GENRESCOPE_CLAP_BUNDLE / GENRESCOPE_VST3_BUNDLE, and
    /// GENRESCOPE_MUSICNN_DIR at the checkpoint), then `cargo check -p genrescope-trainer --features cuda`.
    /// With `-p` in ARGS only the release bundle and those packages' tests run.
    Test {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Per-prediction latency of a model folder (default `models/`) on this CPU, 1 thread: the
    /// trainer's `latency` (every manifest*.json, streaming and whole windows, at the plugin's
    /// default hop and windows side by side). Extra ARGS go to it (`--audio FILE`, `--json`, ...).
    /// Pin it to one core for steadier numbers: `taskset -c 1 cargo xtask bench-model`.
    BenchModel {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the fuzz targets (cargo fuzz + libFuzzer; nightly if installed, else stable with
    /// RUSTC_BOOTSTRAP=1) for SECONDS each, one after the other; prints each target's executions
    /// and fails if any crashed (the input is in fuzz/artifacts/<target>/). `cargo test -p
    /// genrescope-fuzz` replays the kept corpus without libFuzzer.
    Fuzz {
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Targets to run (default: all of fuzz/Cargo.toml's).
        targets: Vec<String>,
    },
    /// Any other command is passed to nice-plug-xtask.
    #[command(external_subcommand)]
    Other(Vec<String>),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.cmd {
        Cmd::Ort => {
            ort::ensure(&root)?;
        }
        Cmd::Musicnn => {
            musicnn::ensure(&root)?;
        }
        Cmd::Bundle { args } => {
            bundle(&root, &args)?;
        }
        Cmd::Test { args } => test(&root, &args)?,
        Cmd::BenchModel { args } => {
            ort::ensure(&root)?;
            let mut cmd = Command::new(cargo());
            cmd.current_dir(&root).args(["run", "--release", "-q", "-p", "genrescope-trainer", "--", "latency"]);
            if !args.iter().any(|a| a == "--model" || a.starts_with("--model=")) {
                cmd.arg("--model").arg(root.join("models"));
            }
            run(cmd.args(&args), "the trainer's `latency`")?;
        }
        Cmd::Fuzz { seconds, targets } => fuzz::run(&root, seconds, &targets)?,
        Cmd::Other(args) => nice_plug_xtask::main_with_args("cargo xtask", args)?,
    }
    Ok(())
}

/// Tests that load the CLAP bundle (`plugin/tests/common::TestHost`); run once more against a debug
/// bundle, where nice-plug's `assert_process_allocs` aborts on an audio-thread allocation.
const CLAP_TESTS: &[&str] = &["clap_host", "clap_conformance", "clap_midi", "faults", "stress"];
/// Features every test run enables: the trainer's burn half (training, burn-vs-ONNX parity) is
/// opt-in for users, but the tests must cover it.
const TEST_FEATURES: &[&str] = &["--features", "genrescope-trainer/train"];

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn test(root: &Path, args: &[String]) -> Result<()> {
    // `-p X` selects packages; otherwise the whole workspace (cargo ignores -p next to --workspace).
    let picks_packages = args.iter().any(|a| a == "-p" || a.starts_with("--package"));
    // The pretrained trunk's checkpoint, for the trainer's checkpoint-reader tests.
    let musicnn_dir = musicnn::ensure(root)?;
    let target = target_dir(root)?;
    if !picks_packages {
        run(Command::new(cargo()).current_dir(root).args(["fmt", "--all", "--check"]), "`cargo fmt --check`")?;
        // Unused dependencies (workspace lint policy). cargo-machete reads the sources, no build;
        // scripts/setup.sh installs it.
        run(
            // Without CARGO_PKG_NAME (set for us by `cargo run`), cargo-machete knows it runs as
            // `cargo machete` and skips the subcommand's name.
            Command::new(cargo()).current_dir(root).args(["machete", "--with-metadata"]).env_remove("CARGO_PKG_NAME"),
            "`cargo machete` (unused dependencies; install with scripts/setup.sh)",
        )?;
        // Release profile: the debug-only `assert_process_allocs` allocator would clash with the
        // counting allocator of plugin/tests/realtime_alloc.rs.
        run(
            Command::new(cargo())
                .current_dir(root)
                .args(["clippy", "--release", "--workspace", "--all-targets"])
                .args(TEST_FEATURES)
                .args(["--", "-D", "warnings"]),
            "`cargo clippy -D warnings`",
        )?;
        let bundled = bundle_plugin(root, &["genrescope".into()], false)?;
        let debug = target.join("bundled-debug");
        if debug.exists() {
            fs::remove_dir_all(&debug).with_context(|| format!("could not remove {}", debug.display()))?;
        }
        copy_dir(&bundled, &debug)?;
        let mut cmd = Command::new(cargo());
        cmd.current_dir(root).args(["test", "--release", "--no-fail-fast", "-p", "genrescope"]);
        for t in CLAP_TESTS {
            cmd.args(["--test", t]);
        }
        cmd.env("GENRESCOPE_CLAP_BUNDLE", debug.join("Genrescope.clap")).env("GENRESCOPE_DEBUG_BUNDLE", "1");
        run(&mut cmd, "the CLAP tests against the debug bundle")?;
    }
    let bundled = bundle(root, &["genrescope".into(), "--release".into()])?;
    // `--features genrescope-trainer/train` is refused unless the trainer is among the packages.
    let with_trainer = !picks_packages || args.iter().any(|a| a.contains("genrescope-trainer"));
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root)
        .args(["test", "--release", "--no-fail-fast"])
        .args(if with_trainer { TEST_FEATURES } else { &[] })
        .args(if picks_packages { &[][..] } else { &["--workspace"][..] })
        .args(args)
        .env("GENRESCOPE_CLAP_BUNDLE", bundled.join("Genrescope.clap"))
        .env("GENRESCOPE_VST3_BUNDLE", bundled.join("Genrescope.vst3"))
        .env("GENRESCOPE_MUSICNN_DIR", &musicnn_dir);
    run(&mut cmd, "`cargo test --workspace --release`")?;
    if !picks_packages || args.iter().any(|a| a.contains("genrescope-cli")) {
        ray_check(root, &bundled)?;
    }
    if !picks_packages {
        // No GPU in CI, but the trainer's `cuda` feature must keep building offline
        // (burn's CUDA backend + third_party/cubecl-llvm-stub).
        run(
            Command::new(cargo()).current_dir(root).args(["check", "-p", "genrescope-trainer", "--features", "cuda"]),
            "the trainer's `cuda` feature build",
        )?;
    }
    Ok(())
}

/// The Ray pipeline (cluster/ray_scan.py) on a local 2-CPU Ray over a few shared clips, against a
/// local scan. Its venv comes from scripts/setup.sh; without it the check is skipped, except in CI.
fn ray_check(root: &Path, bundled: &Path) -> Result<()> {
    let python = root.join("cluster/.venv/bin/python");
    if !python.is_file() {
        if std::env::var_os("CI").is_some() {
            bail!("{} missing: run scripts/setup.sh (it installs Ray)", python.display());
        }
        eprintln!("xtask: SKIPPED the Ray pipeline check ({} missing: run scripts/setup.sh)", python.display());
        return Ok(());
    }
    run(
        Command::new(python)
            .current_dir(root)
            .arg("cluster/test_ray_scan.py")
            .arg("--genrescope")
            .arg(bundled.join(CLI_NAME))
            .arg("--model")
            .arg(bundled.join(MODELS_DIR_NAME)),
        "the Ray pipeline check (cluster/test_ray_scan.py)",
    )
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Cargo's target directory (honours CARGO_TARGET_DIR and config), from `cargo metadata`.
fn target_dir(root: &Path) -> Result<PathBuf> {
    let out = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not run `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let dir = v["target_directory"].as_str().context("no target_directory in cargo metadata")?;
    Ok(PathBuf::from(dir))
}

/// Packages named in nice-plug-xtask bundle arguments: a leading positional one, and `-p X`.
fn bundle_packages(args: &[String]) -> Vec<String> {
    let mut pkgs = Vec::new();
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            pkgs.push(first.clone());
        }
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-p" || a == "--package" {
            if let Some(p) = it.next() {
                pkgs.push(p.clone());
            }
        } else if let Some(p) = a.strip_prefix("--package=") {
            pkgs.push(p.to_string());
        }
    }
    pkgs
}

/// Bundle name from `bundler.toml` (`[pkg] name = "..."`), else the package name.
fn bundle_name(root: &Path, package: &str) -> Result<String> {
    let path = root.join("bundler.toml");
    if let Ok(text) = fs::read_to_string(&path) {
        let table: toml::Table = text.parse().with_context(|| format!("could not parse {}", path.display()))?;
        if let Some(name) = table.get(package).and_then(|t| t.get("name")).and_then(|n| n.as_str()) {
            return Ok(name.to_string());
        }
    }
    Ok(package.to_string())
}

/// Returns the `bundled` directory.
fn bundle(root: &Path, args: &[String]) -> Result<PathBuf> {
    bundle_plugin(root, args, true)
}

/// `bundle`, with or without the command line beside the plugin.
fn bundle_plugin(root: &Path, args: &[String], with_cli: bool) -> Result<PathBuf> {
    let lib = ort::ensure(root)?;
    let mut nice_args = vec!["bundle".to_string()];
    nice_args.extend(args.iter().cloned());
    nice_plug_xtask::main_with_args("cargo xtask", nice_args)?;

    let target = target_dir(root)?;
    let bundled = target.join("bundled");
    let models = root.join("models");
    let ship_models = models.join("manifest.json").is_file();
    if !ship_models {
        eprintln!("xtask: models/manifest.json not found: bundling without models");
    }
    let packages = bundle_packages(args);
    if packages.is_empty() {
        bail!("no package given to bundle (usage: cargo xtask bundle <package> [--release])");
    }
    if with_cli && packages.iter().any(|p| p == "genrescope") {
        bundle_cli(root, &target, &bundled, args.iter().any(|a| a == "--release"))?;
    }
    for package in packages {
        let name = bundle_name(root, &package)?;
        // Directories that hold a plugin binary of this bundle.
        let mut dirs = Vec::new();
        if bundled.join(format!("{name}.clap")).is_file() {
            dirs.push(bundled.clone());
        }
        let vst3 = bundled.join(format!("{name}.vst3")).join("Contents").join(vst3_arch_dir());
        if vst3.is_dir() {
            dirs.push(vst3);
        }
        if dirs.is_empty() {
            bail!("no CLAP or VST3 bundle of {package} ({name}) found in {}", bundled.display());
        }
        for dir in dirs {
            copy_atomic(&lib, &dir.join(ort::LIB_NAME))?;
            let dest = dir.join(MODELS_DIR_NAME);
            if dest.exists() {
                fs::remove_dir_all(&dest).with_context(|| format!("could not remove {}", dest.display()))?;
            }
            if ship_models {
                copy_dir(&models, &dest)?;
            }
            eprintln!(
                "xtask: {} + {}{} in {}",
                name,
                ort::LIB_NAME,
                if ship_models { format!(" + {MODELS_DIR_NAME}/") } else { String::new() },
                dir.display()
            );
        }
    }
    Ok(bundled)
}

/// The `Genrescope` command line goes beside the CLAP plugin: it finds `libonnxruntime.so` and
/// `genrescope-model/` beside itself, like the plugin.
fn bundle_cli(root: &Path, target: &Path, bundled: &Path, release: bool) -> Result<()> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).args(["build", "-p", "genrescope-cli", "--bin", CLI_NAME]);
    if release {
        cmd.arg("--release");
    }
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().context("could not run `cargo build -p genrescope-cli`")?;
    if !status.success() {
        bail!("building the Genrescope command line failed ({status})");
    }
    let built = target.join(if release { "release" } else { "debug" }).join(CLI_NAME);
    fs::create_dir_all(bundled)?;
    copy_atomic(&built, &bundled.join(CLI_NAME))?;
    eprintln!("xtask: {CLI_NAME} (command line) in {}", bundled.display());
    Ok(())
}

fn vst3_arch_dir() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "x86_64-linux"
    } else if cfg!(target_arch = "aarch64") {
        "aarch64-linux"
    } else {
        "unknown-linux"
    }
}

/// Copy via a temporary file + rename, so that a host holding the old file open keeps a valid mapping.
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("tmp-xtask");
    fs::copy(from, &tmp).with_context(|| format!("could not copy {} to {}", from.display(), tmp.display()))?;
    fs::rename(&tmp, to).with_context(|| format!("could not move {} to {}", tmp.display(), to.display()))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("could not read {}", from.display()))? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            // Follows symlinks: the bundle gets real files.
            fs::copy(entry.path(), &dest).with_context(|| format!("could not copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_from_bundle_args() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(bundle_packages(&s(&["genrescope", "--release"])), s(&["genrescope"]));
        assert_eq!(bundle_packages(&s(&["-p", "a", "--package=b", "--release"])), s(&["a", "b"]));
        assert!(bundle_packages(&s(&["--release"])).is_empty());
    }

    #[test]
    fn bundle_name_from_bundler_toml() {
        let root = workspace_root();
        assert_eq!(bundle_name(&root, "genrescope").unwrap(), "Genrescope");
        assert_eq!(bundle_name(&root, "nope").unwrap(), "nope");
    }
}
