//! `Genrescope analyze`: the CLI binary and the offline driver of the plugin's engine.
//!
//! Tests that run inference use a random-weight model shaped like the shipped one (testkit: the
//! musicnn front end, a trunk and two heads) and skip, saying so, when ONNX Runtime is not
//! available (`cargo xtask ort`), except in CI.
use genrescope_core::audio_file::DecodedAudio;
use genrescope_core::features::FrontEndSpec;
use genrescope_engine::{OfflineEngine, OfflineSettings};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn temp_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("genrescope-analyze-cli-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// A random-weight 2-member model folder, written once per test process.
fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = temp_dir().join("model");
        std::fs::create_dir_all(&d).unwrap();
        genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn()).with_trunk(2).seed(7).write(&d).unwrap();
        d
    })
}

/// The same model with the out-of-set class (threshold 0.5): the test kit's rule calls bright
/// tones "other" and `music` not.
fn oos_model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = temp_dir().join("model-oos");
        std::fs::create_dir_all(&d).unwrap();
        genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn())
            .with_trunk(2)
            .seed(7)
            .out_of_set(0.5)
            .write(&d)
            .unwrap();
        d
    })
}

fn ort_available() -> bool {
    match genrescope_core::runtime::init_onnx_runtime() {
        Ok(_) => true,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI: no ONNX Runtime: {e}");
            eprintln!("SKIPPED (no ONNX Runtime): {e}");
            false
        }
    }
}

/// Deterministic "music": a few harmonic voices with tremolo plus a little noise, about -15 dBFS.
fn music(rate: u32, seconds: f32, n_ch: usize) -> Vec<Vec<f32>> {
    let n = (rate as f32 * seconds) as usize;
    let mut seed = 0x1234_5678u32;
    (0..n_ch)
        .map(|c| {
            (0..n)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let voices: f32 = [110.0f32, 220.0, 329.6, 440.0 + c as f32 * 3.0]
                        .iter()
                        .enumerate()
                        .map(|(k, f)| (std::f32::consts::TAU * f * t).sin() / (k + 1) as f32)
                        .sum();
                    let tremolo = 0.6 + 0.4 * (std::f32::consts::TAU * 2.0 * t).sin();
                    0.12 * voices * tremolo + 0.05 * noise
                })
                .collect()
        })
        .collect()
}

