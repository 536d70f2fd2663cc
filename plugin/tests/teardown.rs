//! Short-lived hosts (plugin scanners, validators: one fresh process per check) create the plugin,
//! activate it, process a few blocks, destroy it and exit at once. The model load the activation
//! started must not race the process's exit (ONNX Runtime's static destructors run in `exit()`):
//! that crashed about one run in three before the analysis thread was joined on destroy.
//!
//! The parent test runs the `#[ignore]`d child below in `RUNS` fresh processes with the bundle's
//! real model and counts every abnormal end; the child prints how long the destroy took.
mod common;

use common::TestHost;
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "GENRESCOPE_TEARDOWN_CHILD";
/// Fresh processes per run (`GENRESCOPE_TEARDOWN_RUNS` overrides).
const RUNS: usize = 200;

/// One short host session; exits the process without returning to the test harness.
#[test]
#[ignore = "child process of quick_teardown_never_crashes"]
fn teardown_child() {
    let variant: usize = std::env::var(CHILD_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let host = TestHost::load_default();
    let mut inst = host.instantiate();
    inst.activate(48_000.0, 512);
    // A few blocks of a tone: the model load started by `activate` is still running.
    let blocks = variant % 4;
    let mut phase = 0f32;
    for _ in 0..blocks {
        let ch: Vec<f32> = (0..512)
            .map(|_| {
                phase += 440.0 / 48_000.0;
                (phase * std::f32::consts::TAU).sin() * 0.3
            })
            .collect();
        inst.process(&[ch.clone(), ch]);
    }
    // Sometimes after the load has had time to finish or get half-way.
    if variant % 5 == 4 {
        std::thread::sleep(Duration::from_millis(((variant * 37) % 200) as u64));
    }
    let t = Instant::now();
    drop(inst);
    let destroy = t.elapsed();
    println!("DESTROY_US={}", destroy.as_micros());
    // Half the runs unload the plugin library before exiting, as a host closing cleanly does.
    if variant % 2 == 1 {
        drop(host);
    }
    std::process::exit(0);
}

#[test]
fn quick_teardown_never_crashes() {
    let runs = std::env::var("GENRESCOPE_TEARDOWN_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(RUNS);
    let exe = std::env::current_exe().unwrap();
    let bundle = TestHost::clap_bundle_path();
    assert!(
        bundle.is_file(),
        "CLAP bundle not found at {}: run `cargo xtask bundle genrescope --release`",
        bundle.display()
    );
    let mut failures = Vec::new();
    let mut destroy_us = Vec::new();
    for i in 0..runs {
        let out = Command::new(&exe)
            .args(["teardown_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, i.to_string())
            .env("GENRESCOPE_CLAP_BUNDLE", &bundle)
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        // libtest prints "test teardown_child ... " on the same line.
        let destroy = stdout.split("DESTROY_US=").nth(1).and_then(|r| r.split_whitespace().next());
        match destroy {
            Some(us) if out.status.success() => destroy_us.push(us.parse::<u64>().unwrap()),
            _ => failures.push(format!(
                "run {i}: {} (stderr tail: {})",
                out.status,
                String::from_utf8_lossy(&out.stderr).lines().rev().take(3).collect::<Vec<_>>().join(" | ")
            )),
        }
    }
    destroy_us.sort_unstable();
    if !destroy_us.is_empty() {
        let q = |p: f64| destroy_us[((destroy_us.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
        eprintln!(
            "destroy on the host's main thread over {} runs: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            destroy_us.len(),
            q(0.5),
            q(0.9),
            q(1.0)
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} short host sessions ended abnormally:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
