//! Fault injection through the bundled CLAP plugin: broken model folders and a missing or
//! unloadable ONNX Runtime. In every case audio must pass unchanged, no genre may be claimed (no
//! MIDI CC), nothing may crash, and every step must finish in bounded time (a watchdog aborts the
//! test binary after 20 s; ORT cases run in a child process that is killed after 60 s).
//! clap_midi.rs covers a truncated trunk and a missing folder, in real time; these run offline.
mod common;
mod engine_support;

use common::{OutEvent, TestHost};
use engine_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STEP_LIMIT: Duration = Duration::from_secs(20);
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

/// One instance reading `model`, rendering 6 s of music offline (the analysis runs in step with
/// the audio, so a working model has certainly predicted by then). Returns the CCs seen.
fn run_instance(host: &TestHost, model: &Path, what: &str) -> Vec<(u8, u8, u8)> {
    let _wd = Watchdog::new(what.to_string(), STEP_LIMIT);
    let mut inst = instance_with_model(host, model);
    inst.set_offline(true);
    inst.activate(44_100.0, 512);
    let (mut pos, mut seed, mut events) = (0usize, 99u64, Vec::<OutEvent>::new());
    while pos < 44_100 * 6 {
        let input = music(44_100.0, pos, 512, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, what);
        events.extend(ev);
        pos += 512;
    }
    inst.deactivate();
    drop(inst);
    events.iter().filter_map(OutEvent::as_cc).collect()
}

fn claims_a_genre(ccs: &[(u8, u8, u8)]) -> bool {
    ccs.iter().any(|c| c.1 == TOP_CC && c.2 < 10)
}

fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    v.sort();
    v
}

fn edit_manifest(d: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = d.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn broken_model_folders() {
    let good = test_model();
    let host = TestHost::load_default();

    // Control: the intact model claims a genre under the same procedure.
    assert!(claims_a_genre(&run_instance(&host, good, "intact model")), "control: no genre with the intact model");

    type Breaker = fn(&Path);
    let cases: [(&str, Breaker); 8] = [
        ("wrong front-end hash", |d| {
            edit_manifest(d, |m| {
                let hash = m["front_end_hash"].as_str().expect("manifest has front_end_hash").to_string();
                m["front_end_hash"] = hash.chars().rev().collect::<String>().into();
            })
        }),
        ("a front end this build cannot compute", |d| {
            edit_manifest(d, |m| m["front_end"]["compression"] = serde_json::json!({"kind": "cube_root"}))
        }),
        ("a front end that makes no sense", |d| {
            edit_manifest(d, |m| {
                m["front_end"]["hop_length"] = 0.into();
            })
        }),
        ("member file missing", |d| std::fs::remove_file(&onnx_files(d)[1]).unwrap()),
        ("trunk bytes changed (checksum)", |d| {
            let p = d.join("trunk.onnx");
            let mut b = std::fs::read(&p).unwrap();
            let n = b.len() / 2;
            b[n] ^= 0x5A;
            std::fs::write(p, b).unwrap();
        }),
        ("a member that is not ONNX (checksum updated)", |d| {
            let p = &onnx_files(d)[0];
            std::fs::write(p, b"not a model").unwrap();
            let sha = genrescope_core::sha256_hex(b"not a model");
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            edit_manifest(d, |m| {
                for e in m["members"].as_array_mut().unwrap() {
                    if e["file"] == name.as_str() {
                        e["sha256"] = sha.clone().into();
                    }
                }
            })
        }),
        ("manifest not JSON", |d| std::fs::write(d.join("manifest.json"), b"{ not json").unwrap()),
        ("manifest missing", |d| std::fs::remove_file(d.join("manifest.json")).unwrap()),
    ];
    for (what, breaker) in cases {
        let dir = scratch_dir(&format!("broken-{}", what.replace(' ', "-")));
        copy_dir(good, &dir);
        breaker(&dir);
        let ccs = run_instance(&host, &dir, what);
        assert!(ccs.is_empty(), "{what}: CCs without a usable model: {ccs:?}");
        eprintln!("{what}: audio unchanged, no CC");
    }
    // The intact model still works afterwards in the same process.
    assert!(claims_a_genre(&run_instance(&host, good, "intact model again")));
}

/// Dropping the plugin while one stage of its model load runs long returns after a bounded wait
/// (the engine's `JOIN_LIMIT`): the load goes on without it. The trunk carries 250 MB of ONNX
/// metadata, so its ONNX Runtime session build (one stage, which cannot be interrupted) takes
/// seconds. (A FIFO trunk made the load hang for good before model admission refused special
/// files; a load that does not run long is waited for: see teardown.rs.)
#[test]
fn dropping_during_a_model_load_does_not_block() {
    let host = TestHost::load_default();
    let dir = padded_model("slow-load", 250 << 20);
    let mut inst = instance_with_model(&host, &dir);
    inst.activate(48_000.0, 512);
    let mut seed = 1u64;
    for k in 0..20 {
        let input = music(48_000.0, k * 512, 512, &mut seed);
        let (out, _) = inst.process(&input);
        assert_bit_exact(&input, &out, "while loading");
    }
    // Into the trunk's session build.
    std::thread::sleep(Duration::from_millis(1000));
    let t = Instant::now();
    inst.deactivate();
    drop(inst);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "dropping the plugin waited {took:?} for the model load");
    // Let the orphaned load finish, so no thread of ours is inside ONNX Runtime when this process
    // exits (the crash of issue 19's deliverable 0). ONNX Runtime's own idle threads inherit the
    // analysis thread's name, so wait for the CPU time of those threads to stop growing.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cpu = threads_cpu_s("genrescope-anal");
        std::thread::sleep(Duration::from_millis(300));
        if threads_cpu_s("genrescope-anal") == cpu || Instant::now() > deadline {
            break;
        }
    }
    eprintln!("dropped after {took:?} into a slow load");
}

/// Child side of `onnx_runtime_missing`: runs only when the parent sets CHILD_ENV.
#[test]
fn child_process_body() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let host = TestHost::load_default(); // GENRESCOPE_CLAP_BUNDLE, set by the parent
    let model = PathBuf::from(std::env::var_os("GENRESCOPE_TEST_MODEL").expect("parent sets the model"));
    let ccs = run_instance(&host, &model, "ORT unavailable");
    assert!(ccs.is_empty(), "CCs without ONNX Runtime: {ccs:?}");
    // A second instance in the same process gets the cached failure quickly.
    let t = Instant::now();
    assert!(run_instance(&host, &model, "ORT unavailable, second instance").is_empty());
    println!("CHILD-OK second instance {:.2} s", t.elapsed().as_secs_f64());
}

#[test]
fn onnx_runtime_missing() {
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
        (
            "GENRESCOPE_ORT_LIB=/nonexistent, bundle without the library",
            &lonely,
            "/nonexistent/libonnxruntime.so".into(),
        ),
        (
            "GENRESCOPE_ORT_LIB=/nonexistent, full bundle",
            bundle.parent().unwrap(),
            "/nonexistent/libonnxruntime.so".into(),
        ),
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
            .env("GENRESCOPE_TEST_MODEL", &model)
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
