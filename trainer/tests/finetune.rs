//! Fine-tuning the musicnn back end (`musicnn::finetune`) on the real MSD_musicnn weights and the
//! 6 fixture patches: the front-end / back-end split is the whole trunk, fine-tuning lowers the
//! loss and moves only what it should, and the result goes back through the ONNX writers with the
//! outputs burn computes.
//!
//! Needs the checkpoint (`cargo xtask musicnn` / `GENRESCOPE_MUSICNN_DIR`; SKIP without it, except
//! in CI) and ONNX Runtime (`cargo xtask ort`).
#![cfg(feature = "train")]
use burn::prelude::*;
use genrescope_trainer::data::{Segments, NUM_CLASSES};
use genrescope_trainer::heads::cv::Groups;
use genrescope_trainer::heads::head::{standardization, DenseLayer, HeadWeights};
use genrescope_trainer::inference::run_outputs;
use genrescope_trainer::musicnn::checkpoint::Checkpoint;
use genrescope_trainer::musicnn::finetune::{fine_tune, FineTuneConfig, FrontSet};
use genrescope_trainer::musicnn::model::MusicnnTrunk;
use genrescope_trainer::musicnn::onnx::{INPUT_NAME, PENULTIMATE, TAGGRAM};
use genrescope_trainer::musicnn::weights::{MusicnnWeights, N_MELS, PATCH_FRAMES};
use std::path::PathBuf;
use std::sync::Mutex;

/// burn's RNG is per process: trainings run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
const PATCHES: usize = 6;

