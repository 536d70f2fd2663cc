//! Hostile model folders: what a downloaded or hand-edited model folder can hold to hurt a host.
//!
//! Each is a copy of a working model folder (one with a trunk, e.g. [`crate::TinyModel::with_trunk`])
//! with one thing made hostile. Front-end edits keep the front-end hash consistent, so they get
//! past the hash check and reach the resource limits, as a deliberate attacker's would. The
//! plugin (through the CLAP host), the offline engine and the plugin's model planning all run the
//! same list: every folder must end as an error, never an abort, a hang or a prediction.
use genrescope_core::features::FrontEndSpec;
use genrescope_core::model::MANIFEST_FILE;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// One hostile folder.
#[derive(Clone, Debug)]
pub struct HostileModel {
    pub what: &'static str,
    /// The model folder to point the plugin (or engine) at.
    pub dir: PathBuf,
    /// Text the error must contain (case-insensitive).
    pub error: &'static str,
}

type Edit = Box<dyn Fn(&Path)>;

/// Writes every hostile variant of `good` (a model folder with a trunk) under `root`.
pub fn hostile_models(good: &Path, root: &Path) -> Vec<HostileModel> {
    let cases: Vec<(&'static str, &'static str, Edit)> = vec![
        (
            "the issue's terabyte frame queue (768 kHz, hop 1, n_fft 65536, 32769 mels)",
            "model sample rate",
            front_end(|fe| {
                fe["sample_rate"] = json!(768_000);
                fe["hop_length"] = json!(1);
                fe["n_fft"] = json!(65536);
                fe["mel"]["n_mels"] = json!(32769);
            }),
        ),
        ("sample rate over the limit", "model sample rate", front_end(|fe| fe["sample_rate"] = json!(192_001))),
        ("sample rate zero", "sample_rate must be at least", front_end(|fe| fe["sample_rate"] = json!(0))),
        ("n_fft over the limit", "n_fft is 32768", front_end(|fe| fe["n_fft"] = json!(32768))),
        ("n_fft u64::MAX", "n_fft is 18446744073709551615", front_end(|fe| fe["n_fft"] = json!(u64::MAX))),
        ("a hop of one sample", "frames per second", front_end(|fe| fe["hop_length"] = json!(1))),
        ("a hop of zero", "hop_length > 0", front_end(|fe| fe["hop_length"] = json!(0))),
        ("a negative hop", "expected usize", front_end(|fe| fe["hop_length"] = json!(-256))),
        (
            "STFT work over the limit",
            "STFT input per second",
            front_end(|fe| {
                fe["n_fft"] = json!(16384);
                fe["hop_length"] = json!(32);
            }),
        ),
        (
            "n_mels over the limit",
            "n_mels is 513",
            front_end(|fe| {
                fe["n_fft"] = json!(4096);
                fe["mel"]["n_mels"] = json!(513);
            }),
        ),
        ("power 1e39 (infinite as f32)", "power", front_end(|fe| fe["power"] = json!(1e39))),
        ("window frames zero", "window frames", manifest(|m| window(m, 0))),
        ("window frames negative", "expected usize", manifest(|m| m["input"]["window_frames"] = json!(-187))),
        ("window frames over the limit", "frames per model window", manifest(|m| window(m, 8193))),
        (
            "window values over the limit",
            "values per model window",
            Box::new(|d: &Path| {
                edit(d, |m| {
                    m["front_end"]["mel"]["n_mels"] = json!(256);
                    rehash(m);
                    window(m, 4200);
                    m["input"]["shape"] = json!([-1, 4200, 256]);
                })
            }),
        ),
        ("65 members", "ensemble members", manifest(|m| m["members"] = json!(vec![m["members"][0].clone(); 65]))),
        (
            "17 trunk outputs",
            "trunk outputs",
            manifest(|m| {
                for i in 0..15 {
                    m["trunk"]["outputs"].as_array_mut().unwrap().push(json!({"name": format!("o{i}"), "dim": 1}));
                }
            }),
        ),
        (
            "a trunk output of 2^20 + 1 values",
            "tensor dimension",
            manifest(|m| m["trunk"]["outputs"][0]["dim"] = json!((1u64 << 20) + 1)),
        ),
        (
            "an input of rank 12",
            "tensor rank",
            manifest(|m| {
                let frames = m["input"]["window_frames"].clone();
                let bands = m["input"]["shape"][2].clone();
                m["input"]["shape"] = json!([-1, 1, 1, 1, 1, 1, 1, 1, 1, 1, frames, bands]);
            }),
        ),
        ("a 2000-byte name", "a name in the manifest", manifest(|m| m["name"] = json!("n".repeat(2000)))),
        ("a 100 MB string", "manifest.json size", manifest(|m| m["notes"] = json!("x".repeat(100 << 20)))),
        (
            "JSON nested 100000 deep",
            "recursion limit",
            Box::new(|d: &Path| {
                let text = std::fs::read_to_string(d.join(MANIFEST_FILE)).unwrap();
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                let text = text.replacen("\"notes\":", &format!("\"deep\": {deep}, \"notes\":"), 1);
                std::fs::write(d.join(MANIFEST_FILE), text).unwrap();
            }),
        ),
        (
            "vote weights 1e39",
            "vote weights",
            manifest(|m| {
                let n = m["members"].as_array().unwrap().len();
                m["vote"] = json!({"rule": "mean", "weights": vec![vec![1e39; 10]; n]});
            }),
        ),
        (
            "calibration temperature 0",
            "temperature",
            manifest(|m| m["calibration"] = json!({"kind": "temperature", "temperature": 0.0})),
        ),
        (
            "out-of-set threshold 1e39",
            "threshold",
            manifest(|m| m["out_of_set"] = json!({"label": "other", "threshold": 1e39})),
        ),
        (
            "model files over 1 GiB (sparse)",
            "model files in total",
            Box::new(|d: &Path| {
                let f = std::fs::File::options().write(true).open(d.join("trunk.onnx")).unwrap();
                f.set_len((1 << 30) + 1).unwrap();
            }),
        ),
        ("trunk.onnx a symlink loop", "symbolic links", file(|p| symlink(p, p))),
        ("trunk.onnx -> /dev/zero", "not a regular file", file(|p| symlink(Path::new("/dev/zero"), p))),
        ("trunk.onnx a FIFO", "not a regular file", file(mkfifo)),
        ("trunk.onnx a folder", "not a regular file", file(|p| std::fs::create_dir(p).unwrap())),
        (
            "manifest.json a symlink loop",
            "symbolic links",
            Box::new(|d: &Path| {
                let p = d.join(MANIFEST_FILE);
                std::fs::remove_file(&p).unwrap();
                symlink(&p, &p);
            }),
        ),
    ];
    let mut out = Vec::new();
    for (i, (what, error, edit)) in cases.into_iter().enumerate() {
        let dir = root.join(format!("hostile-{i:02}"));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(good, &dir);
        edit(&dir);
        out.push(HostileModel { what, dir, error });
    }
    // The model folder itself a symlink loop.
    let dir = root.join("hostile-folder-loop");
    let _ = std::fs::remove_file(&dir);
    symlink(&dir, &dir);
    out.push(HostileModel { what: "the model folder a symlink loop", dir, error: "symbolic links" });
    out
}

