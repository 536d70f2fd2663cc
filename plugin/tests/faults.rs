//! Fault injection through the bundled CLAP plugin: broken model folders and a missing or
//! unloadable ONNX Runtime. In every case audio must pass unchanged, no genre may be claimed (no
//! MIDI CC), nothing may crash, and every step must finish in bounded time (a watchdog aborts the
//! test binary after 20 s; ORT cases run in a child process that is killed after 60 s).
//! clap_midi.rs covers a truncated member and a missing folder; these are the other cases.
mod common;
mod engine_support;

use common::{OutEvent, TestHost};
use engine_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests change GENRESCOPE_MODEL_DIR or spawn children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
const STEP_LIMIT: Duration = Duration::from_secs(20);
/// Long enough for the intact model to claim a genre (the control case checks that).
const PACED: Duration = Duration::from_secs(4);
const CHILD_ENV: &str = "GENRESCOPE_FAULTS_CHILD";

/// Aborts the whole process if not dropped within `limit`: a hang fails loudly instead of
/// stalling CI.
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

/// One instance on the current model dir: 6 s of music fast, then up to `paced_for` (wall) at about
/// twice real time, so a working analysis thread (which drops frames queued while its model
/// loads) would certainly have predicted. Returns the CCs seen.
fn run_instance(host: &TestHost, what: &str, paced_for: Duration) -> Vec<(u8, u8, u8)> {
    let _wd = Watchdog::new(what.to_string(), STEP_LIMIT);
    let mut inst = host.instantiate();
    inst.activate(44_100.0, 512);
    let (mut pos, mut seed, mut events) = (0usize, 99u64, Vec::<OutEvent>::new());
    let mut paced: Option<Instant> = None;
    while paced.is_none_or(|t| t.elapsed() < paced_for) {
        let input = music(44_100.0, pos, 512, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, what);
        events.extend(ev);
        pos += 512;
        if pos >= 44_100 * 6 {
            paced.get_or_insert_with(Instant::now);
            std::thread::sleep(Duration::from_millis(5));
        }
        if events.iter().filter_map(OutEvent::as_cc).any(|c| c.1 == TOP_CC && c.2 < 10) {
            break; // a working model: no need to wait longer
        }
    }
    inst.deactivate();
    drop(inst);
    events.iter().filter_map(OutEvent::as_cc).collect()
}

fn member_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    v.sort();
    v
}

#[test]
fn broken_model_folders() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let good = test_model();
    let host = TestHost::load_default();

    // Control: the intact model claims a genre under the same procedure.
    use_model_dir(good);
    let ccs = run_instance(&host, "intact model", PACED);
    assert!(ccs.iter().any(|c| c.1 == TOP_CC && c.2 < 10), "control: no genre with the intact model");

    type Breaker = fn(&Path);
    let cases: [(&str, Breaker); 5] = [
        ("wrong feature hash", |d| {
            let p = d.join("manifest.json");
            let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let hash = m["feature_hash"].as_str().expect("manifest has feature_hash").to_string();
            let flipped: String = hash.chars().rev().collect();
            assert_ne!(hash, flipped);
            m["feature_hash"] = flipped.into();
            std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        }),
        ("member file missing", |d| std::fs::remove_file(&member_files(d)[1]).unwrap()),
        ("member bytes changed (checksum)", |d| {
            let p = &member_files(d)[0];
            let mut b = std::fs::read(p).unwrap();
            let n = b.len() / 2;
            b[n] ^= 0x5A;
            std::fs::write(p, b).unwrap();
        }),
        ("manifest not JSON", |d| std::fs::write(d.join("manifest.json"), b"{ not json").unwrap()),
        ("manifest missing", |d| std::fs::remove_file(d.join("manifest.json")).unwrap()),
    ];
    for (what, breaker) in cases {
        let dir = scratch_dir(&format!("broken-{}", what.replace(' ', "-")));
        copy_dir(good, &dir);
        breaker(&dir);
        use_model_dir(&dir);
        let ccs = run_instance(&host, what, PACED);
        assert!(ccs.is_empty(), "{what}: CCs without a usable model: {ccs:?}");
        eprintln!("{what}: audio unchanged, no CC");
    }
    // The intact model still works afterwards in the same process.
    use_model_dir(good);
    let ccs = run_instance(&host, "intact model again", PACED);
    assert!(ccs.iter().any(|c| c.1 == TOP_CC && c.2 < 10));
}

/// Child side of `onnx_runtime_missing`: runs only when the parent sets CHILD_ENV.
#[test]
fn child_process_body() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let host = TestHost::load_default(); // GENRESCOPE_CLAP_BUNDLE, set by the parent
    let ccs = run_instance(&host, "ORT unavailable", PACED);
    assert!(ccs.is_empty(), "CCs without ONNX Runtime: {ccs:?}");
    // A second instance in the same process gets the cached failure quickly.
    let t = Instant::now();
    assert!(run_instance(&host, "ORT unavailable, second instance", Duration::from_secs(1)).is_empty());
    println!("CHILD-OK second instance {:.2} s", t.elapsed().as_secs_f64());
}

#[test]
fn onnx_runtime_missing() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let model = test_model().to_path_buf();
    // A copy of the CLAP bundle without libonnxruntime.so beside it.
    let bundle = TestHost::clap_bundle_path();
    let lonely = scratch_dir("bundle-without-ort");
    std::fs::copy(&bundle, lonely.join("Genrescope.clap")).unwrap();
    assert!(!lonely.join("libonnxruntime.so").exists());
    // Not a shared library at all: dlopen must fail, not crash.
    let fake = lonely.join("fake-libonnxruntime.so");
    std::fs::write(&fake, b"\x7fELF but not really").unwrap();

    let cases: [(&str, &Path, PathBuf); 4] = [
        ("GENRESCOPE_ORT_LIB=/nonexistent, bundle without the library", &lonely, "/nonexistent/libonnxruntime.so".into()),
        ("GENRESCOPE_ORT_LIB=/nonexistent, full bundle", bundle.parent().unwrap(), "/nonexistent/libonnxruntime.so".into()),
        ("GENRESCOPE_ORT_LIB is a directory", &lonely, lonely.clone()),
        ("GENRESCOPE_ORT_LIB is not a library", &lonely, fake.clone()),
    ];
    for (what, dir, ort) in cases {
        let start = Instant::now();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process_body", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .env("GENRESCOPE_CLAP_BUNDLE", dir.join("Genrescope.clap"))
            .env("GENRESCOPE_ORT_LIB", &ort)
            .env("GENRESCOPE_MODEL_DIR", &model)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: child still running after 60 s (hang)");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            status.success() && stdout.contains("CHILD-OK"),
            "{what}: child failed ({status}):\n{stdout}\n{stderr}"
        );
        eprintln!("{what}: audio unchanged, no CC, {:.1} s", start.elapsed().as_secs_f64());
    }
}
