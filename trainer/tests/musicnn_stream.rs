//! The shipped trunk's graphs on the real MSD_musicnn weights and the 6 fixture patches
//! (tests/data/musicnn): the MaxPool rewrite against the ReduceMax graph, the streaming split
//! through core's `TrunkRunner` against whole windows (at several hops, across a reset), and the
//! int8 timbral convs against fp32.
//! Needs the checkpoint (`cargo xtask musicnn` / `GENRESCOPE_MUSICNN_DIR`; SKIP without it, except
//! in CI) and ONNX Runtime.
use genrescope_core::model::{InputSpec, SessionOptions, TrunkEntry, TrunkRunner};
use genrescope_onnx_graph::Reader;
use genrescope_trainer::inference::run_outputs;
use genrescope_trainer::musicnn::checkpoint::Checkpoint;
use genrescope_trainer::musicnn::export::{calibrate, graphs, INPUT_TOP, WEIGHT_MAX};
use genrescope_trainer::musicnn::onnx::{trunk_outputs, trunk_to_onnx, TrunkOnnxOptions, INPUT_NAME, INPUT_SHAPE};
use genrescope_trainer::musicnn::prune::{probe_outputs, prune, Liveness};
use genrescope_trainer::musicnn::weights::{MusicnnWeights, PATCH_FRAMES};
use std::path::{Path, PathBuf};