/// 16-bit PCM WAV.
fn write_wav(name: &str, rate: u32, channels: &[Vec<f32>]) -> PathBuf {
    let b = genrescope_testkit::wav_bytes(rate, channels);
    let path = temp_dir().join(name);
    std::fs::write(&path, b).unwrap();
    path
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_Genrescope"))
        .args(args)
        .env_remove("GENRESCOPE_MODEL_DIR")
        .output()
        .expect("run Genrescope")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Non-zero exit, one line of error, no panic.
fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stdout: {}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let o = cli(args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("stdout is JSON")
}

#[test]
fn missing_file_is_a_clean_error() {
    let model = model_dir().to_str().unwrap();
    let o = cli(&["analyze", "/nonexistent/song.wav", "--model", model]);
    assert_clean_failure(&o, "/nonexistent/song.wav");
}

#[test]
fn corrupt_and_truncated_files_are_clean_errors() {
    let model = model_dir().to_str().unwrap();
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let path = temp_dir().join("garbage.wav");
    std::fs::write(&path, garbage).unwrap();
    assert_clean_failure(&cli(&["analyze", path.to_str().unwrap(), "--model", model]), "garbage.wav");

    let wav = std::fs::read(write_wav("tmp.wav", 22050, &music(22050, 1.0, 1))).unwrap();
    let path = temp_dir().join("header-only.wav");
    std::fs::write(&path, &wav[..40]).unwrap();
    assert_clean_failure(&cli(&["analyze", path.to_str().unwrap(), "--model", model]), "header-only.wav");
}

/// A cut-off file still decodes and is analysed, but says so: on stderr and in the JSON.
#[test]
fn truncated_file_is_analysed_with_a_warning() {
    if !ort_available() {
        return;
    }
    let model = model_dir().to_str().unwrap();
    let wav = std::fs::read(write_wav("full.wav", 22050, &music(22050, 8.0, 1))).unwrap();
    let path = temp_dir().join("cut.wav");
    std::fs::write(&path, &wav[..wav.len() / 2]).unwrap();
    let o = cli(&["analyze", path.to_str().unwrap(), "--model", model, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning:") && err.contains("cut.wav") && err.contains("truncated"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!((v["duration_s"].as_f64().unwrap() - 4.0).abs() < 0.1, "{}", v["duration_s"]);

    let full = temp_dir().join("full.wav");
    let o = cli(&["analyze", full.to_str().unwrap(), "--model", model, "--json"]);
    assert!(o.status.success() && stderr(&o).is_empty(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["warnings"], serde_json::json!([]));
}

#[test]
fn missing_model_is_a_clean_error() {
    let wav = write_wav("short.wav", 22050, &music(22050, 1.0, 1));
    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", "/nonexistent/model"]);
    assert_clean_failure(&o, "manifest not found");
    assert_eq!(
        stderr(&o).trim_end(),
        "Genrescope: error: model /nonexistent/model: model manifest not found at /nonexistent/model"
    );
}

/// A model whose front end this build cannot compute: refused before anything is loaded.
#[test]
fn foreign_front_end_is_a_clean_error() {
    let dir = temp_dir().join("foreign-model");
    std::fs::create_dir_all(&dir).unwrap();
    genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("log10_one_plus", "cube_root")).unwrap();
    let wav = write_wav("short-foreign.wav", 22050, &music(22050, 1.0, 1));
    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", dir.to_str().unwrap()]);
    assert_clean_failure(&o, "cannot compute the features this model needs");
    assert!(stderr(&o).starts_with(&format!("Genrescope: error: model {}: ", dir.display())), "{}", stderr(&o));
}

/// An ONNX file the manifest vouches for but ONNX Runtime cannot read: one line naming the file,
/// each cause said once.
#[test]
fn corrupt_onnx_file_is_a_clean_error() {
    if !ort_available() {
        return;
    }
    let dir = temp_dir().join("corrupt-model");
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = genrescope_testkit::TinyModel::new(FrontEndSpec::musicnn()).write(&dir).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join(&m.members[0].file), &garbage).unwrap();
    m.members[0].sha256 = genrescope_core::sha256_hex(&garbage);
    m.write(&dir, "manifest.json").unwrap();
    let wav = write_wav("short-corrupt.wav", 22050, &music(22050, 1.0, 1));
    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", dir.to_str().unwrap()]);
    assert_clean_failure(&o, &format!("cannot load {}", dir.join(&m.members[0].file).display()));
    assert_eq!(stderr(&o).matches("cannot load").count(), 1, "{}", stderr(&o));
}

#[test]
fn missing_onnx_runtime_is_a_clean_error() {
    let wav = write_wav("short-ort.wav", 22050, &music(22050, 1.0, 1));
    let o = Command::new(env!("CARGO_BIN_EXE_Genrescope"))
        .args(["analyze", wav.to_str().unwrap(), "--model", model_dir().to_str().unwrap()])
        .env("GENRESCOPE_ORT_LIB", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_clean_failure(&o, "GENRESCOPE_ORT_LIB");
    // The engine's message already holds its causes: they are not repeated.
    assert_eq!(stderr(&o).matches("GENRESCOPE_ORT_LIB").count(), 1, "{}", stderr(&o));
}

#[test]
fn bad_arguments_are_rejected() {
    let o = cli(&["analyze", "x.wav", "--block", "0"]);
    assert!(!o.status.success() && !stderr(&o).contains("panicked"), "{}", stderr(&o));
    let wav = write_wav("short-args.wav", 22050, &music(22050, 1.0, 1));
    let model = model_dir().to_str().unwrap();
    assert_clean_failure(&cli(&["analyze", wav.to_str().unwrap(), "--model", model, "--hop", "0"]), "--hop");
}

#[test]
fn json_has_one_prediction_per_hop_and_a_verdict() {
    if !ort_available() {
        return;
    }
    let wav = write_wav("music.wav", 22050, &music(22050, 10.0, 1));
    let v = run_json(&[
        "analyze",
        wav.to_str().unwrap(),
        "--model",
        model_dir().to_str().unwrap(),
        "--json",
        "--hop",
        "0.5",
    ]);
    let spec = FrontEndSpec::musicnn();
    let fps = spec.frames_per_second();
    let hop_s = (0.5 * fps).round() / fps;
    let preds = v["predictions"].as_array().unwrap();
    let times: Vec<f64> = preds.iter().map(|p| p["time_s"].as_f64().unwrap()).collect();
    // First prediction once a full window is in, then one every hop until the audio ends.
    let window = v["model"]["window_frames"].as_f64().unwrap();
    assert!((times[0] - window / fps).abs() < 1e-9, "{}", times[0]);
    for w in times.windows(2) {
        assert!((w[1] - w[0] - hop_s).abs() < 1e-9, "{times:?}");
    }
    let expected = ((10.0 - times[0]) / hop_s).floor() as usize + 1;
    assert!(preds.len() + 1 >= expected && preds.len() <= expected, "{} vs {expected}", preds.len());
    for p in preds {
        assert_eq!(p["raw"].as_array().unwrap().len(), 10);
        assert_eq!(p["gated"], false);
        assert!(p["top"].is_string());
    }
    assert_eq!(v["labels"].as_array().unwrap().len(), 10);
    assert_eq!(v["model"]["name"], "testkit-tiny-model");
    assert_eq!(v["model"]["members"].as_array().unwrap().len(), 2);
    assert_eq!(v["model"]["trunk"], "trunk.onnx");
    let verdict = &v["verdict"];
    let probs: Vec<f64> = verdict["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-3, "{probs:?}");
    // Verdict = mean of raw probabilities over the windows.
    for g in 0..10 {
        let mean = preds.iter().map(|p| p["raw"][g].as_f64().unwrap()).sum::<f64>() / preds.len() as f64;
        assert!((mean - probs[g]).abs() < 1e-5);
    }
    let top = verdict["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!(top[0]["p"].as_f64() >= top[1]["p"].as_f64());
    assert_eq!(verdict["gated_windows"], 0);
}

#[test]
fn silence_claims_no_genre() {
    if !ort_available() {
        return;
    }
    let wav = write_wav("silence.wav", 44100, &[vec![0.0; 44100 * 6], vec![0.0; 44100 * 6]]);
    let model = model_dir().to_str().unwrap();
    let v = run_json(&["analyze", wav.to_str().unwrap(), "--model", model, "--json"]);
    let preds = v["predictions"].as_array().unwrap();
    assert!(!preds.is_empty());
    assert!(preds.iter().all(|p| p["gated"] == true && p["top"].is_null()));
    assert!(v["verdict"]["probs"].is_null() && v["verdict"]["top"].as_array().unwrap().is_empty());

    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", model]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("verdict: none") && text.contains("silence"), "{text}");
}

#[test]
fn cli_results_do_not_depend_on_block_size() {
    if !ort_available() {
        return;
    }
    // 44.1 kHz stereo: exercises the downmix and the resampler too.
    let wav = write_wav("music-44k.wav", 44100, &music(44100, 8.0, 2));
    let run = |block: &str| {
        let model = model_dir().to_str().unwrap();
        run_json(&["analyze", wav.to_str().unwrap(), "--model", model, "--json", "--block", block])
    };
    let (a, b) = (run("64"), run("4096"));
    let (pa, pb) = (a["predictions"].as_array().unwrap(), b["predictions"].as_array().unwrap());
    assert!(!pa.is_empty());
    assert_eq!(pa.len(), pb.len());
    for (x, y) in pa.iter().zip(pb) {
        assert_eq!(x["time_s"], y["time_s"]);
        assert_eq!(x["top"], y["top"]);
        // The gate's level comes from the feature frames, so it is block-size independent too.
        assert_eq!(x["level_db"], y["level_db"]);
        for key in ["raw", "smoothed"] {
            for (u, v) in x[key].as_array().unwrap().iter().zip(y[key].as_array().unwrap()) {
                assert!((u.as_f64().unwrap() - v.as_f64().unwrap()).abs() <= 1e-5, "{key}: {u} vs {v}");
            }
        }
    }
}

#[test]
fn text_output_and_plot() {
    if !ort_available() {
        return;
    }
    let wav = write_wav("music-plot.wav", 22050, &music(22050, 6.0, 1));
    let png = temp_dir().join("timeline.png");
    let model = model_dir().to_str().unwrap();
    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", model, "--plot", png.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("model: testkit-tiny-model (trunk + 2 members"), "{text}");
    assert!(text.contains("verdict: ") && text.contains('%'), "{text}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000, "{} bytes", bytes.len());

    let o = cli(&["analyze", wav.to_str().unwrap(), "--model", model, "--plot", "/nonexistent/dir/x.png"]);
    assert_clean_failure(&o, "x.png");
}

#[test]
fn json_and_text_say_other_for_out_of_set_audio() {
    if !ort_available() {
        return;
    }
    let rate = 22050;
    let bright = genrescope_testkit::bright_tones(rate, 10.0, 1);
    let tones = write_wav("bright.wav", rate, &bright);
    let mut mixed = music(rate, 10.0, 1);
    mixed[0].extend(&bright[0]);
    mixed[0].extend(vec![0.0; rate as usize * 5]);
    let mixed = write_wav("music-bright-silence.wav", rate, &mixed);
    let model = oos_model_dir().to_str().unwrap();

    let v = run_json(&["analyze", tones.to_str().unwrap(), "--model", model, "--json", "--smoothing", "0"]);
    assert_eq!(v["model"]["out_of_set"], serde_json::json!({"label": "other", "threshold": 0.5}));
    for p in v["predictions"].as_array().unwrap() {
        assert!(p["top"].is_null() && p["gated"] == false && p["out_of_set"] == true, "{p}");
        assert!(p["other"].as_f64().unwrap() > 0.9 && p["smoothed_other"] == p["other"]);
    }
    let verdict = &v["verdict"];
    assert_eq!(verdict["claim"], "other");
    assert!(verdict["other"].as_f64().unwrap() > 0.9);
    assert_eq!(verdict["top"].as_array().unwrap().len(), 3, "the genres are still listed");
    let sum = verdict["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum::<f64>();
    assert!((sum + verdict["other"].as_f64().unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(verdict["other_windows"], v["predictions"].as_array().unwrap().len());

    // Music, tones, silence: a genre, "other" (distinct from gated), then gated.
    let v = run_json(&["analyze", mixed.to_str().unwrap(), "--model", model, "--json", "--hop", "0.5"]);
    let preds = v["predictions"].as_array().unwrap();
    let kind = |p: &serde_json::Value| match (p["gated"].as_bool().unwrap(), p["out_of_set"].as_bool().unwrap()) {
        (true, false) => "gated",
        (false, true) => "other",
        (false, false) if p["top"].is_string() => "genre",
        _ => panic!("inconsistent prediction {p}"),
    };
    let mut kinds: Vec<&str> = preds.iter().map(kind).collect();
    kinds.dedup();
    assert_eq!(kinds, vec!["genre", "other", "gated"]);
    let gated = preds.iter().filter(|p| p["gated"] == true).count();
    assert_eq!(v["verdict"]["gated_windows"], gated);
    assert!(v["verdict"]["other_windows"].as_u64().unwrap() > 0);
    // The file's mean out-of-set probability, over the ungated windows.
    let judged: Vec<&serde_json::Value> = preds.iter().filter(|p| p["gated"] == false).collect();
    let mean = judged.iter().map(|p| p["other"].as_f64().unwrap()).sum::<f64>() / judged.len() as f64;
    assert!((v["verdict"]["other"].as_f64().unwrap() - mean).abs() < 1e-5);

    let png = temp_dir().join("timeline-other.png");
    let o = cli(&["analyze", tones.to_str().unwrap(), "--model", model, "--plot", png.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("out-of-set class \"other\": other / unsure at 50% or more"), "{text}");
    assert!(text.contains("verdict: other / unsure (out of set"), "{text}");
    assert!(text.lines().any(|l| l.split_whitespace().nth(1) == Some("other")), "rows name other: {text}");
    assert!(std::fs::read(&png).unwrap().len() > 10_000);

    // A model without the class: no out-of-set fields say anything, the claim is a genre.
    let v = run_json(&["analyze", tones.to_str().unwrap(), "--model", model_dir().to_str().unwrap(), "--json"]);
    assert!(v["model"]["out_of_set"].is_null());
    assert!(v["verdict"]["claim"].as_str().is_some_and(|c| c != "other"));
    assert_eq!((v["verdict"]["other"].as_f64(), v["verdict"]["other_windows"].as_u64()), (Some(0.0), Some(0)));
    let o = cli(&["analyze", tones.to_str().unwrap(), "--model", model_dir().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("other"), "{text}");
}

/// The driver itself, at odd block sizes (the CLI test above covers 64 vs 4096).
#[test]
fn driver_is_block_size_independent_and_reusable() {
    if !ort_available() {
        return;
    }
    let audio = DecodedAudio { sample_rate: 48000, channels: music(48000, 6.0, 2), warnings: vec![] };
    let mut engine = OfflineEngine::new(model_dir()).unwrap();
    let run = |engine: &mut OfflineEngine, block| {
        engine.analyze(&audio, &OfflineSettings { block, ..Default::default() }).unwrap()
    };
    let reference = run(&mut engine, 512);
    assert!(!reference.is_empty());
    for block in [1000, 333, 512] {
        let other = run(&mut engine, block);
        assert_eq!(other.len(), reference.len(), "block {block}");
        for (x, y) in reference.iter().zip(&other) {
            assert_eq!((x.time_s, x.top, x.level_db), (y.time_s, y.top, y.level_db));
            for (u, v) in x.raw.iter().chain(&x.smoothed).zip(y.raw.iter().chain(&y.smoothed)) {
                assert!((u - v).abs() <= 1e-5, "block {block}: {u} vs {v}");
            }
        }
    }
    let e = engine.analyze(&audio, &OfflineSettings { block: 0, ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("block"), "{e}");
}
