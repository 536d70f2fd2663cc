//! Hostile model folders in the real plugin, through the CLAP test host: testkit's list (every
//! resource limit exceeded, negative, zero, huge and non-finite numbers, deep JSON, a 100 MB string,
//! symlink loops, a FIFO, /dev/zero as a model file). Each must end as bit-exact passthrough with no
//! genre claimed, in bounded time, in both render modes; never an abort (before admission, the
//! issue's manifest made activation allocate 1.2 TB: SIGABRT) or a hang. The error text each one
//! publishes is checked in-process by the plugin's unit tests (`plan_model`), and by engine/tests/hostile.rs.
mod common;
mod engine_support;

use common::{OutEvent, TestHost};
use engine_support::*;
use genrescope_testkit::hostile::hostile_models;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Aborts the process if one case takes longer: a hang fails loudly.
struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn new(what: String, limit: Duration) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("WATCHDOG: {what} took more than {limit:?}; aborting");
            std::process::abort();
        });
        Self(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// `seconds` of music through one instance reading `model` (offline: as fast as it goes; else
/// paced in real time); returns the CCs it sent.
fn run(host: &TestHost, model: &Path, offline: bool, seconds: usize, what: &str) -> Vec<(u8, u8, u8)> {
    let _wd = Watchdog::new(what.to_string(), Duration::from_secs(30));
    let mut inst = instance_with_model(host, model);
    inst.set_offline(offline);
    inst.activate(48_000.0, 1024);
    let (mut pos, mut seed, mut events) = (0usize, 5u64, Vec::<OutEvent>::new());
    let start = Instant::now();
    while pos < 48_000 * seconds {
        let input = music(48_000.0, pos, 1024, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, what);
        events.extend(ev);
        pos += 1024;
        if !offline {
            let due = Duration::from_secs_f64(pos as f64 / 48_000.0);
            std::thread::sleep(due.saturating_sub(start.elapsed()));
        }
    }
    inst.deactivate();
    drop(inst);
    events.iter().filter_map(OutEvent::as_cc).collect()
}

#[test]
fn hostile_model_folders_pass_audio_and_claim_nothing() {
    let host = TestHost::load_default();
    let good = test_model();
    assert!(run(&host, good, true, 4, "intact model").iter().any(|c| c.1 == TOP_CC && c.2 < 10), "control");
    let models = hostile_models(good, &scratch_dir("hostile"));
    for h in &models {
        for offline in [true, false] {
            let what = format!("{} ({})", h.what, if offline { "offline" } else { "real time" });
            let t = Instant::now();
            // Real time only briefly: nothing loads, the point is that nothing aborts or blocks.
            let ccs = run(&host, &h.dir, offline, if offline { 4 } else { 1 }, &what);
            assert!(ccs.is_empty(), "{what}: CCs from a refused model: {ccs:?}");
            eprintln!("{what}: audio unchanged, no CC, {:.2} s", t.elapsed().as_secs_f64());
        }
    }
    // The host is still fine: the intact model works in the same process afterwards.
    assert!(run(&host, good, true, 4, "intact model again").iter().any(|c| c.1 == TOP_CC && c.2 < 10));
}