fn checkpoint() -> Option<PathBuf> {
    let dir = std::env::var_os("GENRESCOPE_MUSICNN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
    if dir.join(".index").is_file() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI: no musicnn checkpoint at {}", dir.display());
    eprintln!("SKIP: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
    None
}

fn patches() -> Vec<f32> {
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/musicnn/patches.f32")).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

const LEN: usize = PATCH_FRAMES * 96;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("genrescope-musicnn-stream-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn full_weights(dir: &Path) -> MusicnnWeights {
    MusicnnWeights::from_checkpoint(&Checkpoint::open(dir).unwrap()).unwrap()
}

/// The trunk pruned on the fixture patches (what `train` ships has a bias map, like this one).
fn pruned_weights(dir: &Path, work: &Path) -> MusicnnWeights {
    let w = full_weights(dir);
    let probe = work.join("probe.onnx");
    std::fs::write(&probe, trunk_to_onnx(&w, &TrunkOnnxOptions { probe: true, ..Default::default() }).unwrap())
        .unwrap();
    let p = run_outputs(&probe, INPUT_NAME, &INPUT_SHAPE, &probe_outputs(&w), &patches(), LEN, 2).unwrap();
    prune(&w, &Liveness::from_probes(&w, &p).unwrap(), PATCH_FRAMES).unwrap().weights
}

fn input() -> InputSpec {
    InputSpec { name: INPUT_NAME.into(), shape: vec![-1, INPUT_SHAPE[0], INPUT_SHAPE[1]], window_frames: PATCH_FRAMES }
}

#[test]
fn maxpool_rewrite_is_bit_identical_to_reduce_max() {
    let Some(dir) = checkpoint() else { return };
    let work = tmp("rewrite");
    // Unpruned: 204 and 51 filters, padded to 208 and 64.
    let w = full_weights(&dir);
    let outs = trunk_outputs(&w);
    let mut results = Vec::new();
    for maxpool in [false, true] {
        let bytes = trunk_to_onnx(&w, &TrunkOnnxOptions { maxpool, ..Default::default() }).unwrap();
        let r = Reader::parse(&bytes).unwrap();
        let freq_max: Vec<&str> = r.nodes().into_iter().filter(|n| n.2.ends_with(".freq_max")).map(|n| n.1).collect();
        assert_eq!(freq_max, vec![if maxpool { "MaxPool" } else { "ReduceMax" }; 5]);
        let file = work.join(format!("maxpool-{maxpool}.onnx"));
        std::fs::write(&file, bytes).unwrap();
        results.push(run_outputs(&file, INPUT_NAME, &INPUT_SHAPE, &outs, &patches(), LEN, 1).unwrap());
    }
    let differing = results[0].iter().zip(&results[1]).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differing, 0, "{differing} of {} output values differ", results[0].len());
}

#[test]
fn streaming_split_equals_whole_windows_at_every_hop() {
    let Some(dir) = checkpoint() else { return };
    let work = tmp("split");
    let w = pruned_weights(&dir, &work);
    let outs = trunk_outputs(&w);
    // The six patches one after the other: a 1122-frame stream.
    let stream = patches();
    let frames = stream.len() / 96;
    let q = calibrate(&w, &patches(), LEN, &work, 2, WEIGHT_MAX, INPUT_TOP).unwrap();
    for (name, int8) in [("fp32", None), ("int8", Some(&q))] {
        let g = graphs(&w, int8).unwrap();
        let entry: TrunkEntry = g.write(&work, &format!("trunk_{name}"), &outs, None, true).unwrap();
        let split = entry.streaming.as_ref().unwrap();
        assert_eq!((split.context, split.channels), (3, w.front[0].out_channels() + w.front[1].out_channels()));
        let whole_opts = SessionOptions { whole_window_trunk: true, ..Default::default() };
        let mut whole = TrunkRunner::from_entry(&entry, &work, &input(), whole_opts).unwrap();
        let mut streaming = TrunkRunner::from_entry(&entry, &work, &input(), SessionOptions::default()).unwrap();
        assert!(streaming.is_streaming() && !whole.is_streaming());
        for hop in [5usize, 31, 187, 200] {
            let (mut worst, mut windows, mut first_pass) = (0.0f32, 0u64, Vec::new());
            let before = streaming.frame_work().1;
            for pass in 0..2 {
                streaming.reset();
                let mut end = PATCH_FRAMES;
                let mut k = 0;
                while end <= frames {
                    let window = &stream[(end - PATCH_FRAMES) * 96..end * 96];
                    let s = streaming.run(window, Some(end as u64)).unwrap();
                    if pass == 0 {
                        // Whole windows on a subset (they are the slow side).
                        if k % 4 == 0 || hop >= 31 {
                            let wh = whole.run(window, None).unwrap();
                            for ((o, a), b) in outs.iter().zip(&s).zip(&wh) {
                                let mag = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                                let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                                worst = worst.max(d / mag);
                                assert!(d <= 1e-5 * mag, "{name} hop {hop} window {k}: {} differs by {d}", o.0);
                            }
                        }
                        windows += 1;
                        first_pass.push(s);
                    } else {
                        // After a reset the stream gives the same outputs, to the bit.
                        assert_eq!(s, first_pass[k], "{name} hop {hop} window {k} after a reset");
                    }
                    end += hop;
                    k += 1;
                }
            }
            let computed = (streaming.frame_work().1 - before) / 2;
            eprintln!(
                "{name}, hop {hop}: {windows} windows, {computed} frames computed, largest relative difference {worst:.1e}"
            );
            if hop < 40 {
                assert!(computed < windows * PATCH_FRAMES as u64 / 2, "{name} hop {hop}: {computed} frames");
            }
        }
    }
}

#[test]
fn int8_timbral_convs_agree_with_fp32() {
    let Some(dir) = checkpoint() else { return };
    let work = tmp("int8");
    let w = pruned_weights(&dir, &work);
    let outs = trunk_outputs(&w);
    let p = patches();
    // Calibrated on three patches, checked on all six.
    let q = calibrate(&w, &p[..3 * LEN], LEN, &work, 2, WEIGHT_MAX, INPUT_TOP).unwrap();
    assert!(q.input.zero_point <= INPUT_TOP && q.outputs.len() == 2);
    let run = |name: &str, bytes: Vec<u8>| {
        let f = work.join(name);
        std::fs::write(&f, bytes).unwrap();
        run_outputs(&f, INPUT_NAME, &INPUT_SHAPE, &outs, &p, LEN, 1).unwrap()
    };
    let i8 = graphs(&w, Some(&q)).unwrap();
    let r = Reader::parse(&i8.whole).unwrap();
    assert_eq!(r.nodes().iter().filter(|n| n.1 == "QuantizeLinear").count(), 3, "input + two conv outputs");
    assert_eq!(i8.quantized_layers, ["timbral_7x38", "timbral_7x67"]);
    let a = run("int8.onnx", i8.whole);
    let b = run("fp32.onnx", graphs(&w, None).unwrap().whole);
    let stride: usize = outs.iter().map(|o| o.1).sum();
    let (mut top_agree, mut se, mut ss) = (0, 0f64, 0f64);
    for (x, y) in a.chunks_exact(stride).zip(b.chunks_exact(stride)) {
        let top = |v: &[f32]| (0..50).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
        top_agree += usize::from(top(x) == top(y));
        for (u, v) in x[50..250].iter().zip(&y[50..250]) {
            se += ((u - v) as f64).powi(2);
            ss += (*v as f64).powi(2);
        }
    }
    let rel = (se / ss).sqrt();
    eprintln!("int8 vs fp32 on 6 patches: top tag {top_agree}/6, penultimate relative RMS error {rel:.4}");
    assert!(top_agree >= 5 && rel < 0.06, "top tag {top_agree}/6, penultimate error {rel}");
}
