//! The VST3 bundle in a real third-party host: Spotify's pedalboard (PyPI), which hosts VST3
//! through JUCE. Runs `tools/vst3_pedalboard.py` in a venv under `target/` and checks its report:
//! the plugin loads, audio (a GTZAN clip at its own rate and resampled to 48 kHz, mono and stereo)
//! comes back bit exact, and the parameters are what the plugin declares.
//!
//! Skips only outside CI when Python/pip cannot provide pedalboard; with CI=true it must run.
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A python that can import pedalboard + numpy, and the PYTHONPATH it needs: `target/vst3-venv`,
/// created on first use; where venv is unavailable (Debian without python3-venv), the system
/// python3 with `pip install --target target/vst3-pylib` (which PEP 668 does not block).
fn python_with_pedalboard() -> Result<(PathBuf, Option<PathBuf>), String> {
    let target = workspace().join("target");
    let venv = target.join("vst3-venv");
    let venv_py = venv.join("bin/python");
    let pylib = target.join("vst3-pylib");
    let has = |py: &Path, path: Option<&Path>| {
        let mut c = Command::new(py);
        c.args(["-c", "import pedalboard, numpy"]);
        if let Some(p) = path {
            c.env("PYTHONPATH", p);
        }
        c.status().is_ok_and(|s| s.success())
    };
    if has(&venv_py, None) {
        return Ok((venv_py, None));
    }
    let python3 = PathBuf::from("python3");
    if has(&python3, Some(&pylib)) {
        return Ok((python3, Some(pylib)));
    }
    let pkgs = ["pedalboard==0.9.26", "numpy"];
    let venv_ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && venv_py.is_file();
    let (py, path, pip) = if venv_ok {
        let st = Command::new(&venv_py).args(["-m", "pip", "install", "--quiet"]).args(pkgs).status();
        (venv_py, None, st)
    } else {
        eprintln!("python3 -m venv failed; installing with pip --target {}", pylib.display());
        let st = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&pylib)
            .args(pkgs)
            .status();
        (python3, Some(pylib), st)
    };
    let pip = pip.map_err(|e| format!("python3/pip not runnable: {e}"))?;
    if !pip.success() || !has(&py, path.as_deref()) {
        return Err(format!("pip install pedalboard numpy failed ({pip})"));
    }
    Ok((py, path))
}

fn vst3_bundle() -> PathBuf {
    std::env::var_os("GENRESCOPE_VST3_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/bundled/Genrescope.vst3"))
}

fn run_script(py: &Path, pythonpath: Option<&Path>, model_dir: Option<&Path>) -> Value {
    let bundle = vst3_bundle();
    assert!(
        bundle.join("Contents/x86_64-linux/Genrescope.so").is_file(),
        "no VST3 bundle at {}: run `cargo xtask bundle genrescope --release`",
        bundle.display()
    );
    let clip = std::env::var_os("GTZAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/datasets/gtzan"))
        .join("blues/blues.00042.ogg");
    let mut cmd = Command::new(py);
    cmd.arg(workspace().join("tools/vst3_pedalboard.py")).arg(&bundle);
    if let Some(p) = pythonpath {
        cmd.env("PYTHONPATH", p);
    }
    if clip.is_file() {
        cmd.arg("--clip").arg(&clip);
    } else {
        eprintln!("note: {} not present, the script uses a synthetic signal", clip.display());
    }
    if model_dir.is_some() {
        cmd.arg("--expect-ort");
    }
    match model_dir {
        Some(d) => cmd.env("GENRESCOPE_MODEL_DIR", d),
        None => cmd.env("GENRESCOPE_MODEL_DIR", "/nonexistent/genrescope-model"),
    };
    let out = cmd.output().expect("run tools/vst3_pedalboard.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("script printed no JSON ({e}); exit {}; stdout:\n{stdout}", out.status));
    if let Some(err) = report.get("load_error") {
        panic!("pedalboard could not load {}: {err}\n{}", bundle.display(), report["traceback"]);
    }
    let runs = report["runs"].as_array().expect("runs");
    eprintln!("pedalboard {}: {} runs", report["pedalboard"], runs.len());
    for r in runs {
        eprintln!(
            "  {} Hz, {} ch, buffer {}, {} frames: max |out-in| {}, bit exact {}",
            r["sample_rate"], r["channels"], r["buffer_size"], r["frames"], r["max_abs_diff"], r["bit_exact"]
        );
    }
    assert!(out.status.success(), "script failed ({}): {stdout}", out.status);
    report
}

#[test]
fn vst3_loads_in_pedalboard_and_passes_audio_unchanged() {
    let (py, pythonpath) = match python_with_pedalboard() {
        Ok(found) => found,
        Err(e) if !in_ci() => {
            eprintln!("SKIP (not in CI): {e}");
            return;
        }
        Err(e) => panic!("CI=true but pedalboard is unavailable: {e}"),
    };
    // With a (random-weight) model the analysis thread runs inside the VST3 host too.
    let tmp = std::env::temp_dir().join(format!("genrescope-vst3-{}", std::process::id()));
    let model = tmp.join("model");
    std::fs::create_dir_all(&model).unwrap();
    genrescope_testkit::TinyModel::new(genrescope_core::features::FrontEndSpec::musicnn())
        .with_trunk(2)
        .seed(5)
        .write(&model)
        .expect("write test model");

    for model_dir in [None, Some(model.as_path())] {
        let report = run_script(&py, pythonpath.as_deref(), model_dir);
        let plugin = &report["plugin"];
        assert_eq!(plugin["name"], "Genrescope");
        assert_eq!(plugin["is_effect"], true);
        assert_eq!(plugin["latency_samples"], 0);
        let runs = report["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4);
        let rates: Vec<f64> = runs.iter().map(|r| r["sample_rate"].as_f64().unwrap()).collect();
        assert!(rates.contains(&48_000.0), "{rates:?}");
        for r in runs {
            assert_eq!(r["out_shape"][1], r["frames"], "{r}");
            assert!(r["max_abs_diff"].as_f64().unwrap() <= 1e-7, "audio altered: {r}");
        }
        // Every parameter the plugin declares reaches the host by name, and pedalboard shows all
        // of them (it hides names starting "MIDI CC ", JUCE's MIDI-CC proxies: we avoid those).
        let names: Vec<&str> =
            report["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "Smoothing",
                "Update interval",
                "Gate",
                "CC output",
                "MIDI channel",
                "First CC",
                "Program change",
                "Program hold"
            ]
        );
        for p in report["parameters"].as_array().unwrap() {
            assert!(p["python_name"].is_string(), "hidden from the host's parameter list: {p}");
        }
        let gate = report["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Gate").unwrap();
        assert_eq!(gate["range"][0].as_f64(), Some(-90.0));
        assert_eq!(gate["value"], "-50.0");
        assert_eq!(report["state_roundtrip_same"], true);
        // The analysis thread runs inside the VST3 host, and with a model it loads ONNX Runtime
        // there (only a model load does). (ORT's own environment thread is not a reliable sign:
        // it did not appear with CI=true in the environment.)
        let threads = report["plugin_threads"].as_array().expect("plugin_threads");
        assert!(
            threads.iter().any(|t| t == "genrescope-anal") && threads.len() <= 2,
            "one analysis thread expected: {threads:?}"
        );
        assert_eq!(report["ort_loaded"], model_dir.is_some(), "ONNX Runtime loaded in the host");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