fn edit(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join(MANIFEST_FILE);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

fn manifest(f: impl Fn(&mut Value) + 'static) -> Edit {
    Box::new(move |d: &Path| edit(d, &f))
}

/// An edit of the front end, with the front-end hash made to match it (when it still parses).
fn front_end(f: impl Fn(&mut Value) + 'static) -> Edit {
    Box::new(move |d: &Path| {
        edit(d, |m| {
            f(&mut m["front_end"]);
            rehash(m);
        })
    })
}

fn rehash(m: &mut Value) {
    if let Ok(fe) = serde_json::from_value::<FrontEndSpec>(m["front_end"].clone()) {
        m["front_end_hash"] = json!(fe.hash());
    }
}

fn window(m: &mut Value, frames: i64) {
    m["input"]["window_frames"] = json!(frames);
    let bands = m["input"]["shape"][2].clone();
    m["input"]["shape"] = json!([-1, frames, bands]);
}

/// Replaces `trunk.onnx` with what `make` puts at its path.
fn file(make: impl Fn(&Path) + 'static) -> Edit {
    Box::new(move |d: &Path| {
        let p = d.join("trunk.onnx");
        std::fs::remove_file(&p).unwrap();
        make(&p);
    })
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn mkfifo(p: &Path) {
    // mkfifo(1) rather than libc: no unsafe code in the test kit.
    let ok = std::process::Command::new("mkfifo").arg(p).status().is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {}", p.display());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}