fn weights() -> Option<MusicnnWeights> {
    let dir = std::env::var_os("GENRESCOPE_MUSICNN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
    if !dir.join(".index").is_file() {
        assert!(std::env::var_os("CI").is_none(), "CI: no musicnn checkpoint at {}", dir.display());
        eprintln!("SKIP: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
        return None;
    }
    Some(MusicnnWeights::from_checkpoint(&Checkpoint::open(&dir).unwrap()).unwrap())
}

fn patches() -> Vec<f32> {
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/musicnn/patches.f32")).unwrap();
    let p: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(p.len(), PATCHES * PATCH_FRAMES * N_MELS);
    p
}

/// The 6 patches as 6 one-window tracks of 3 genres.
fn segments() -> Segments {
    let labels = vec![0, 0, 4, 4, 9, 9];
    Segments {
        windows: patches(),
        labels: labels.clone(),
        track: (0..PATCHES).collect(),
        track_ids: (0..PATCHES).map(|i| format!("t{i}")).collect(),
        track_labels: labels,
        track_clip: (0..PATCHES).collect(),
        // Each patch is a track of one window, ending at the track's frame PATCH_FRAMES.
        ends: vec![PATCH_FRAMES as u64; PATCHES],
        window_len: PATCH_FRAMES * N_MELS,
    }
}

/// Every clip in one corpus.
fn with_groups<T>(f: impl FnOnce(Groups) -> T) -> T {
    let names = vec!["fixture".to_string()];
    f(Groups { clip_corpus: &[0; PATCHES], names: &names })
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn trunk_out(w: &MusicnnWeights, name: &str) -> Vec<f32> {
    let device = Device::flex();
    let x = Tensor::<3>::from_data(TensorData::new(patches(), [PATCHES, PATCH_FRAMES, N_MELS]), &device);
    let o = MusicnnTrunk::new(w, &device).unwrap().forward(x);
    values(if name == TAGGRAM { o.taggram } else { o.penultimate })
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn front_end_then_back_end_is_the_whole_trunk() {
    let Some(w) = weights() else { return };
    let device = Device::flex();
    let t = MusicnnTrunk::new(&w, &device).unwrap();
    let x = Tensor::<3>::from_data(TensorData::new(patches(), [PATCHES, PATCH_FRAMES, N_MELS]), &device);
    let whole = t.forward(x.clone());
    let front = t.front_end(x);
    assert_eq!(front.dims(), [PATCHES, w.front_channels(), PATCH_FRAMES]);
    let split = t.forward_from_front(front);
    assert_eq!(values(whole.taggram), values(split.taggram));
    assert_eq!(values(whole.penultimate), values(split.penultimate));
    assert_eq!(values(whole.max_pool), values(split.max_pool));
}

/// A linear head on the frozen trunk's penultimate outputs (standardized), as the LP step fits.
fn start_head(w: &MusicnnWeights) -> HeadWeights {
    let pen = trunk_out(w, PENULTIMATE);
    let d = w.penultimate_dim();
    let (mean, inv_std) = standardization(&pen, d);
    let weight = (0..d * NUM_CLASSES).map(|i| ((i * 7919 % 101) as f32 - 50.0) * 1e-3).collect();
    HeadWeights {
        inputs: vec![(PENULTIMATE.into(), d)],
        mean,
        inv_std,
        layers: vec![DenseLayer { d_in: d, d_out: NUM_CLASSES, weight, bias: vec![0.0; NUM_CLASSES] }],
    }
}

#[test]
fn fine_tuning_learns_moves_only_the_back_end_and_goes_back_to_onnx() {
    let Some(w) = weights() else { return };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seg = segments();
    let fronts = FrontSet::compute(&w, &seg).unwrap();
    assert_eq!((fronts.len(), fronts.channels, fronts.frames), (PATCHES, w.front_channels(), PATCH_FRAMES));
    let head = start_head(&w);
    let cfg = FineTuneConfig { lr: 1e-3, batch_size: 3, max_epochs: 12, dropout: 0.0, ..Default::default() };

    let ft = with_groups(|g| fine_tune(&w, &head, &cfg, &fronts, None, g)).unwrap();
    let first = ft.history[0].train;
    let last = ft.history.last().unwrap().train;
    assert_eq!((ft.epochs, ft.history.len()), (12, 12));
    assert!(last < 0.5 * first, "training loss {first} -> {last}");
    assert!(ft.seconds_per_epoch > 0.0);
    // Frozen: input BN, front end, the tag layer (nothing reads it). Trained: mid end, back end.
    assert_eq!(ft.weights.input_bn, w.input_bn);
    assert_eq!(ft.weights.front, w.front);
    assert_eq!(ft.weights.output, w.output);
    assert_ne!(ft.weights.mid, w.mid);
    assert_ne!(ft.weights.dense, w.dense);
    assert_ne!(ft.weights.dense_bn, w.dense_bn);
    // The trained head fits its training windows.
    let p = ft.predict(&fronts).unwrap();
    let right = p.iter().zip(&seg.labels).filter(|(p, &l)| genrescope_trainer::metrics::argmax(&p[..]) == l).count();
    assert_eq!(right, PATCHES, "{p:?}");

    // Back to ONNX: the fine-tuned trunk through the trunk writer gives burn's outputs, and the
    // exported head on them gives the fine-tuned net's probabilities.
    let (trunk_onnx, head_onnx) = ft.to_onnx().unwrap();
    assert!(!head_onnx.is_empty());
    let dir = genrescope_testkit::scratch_dir("finetune-onnx");
    let file = dir.join("trunk.onnx");
    std::fs::write(&file, &trunk_onnx).unwrap();
    let d = w.penultimate_dim();
    let shape = [PATCH_FRAMES as i64, N_MELS as i64];
    let ort_pen =
        run_outputs(&file, INPUT_NAME, &shape, &[(PENULTIMATE.into(), d)], &seg.windows, seg.window_len, 1).unwrap();
    let burn_pen = trunk_out(&ft.weights, PENULTIMATE);
    let err = max_abs_diff(&ort_pen, &burn_pen);
    assert!(err <= 1e-4 * max_abs(&burn_pen), "penultimate: ORT vs burn {err} of {}", max_abs(&burn_pen));
    for (i, row) in ort_pen.chunks_exact(d).enumerate() {
        let q = ft.head.forward(row);
        assert!(max_abs_diff(&q, &p[i]) < 1e-4, "window {i}: {q:?} vs {:?}", p[i]);
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Back end only: the mid end stays as it was.
    let cfg = FineTuneConfig { train_mid: false, max_epochs: 2, ..cfg };
    let back_only = with_groups(|g| fine_tune(&w, &head, &cfg, &fronts, None, g));
    let back_only = back_only.unwrap();
    assert_eq!(back_only.weights.mid, w.mid);
    assert_ne!(back_only.weights.dense, w.dense);
}

#[test]
fn fine_tuning_refuses_a_head_it_cannot_start_from() {
    let Some(w) = weights() else { return };
    let mut head = start_head(&w);
    head.inputs = vec![(TAGGRAM.into(), w.penultimate_dim())];
    let fronts = FrontSet { channels: w.front_channels(), frames: PATCH_FRAMES, ..Default::default() };
    let mut one = fronts.clone();
    one.data = vec![0.0; w.front_channels() * PATCH_FRAMES];
    one.labels = vec![0];
    one.track = vec![0];
    one.track_clip = vec![0];
    let cfg = FineTuneConfig::default();
    let err = with_groups(|g| fine_tune(&w, &head, &cfg, &one, None, g)).unwrap_err().to_string();
    assert!(err.contains("linear head on penultimate"), "{err}");
    assert!(with_groups(|g| fine_tune(&w, &start_head(&w), &cfg, &fronts, None, g)).is_err(), "no windows");
}
