//! `cargo xtask fuzz`: runs `fuzz/`'s libFuzzer targets through `cargo fuzz`.
//!
//! cargo-fuzz needs nightly-only compiler flags: a nightly toolchain is used when rustup has one,
//! else the stable one with `RUSTC_BOOTSTRAP=1`. No sanitizer (`-s none`): the fuzzed code is
//! Rust (no C/C++ on these paths; ONNX Runtime is not involved), whose bounds and overflow checks
//! (debug assertions are on in fuzz builds) catch what a sanitizer would, at full speed.
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// libFuzzer options for every target: a run that allocates more than this, or runs longer, is a
/// finding (memory exhaustion and hangs are bugs for input a host reads).
const RSS_LIMIT_MB: u32 = 2048;
const TIMEOUT_S: u32 = 10;

pub fn run(root: &Path, seconds: u64, only: &[String]) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let ok = Command::new(super::cargo()).args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        bail!("cargo-fuzz is not installed: `cargo install cargo-fuzz`");
    }
    let targets = targets(&fuzz_dir)?;
    let chosen: Vec<&String> = if only.is_empty() { targets.iter().collect() } else { only.iter().collect() };
    for t in &chosen {
        if !targets.contains(t) {
            bail!("no fuzz target {t:?} (fuzz/Cargo.toml has {targets:?})");
        }
    }
    let nightly = has_nightly();
    let mut crashed = Vec::new();
    let mut summary = Vec::new();
    for t in chosen {
        let corpus = fuzz_dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        let mut cmd = Command::new("cargo");
        if nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.current_dir(root)
            .args(["fuzz", "run", "--fuzz-dir"])
            .arg(&fuzz_dir)
            .args(["--features", "libfuzzer", "-s", "none", t])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
            .arg(format!("-timeout={TIMEOUT_S}"))
            .arg("-print_final_stats=1");
        eprintln!("xtask: fuzzing {t} for {seconds} s ({})", if nightly { "nightly" } else { "RUSTC_BOOTSTRAP=1" });
        let out = cmd.output().with_context(|| format!("could not run cargo fuzz for {t}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let execs = stat(&log, "stat::number_of_executed_units:");
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
        if !out.status.success() {
            crashed.push(t.clone());
        }
        summary.push(format!(
            "{t}: {} execs in {seconds} s{}",
            execs.unwrap_or(0),
            if out.status.success() { "" } else { ", CRASHED" }
        ));
    }
    eprintln!("xtask: fuzz summary\n  {}", summary.join("\n  "));
    if !crashed.is_empty() {
        bail!("fuzz targets crashed: {crashed:?}; inputs in fuzz/artifacts/<target>/ (fix, then keep them in fuzz/regressions/<target>/)");
    }
    Ok(())
}

/// The `[[bin]]` names of fuzz/Cargo.toml.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(fuzz_dir.join("Cargo.toml")).context("no fuzz/Cargo.toml")?;
    let table: toml::Table = text.parse()?;
    let bins = table.get("bin").and_then(|b| b.as_array()).context("fuzz/Cargo.toml has no [[bin]]")?;
    Ok(bins.iter().filter_map(|b| b.get("name")?.as_str().map(String::from)).collect())
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("nightly")))
}

/// A number from libFuzzer's final stats (`-print_final_stats=1`).
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok())
}
