//! Exact pruning on the real MSD_musicnn weights: filters made dead on purpose (a bias far below
//! anything the conv produces, so the ReLU never fires) are found by the probe, removed, and the
//! pruned trunk gives the outputs of the unpruned one on the reference patches.
//! Needs the checkpoint (`cargo xtask musicnn` / `GENRESCOPE_MUSICNN_DIR`; SKIP without it, except
//! in CI) and ONNX Runtime.
use genrescope_trainer::inference::run_outputs;
use genrescope_trainer::musicnn::checkpoint::Checkpoint;
use genrescope_trainer::musicnn::onnx::{trunk_outputs, trunk_to_onnx, TrunkOnnxOptions, INPUT_NAME};
use genrescope_trainer::musicnn::prune::{probe_outputs, prune, Liveness};
use genrescope_trainer::musicnn::weights::{MusicnnWeights, PATCH_FRAMES};
use std::path::PathBuf;

fn checkpoint() -> Option<PathBuf> {
    let dir = std::env::var_os("GENRESCOPE_MUSICNN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
    if dir.join(".index").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: no musicnn checkpoint at {}: run `cargo xtask musicnn`",
        dir.display()
    );
    eprintln!("SKIP: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
    None
}

#[test]
fn pruning_dead_filters_changes_no_output() {
    let Some(dir) = checkpoint() else { return };
    let mut w = MusicnnWeights::from_checkpoint(&Checkpoint::open(&dir).unwrap()).unwrap();
    // Kill a third of each front-end layer's filters (every third one, and the first).
    for c in &mut w.front {
        for (i, b) in c.bias.iter_mut().enumerate() {
            if i % 3 == 0 {
                *b = -1e6;
            }
        }
    }
    let bytes =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/musicnn/patches.f32")).unwrap();
    let patches: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let len = PATCH_FRAMES * 96;
    let tmp = std::env::temp_dir().join(format!("genrescope-prune-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let write = |name: &str, w: &MusicnnWeights, probe: bool| {
        let p = tmp.join(name);
        std::fs::write(&p, trunk_to_onnx(w, &TrunkOnnxOptions { probe, ..Default::default() }).unwrap()).unwrap();
        p
    };
    let shape = [PATCH_FRAMES as i64, 96];
    let probes =
        run_outputs(&write("probe.onnx", &w, true), INPUT_NAME, &shape, &probe_outputs(&w), &patches, len, 2).unwrap();
    let live = Liveness::from_probes(&w, &probes).unwrap();
    for (c, (_, alive)) in w.front.iter().zip(&live.layers) {
        for (i, &a) in alive.iter().enumerate() {
            if i % 3 == 0 {
                assert!(!a, "{} filter {i} was killed but fired", c.name);
            }
        }
    }
    let pruned = prune(&w, &live, PATCH_FRAMES).unwrap();
    assert!(pruned.weights.front_channels() <= w.front_channels() * 2 / 3 + w.front.len());
    let fo = trunk_outputs(&w);
    let po = trunk_outputs(&pruned.weights);
    let a = run_outputs(&write("full.onnx", &w, false), INPUT_NAME, &shape, &fo, &patches, len, 2).unwrap();
    let b =
        run_outputs(&write("pruned.onnx", &pruned.weights, false), INPUT_NAME, &shape, &po, &patches, len, 2).unwrap();
    for (name, diff, mag) in pruned.output_differences(&fo, &po, &a, &b) {
        eprintln!("{name}: max |pruned - full| = {diff:.2e} (largest |value| {mag:.2e})");
        assert!(diff <= 1e-5 * mag.max(1.0), "{name}: pruned differs by {diff}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
