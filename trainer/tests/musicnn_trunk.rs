//! The MSD_musicnn trunk (weights, burn module, ONNX graph) against TensorFlow's own outputs on
//! the 6 fixture patches (tests/data/musicnn, tools/musicnn_ref.py).
//!
//! Needs the checkpoint (`cargo xtask musicnn`, or `GENRESCOPE_MUSICNN_DIR`; SKIP without it
//! outside CI) and, for the ONNX tests, ONNX Runtime (`cargo xtask ort`).
//!
//! Relative error: `|a − b| / max(|a|, |b|, floor)` with `floor = 3e-2 · max |reference|` over
//! the output (all patches), tolerance 1e-4. Why not a 1e-3 floor: every fp32 implementation
//! has rounding noise of ~1e-6 of an output's largest magnitude (conv sums over up to 3,927
//! products, BN scales up to 123), so values near 1e-3 of the max carry ~1e-3 relative noise.
//! TensorFlow's own outputs are that far from an exact evaluation of the same weights (burn in
//! f64, measured once, not kept): 3.1e-4 (penultimate), 1.7e-4 (mean_pool), 1.6e-4 (max_pool)
//! with a 1e-3 floor, 2.9e-5, 2.6e-5, 1.3e-5 with the 3e-2 floor.
//!
//! Measured max relative errors, 3e-2 floor (1e-3 floor in brackets), 6 patches, flex CPU
//! backend, ORT 1.31 with 1 thread, x86-64 (AVX2):
//!
//! | output | burn vs TF | ORT vs TF | ORT vs burn | ORT rewrite vs plain |
//! |---|---|---|---|---|
//! | taggram | 3.2e-6 (5.3e-6) | 7.4e-6 (1.0e-4) | 5.3e-6 (1.0e-4) | 9.1e-6 (1.1e-4) |
//! | penultimate | 2.1e-5 (3.3e-4) | 2.7e-5 (3.8e-4) | 2.2e-5 (1.3e-4) | 3.8e-5 (4.7e-4) |
//! | mean_pool | 2.6e-5 (9.4e-5) | 2.1e-5 (1.0e-4) | 6.9e-6 (2.9e-5) | 5.0e-5 (1.2e-4) |
//! | max_pool | 1.6e-5 (9.6e-5) | 1.5e-5 (1.2e-4) | 6.4e-6 (5.9e-5) | 1.7e-5 (1.7e-4) |
//!
//! Max absolute errors are ≤ 3.5e-6 of each output's largest magnitude in all of these.
use genrescope_onnx_graph::Reader;
use genrescope_trainer::musicnn::checkpoint::Checkpoint;
use genrescope_trainer::musicnn::onnx::{trunk_to_onnx, TrunkOnnxOptions};
use genrescope_trainer::musicnn::weights::{Conv, MusicnnWeights, N_MELS, PATCH_FRAMES};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

const PATCHES: usize = 6;
const OUTPUTS: [&str; 4] = ["taggram", "penultimate", "mean_pool", "max_pool"];
const TOLERANCE: f32 = 1e-4;
/// Floor of the relative error, as a fraction of the reference's max magnitude (see the
/// module comment for why not 1e-3).
const FLOOR: f32 = 3e-2;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `$GENRESCOPE_MUSICNN_DIR`, else `<workspace>/.musicnn/MSD_musicnn`; None (SKIP) when absent
/// outside CI.
fn checkpoint_dir(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("GENRESCOPE_MUSICNN_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"),
    };
    if dir.join(".index").is_file() {
        return Some(dir);
    }
    assert!(!in_ci(), "CI: musicnn checkpoint not found at {} — run `cargo xtask musicnn`", dir.display());
    eprintln!("SKIP {test}: no musicnn checkpoint at {} (run `cargo xtask musicnn`)", dir.display());
    None
}

fn weights(test: &str) -> Option<&'static MusicnnWeights> {
    static W: OnceLock<MusicnnWeights> = OnceLock::new();
    let dir = checkpoint_dir(test)?;
    Some(W.get_or_init(|| {
        let ckpt = Checkpoint::open(&dir).expect("open checkpoint");
        MusicnnWeights::from_checkpoint(&ckpt).expect("MSD_musicnn weights")
    }))
}

fn fixture(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/musicnn").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn patches() -> Vec<f32> {
    let p = fixture("patches.f32");
    assert_eq!(p.len(), PATCHES * PATCH_FRAMES * N_MELS);
    p
}

/// TensorFlow's outputs, in `OUTPUTS` order.
fn tf_outputs() -> Vec<Vec<f32>> {
    OUTPUTS.iter().map(|o| fixture(&format!("{o}.f32"))).collect()
}

/// Max of `|a − b| / max(|a|, |b|, floor · max |reference|)`.
fn rel_with_floor(got: &[f32], reference: &[f32], floor: f32) -> f32 {
    assert_eq!(got.len(), reference.len());
    let floor = floor * reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    got.iter().zip(reference).map(|(a, b)| (a - b).abs() / a.abs().max(b.abs()).max(floor)).fold(0f32, f32::max)
}

fn max_rel(got: &[f32], reference: &[f32]) -> f32 {
    rel_with_floor(got, reference, FLOOR)
}

/// Prints and checks each output's max relative error (also shown with a 1e-3 floor, and the
/// max absolute error as a fraction of the reference's max magnitude).
fn check(what: &str, got: &[Vec<f32>], reference: &[Vec<f32>], tol: f32) {
    let errors: Vec<f32> = got.iter().zip(reference).map(|(g, r)| max_rel(g, r)).collect();
    for (((name, g), r), e) in OUTPUTS.iter().zip(got).zip(reference).zip(&errors) {
        let m = r.iter().fold(0f32, |m, v| m.max(v.abs()));
        let abs = g.iter().zip(r).fold(0f32, |acc, (a, b)| acc.max((a - b).abs()));
        println!(
            "{what}: {name} max rel {e:.1e} (floor 1e-3: {:.1e}), max abs {abs:.1e} = {:.1e} of max {m:.3}",
            rel_with_floor(g, r, 1e-3),
            abs / m
        );
    }
    for (name, e) in OUTPUTS.iter().zip(&errors) {
        assert!(*e <= tol, "{what}: {name} max rel {e:.3e} > {tol:e}");
    }
}

fn session(model: &[u8]) -> Session {
    let env = genrescope_core::runtime::environment()
        .expect("ONNX Runtime not found: run `cargo xtask ort` (or set GENRESCOPE_ORT_LIB)");
    let text = |e: ort::Error<_>| e.to_string();
    Session::builder(env)
        .expect("session builder")
        .with_intra_threads(1)
        .map_err(text)
        .and_then(|b| b.with_inter_threads(1).map_err(text))
        .and_then(|b| b.with_intra_op_spinning(false).map_err(text))
        .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(text))
        .expect("session options")
        .commit_from_memory(model)
        .expect("ORT loads the trunk")
}

/// Runs `n` patches (of any length) and returns the named outputs.
fn run(session: &mut Session, patches: &[f32], n: usize, names: &[String]) -> Vec<Vec<f32>> {
    let frames = patches.len() / (n * N_MELS);
    let input = TensorRef::from_array_view(([n as i64, frames as i64, N_MELS as i64], patches)).expect("input tensor");
    let out = session.run(ort::inputs!["melspec" => input]).expect("ORT run");
    names.iter().map(|name| out[name.as_str()].try_extract_tensor::<f32>().expect("f32 output").1.to_vec()).collect()
}

fn output_names() -> Vec<String> {
    OUTPUTS.iter().map(|s| s.to_string()).collect()
}

#[test]
fn weights_load_with_musicnn_shapes_params_and_macs() {
    let Some(w) = weights("weights_load_with_musicnn_shapes_params_and_macs") else {
        return;
    };
    assert_eq!(
        (w.front_channels(), w.mid_channels(), w.pooled_channels(), w.penultimate_dim(), w.num_tags()),
        (561, 64, 753, 200, 50)
    );
    let names: Vec<&str> = w.convs().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "timbral_7x38",
            "timbral_7x67",
            "temporal_128",
            "temporal_64",
            "temporal_32",
            "midend_1",
            "midend_2",
            "midend_3"
        ]
    );
    assert_eq!(w.params(), 787_159);
    // The input BN of the notes: x → ≈ 0.43954·x − 1.12972.
    assert!((w.input_bn.a[0] - 0.43954).abs() < 1e-5 && (w.input_bn.b[0] + 1.12972).abs() < 1e-5);

    let macs = w.macs(PATCH_FRAMES);
    for (name, m) in &macs {
        println!("MACs {name}: {m}");
    }
    let expected: [(&str, u64); 10] = [
        ("timbral_7x38", 598_694_712),
        ("timbral_7x67", 536_742_360),
        ("temporal_128", 117_190_656),
        ("temporal_64", 58_595_328),
        ("temporal_32", 29_297_664),
        ("midend_1", 46_998_336),
        ("midend_2", 5_361_664),
        ("midend_3", 5_361_664),
        ("dense", 301_200),
        ("output", 10_000),
    ];
    let got: Vec<(&str, u64)> = macs.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    assert_eq!(got, expected);
    let total: u64 = macs.iter().map(|m| m.1).sum();
    println!("MACs total: {total}");
    assert_eq!(total, 1_398_553_584);
    // The notes' approximations: 1.40 G in all, 599 M and 537 M for the timbral convs,
    // 205 M temporal, 58 M mid end.
    let near = |v: u64, approx: f64, tol: f64| (v as f64 - approx).abs() <= tol;
    assert!(near(total, 1.40e9, 0.005e9));
    assert!(near(macs[0].1, 599e6, 0.5e6) && near(macs[1].1, 537e6, 0.5e6));
    assert!(near(macs[2..5].iter().map(|m| m.1).sum(), 205e6, 0.5e6));
    assert!(near(macs[5..8].iter().map(|m| m.1).sum(), 58e6, 0.5e6));

    // Kernel layout helpers invert each other.
    for c in &w.front {
        let [kt, kf, ci, co] = c.shape;
        let back = Conv::from_kernel_oihw(&c.name, [co, ci, kt, kf], &c.kernel_oihw(), c.bias.clone(), c.bn.clone());
        assert_eq!(&back, c);
    }
    for c in &w.mid {
        let [kt, ci, _, co] = c.shape;
        let back = Conv::from_kernel_1d(&c.name, [co, ci, kt], &c.kernel_1d(), c.bias.clone(), c.bn.clone());
        assert_eq!(&back, c);
    }
}

#[test]
fn onnx_trunk_in_onnx_runtime_matches_tensorflow() {
    let Some(w) = weights("onnx_trunk_in_onnx_runtime_matches_tensorflow") else {
        return;
    };
    let x = patches();
    let tf = tf_outputs();
    let names = output_names();
    let plain = trunk_to_onnx(w, &TrunkOnnxOptions::default()).unwrap();
    let r = Reader::parse(&plain).unwrap();
    assert_eq!(r.input_dims("melspec").unwrap(), [-1, PATCH_FRAMES as i64, N_MELS as i64]);
    assert_eq!(r.output_names(), OUTPUTS);
    let nodes = r.node_names();
    let unique: HashSet<&str> = nodes.iter().copied().collect();
    assert!(unique.len() == nodes.len() && !unique.contains(""), "node names unique, none empty");
    for op in
        ["Mul", "Add", "Unsqueeze", "Conv", "Relu", "ReduceMax", "Concat", "ReduceMean", "Reshape", "Gemm", "Sigmoid"]
    {
        assert!(r.has_op(op), "graph uses {op}");
    }
    let mut s = session(&plain);
    let ort = run(&mut s, &x, PATCHES, &names);
    check("ORT vs TF", &ort, &tf, TOLERANCE);

    // Batch of 6 == 6 single runs.
    let per = PATCH_FRAMES * N_MELS;
    let mut singles = vec![Vec::new(); OUTPUTS.len()];
    for p in 0..PATCHES {
        for (all, one) in singles.iter_mut().zip(run(&mut s, &x[p * per..(p + 1) * per], 1, &names)) {
            all.extend(one);
        }
    }
    check("ORT batch vs single", &ort, &singles, 2e-5);

    let opts = TrunkOnnxOptions { abs_scale_rewrite: true, ..Default::default() };
    let rewritten = run(&mut session(&trunk_to_onnx(w, &opts).unwrap()), &x, PATCHES, &names);
    check("ORT rewrite vs plain", &rewritten, &ort, TOLERANCE);
    check("ORT rewrite vs TF", &rewritten, &tf, TOLERANCE);

    // Indicative only: one 187-frame patch, fp32, 1 thread, on a shared 2-core machine.
    let one = &x[4 * per..5 * per];
    for _ in 0..3 {
        run(&mut s, one, 1, &names);
    }
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            run(&mut s, one, 1, &names);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "ORT fp32 1 thread, batch 1 (indicative): median {:.1} ms, min {:.1} ms per patch",
        times[times.len() / 2],
        times[0]
    );
}

#[cfg(feature = "train")]
mod burn_trunk {
    use super::*;
    use burn::optim::GradientsParams;
    use burn::prelude::*;
    use genrescope_trainer::musicnn::model::MusicnnTrunk;
    use genrescope_trainer::musicnn::onnx::probe_name;

    struct BurnRun {
        outputs: Vec<Vec<f32>>,
        /// Per conv (`MusicnnWeights::convs` order): ReLU max per [patch, channel].
        probes: Vec<Vec<f32>>,
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// `n` patches of any length through burn.
    fn burn_run(w: &MusicnnWeights, x: &[f32], n: usize) -> BurnRun {
        let device = Device::flex();
        let trunk = MusicnnTrunk::new(w, &device).unwrap();
        let frames = x.len() / (n * N_MELS);
        let x = Tensor::<3>::from_data(TensorData::new(x.to_vec(), [n, frames, N_MELS]), &device);
        let t = Instant::now();
        let (out, probes) = trunk.forward_probed(x, true);
        let outputs = vec![values(out.taggram), values(out.penultimate), values(out.mean_pool), values(out.max_pool)];
        println!("burn flex forward, {n} patches: {:.2} s", t.elapsed().as_secs_f64());
        BurnRun { outputs, probes: probes.into_iter().map(values).collect() }
    }

    /// The 6 fixture patches through burn, once for all tests.
    fn fixture_run(w: &MusicnnWeights) -> &'static BurnRun {
        static RUN: OnceLock<BurnRun> = OnceLock::new();
        RUN.get_or_init(|| burn_run(w, &patches(), PATCHES))
    }

    #[test]
    fn burn_trunk_matches_tensorflow_and_converts_back() {
        let Some(w) = weights("burn_trunk_matches_tensorflow_and_converts_back") else {
            return;
        };
        check("burn vs TF", &fixture_run(w).outputs, &tf_outputs(), TOLERANCE);
        let trunk = MusicnnTrunk::new(w, &Device::flex()).unwrap();
        assert_eq!(&trunk.to_weights(), w, "burn → MusicnnWeights is lossless");
        // Frozen trunk: still the same forward, parameters kept.
        assert_eq!(&trunk.freeze_trunk().to_weights(), w);
    }

    /// With the trunk frozen, a loss on the taggram only reaches the back end's parameters.
    #[test]
    fn frozen_trunk_gets_gradients_only_in_the_back_end() {
        let Some(w) = weights("frozen_trunk_gets_gradients_only_in_the_back_end") else {
            return;
        };
        let device = Device::flex().autodiff();
        let trunk = MusicnnTrunk::new(w, &device).unwrap().freeze_trunk();
        let per = PATCH_FRAMES * N_MELS;
        let x = TensorData::new(patches()[4 * per..5 * per].to_vec(), [1, PATCH_FRAMES, N_MELS]);
        let loss = trunk.forward(Tensor::<3>::from_data(x, &device)).taggram.sum();
        let grads = GradientsParams::from_grads(loss.backward(), &trunk);
        let b = &trunk.back;
        assert!(grads.get::<2>(b.dense.weight.id).is_some() && grads.get::<2>(b.output.weight.id).is_some());
        assert!(grads.get::<1>(b.bn.scale.id).is_some() && grads.get::<1>(b.dense_bn.shift.id).is_some());
        assert!(grads.get::<1>(trunk.input_bn.scale.id).is_none());
        assert!(trunk
            .front
            .iter()
            .all(|c| grads.get::<4>(c.weight.id).is_none() && grads.get::<1>(c.bn.scale.id).is_none()));
        assert!(trunk.mid.iter().all(|c| grads.get::<3>(c.weight.id).is_none() && grads.get::<1>(c.bias.id).is_none()));
        // The back end's 8 tensors: 2 BNs × (scale, shift), 2 dense layers × (weight, bias).
        assert_eq!(grads.len(), 8);
    }

    #[test]
    fn onnx_trunk_matches_burn() {
        let Some(w) = weights("onnx_trunk_matches_burn") else {
            return;
        };
        let ort = run(
            &mut session(&trunk_to_onnx(w, &TrunkOnnxOptions::default()).unwrap()),
            &patches(),
            PATCHES,
            &output_names(),
        );
        check("ORT vs burn", &ort, &fixture_run(w).outputs, TOLERANCE);
    }

    /// A channel's probe is 0 exactly when its ReLU never fired (burn: max of the ReLU output
    /// over time and frequency); values match burn's, `|a|`-scaled under the rewrite.
    #[test]
    fn probe_outputs_are_zero_exactly_when_the_relu_never_fired() {
        let Some(w) = weights("probe_outputs_are_zero_exactly_when_the_relu_never_fired") else {
            return;
        };
        let burn = fixture_run(w);
        let layers: Vec<_> = w.convs().collect();
        let names: Vec<String> = layers.iter().map(|c| probe_name(&c.name)).collect();
        for rewrite in [false, true] {
            let opts = TrunkOnnxOptions { probe: true, abs_scale_rewrite: rewrite, ..Default::default() };
            let onnx = trunk_to_onnx(w, &opts).unwrap();
            let r = Reader::parse(&onnx).unwrap();
            assert!(names.iter().all(|n| r.output_names().contains(&n.as_str())));
            let mut s = session(&onnx);
            let got = run(&mut s, &patches(), PATCHES, &names);
            for ((c, onnx), burn) in layers.iter().zip(&got).zip(&burn.probes) {
                let co = c.out_channels();
                assert_eq!(onnx.len(), PATCHES * co, "{}: probe shape", c.name);
                let scale = |k: usize| if rewrite { c.bn.a[k % co].abs() } else { 1.0 };
                let expected: Vec<f32> = burn.iter().enumerate().map(|(k, v)| v * scale(k)).collect();
                for (k, (o, b)) in onnx.iter().zip(&expected).enumerate() {
                    assert_eq!(
                        *o == 0.0,
                        *b == 0.0,
                        "{} patch {} channel {}: ORT {o}, burn {b}",
                        c.name,
                        k / co,
                        k % co
                    );
                }
                let e = max_rel(onnx, &expected);
                assert!(e <= TOLERANCE, "{}: probe max rel {e:.3e}", c.name);
                if !rewrite {
                    let dead = (0..co).filter(|&ch| (0..PATCHES).all(|p| onnx[p * co + ch] == 0.0)).count();
                    println!("probe {}: {dead}/{co} channels never fire on the 6 patches (max rel {e:.1e})", c.name);
                }
            }
        }
    }

    /// `mid_bias_map` is added after the first mid-end conv, before its ReLU, identically in burn
    /// and ONNX; a zero map changes nothing.
    #[test]
    fn mid_bias_map_is_applied_identically_in_burn_and_onnx() {
        let Some(w) = weights("mid_bias_map_is_applied_identically_in_burn_and_onnx") else {
            return;
        };
        let per = PATCH_FRAMES * N_MELS;
        let x = &patches()[3 * per..5 * per];
        let m = w.mid_channels();
        let mut zero = w.clone();
        zero.mid_bias_map = Some(vec![0.0; PATCH_FRAMES * m]);
        let names = output_names();
        let plain = run(&mut session(&trunk_to_onnx(w, &TrunkOnnxOptions::default()).unwrap()), x, 2, &names);
        let zeroed = run(&mut session(&trunk_to_onnx(&zero, &TrunkOnnxOptions::default()).unwrap()), x, 2, &names);
        assert_eq!(plain, zeroed);

        let mut mapped = w.clone();
        // Varies with frame and channel, and is large at the edges like a pruned channel's.
        mapped.mid_bias_map = Some(
            (0..PATCH_FRAMES * m)
                .map(|k| {
                    let (f, c) = (k / m, k % m);
                    let edge = if !(3..PATCH_FRAMES - 3).contains(&f) { 1.0 } else { 0.0 };
                    0.3 * ((c as f32 * 0.7).sin() + edge) - 0.1 * (f as f32 / 40.0).cos()
                })
                .collect(),
        );
        let burn = burn_run(&mapped, x, 2);
        assert!(max_rel(&burn.outputs[3], &plain[3]) > 1e-2, "the map must change the outputs");
        for rewrite in [false, true] {
            let opts = TrunkOnnxOptions { abs_scale_rewrite: rewrite, ..Default::default() };
            let ort = run(&mut session(&trunk_to_onnx(&mapped, &opts).unwrap()), x, 2, &names);
            check(&format!("bias map ORT vs burn (rewrite {rewrite})"), &ort, &burn.outputs, TOLERANCE);
        }
        let trunk = MusicnnTrunk::new(&mapped, &Device::flex()).unwrap();
        assert_eq!(trunk.to_weights(), mapped);
        assert!(trunk_to_onnx(&mapped, &TrunkOnnxOptions { frames: 100, ..Default::default() }).is_err());
    }

    /// `frames` other than 187 (no bias map): burn and ONNX agree on 100-frame patches.
    #[test]
    fn other_patch_lengths_run_in_burn_and_onnx() {
        let Some(w) = weights("other_patch_lengths_run_in_burn_and_onnx") else {
            return;
        };
        let frames = 100;
        let per = PATCH_FRAMES * N_MELS;
        let all = patches();
        let x: Vec<f32> = [1, 4].iter().flat_map(|p| all[p * per..p * per + frames * N_MELS].to_vec()).collect();
        let burn = burn_run(w, &x, 2).outputs;
        let onnx = trunk_to_onnx(w, &TrunkOnnxOptions { frames, ..Default::default() }).unwrap();
        assert_eq!(Reader::parse(&onnx).unwrap().input_dims("melspec").unwrap(), [-1, frames as i64, N_MELS as i64]);
        let ort = run(&mut session(&onnx), &x, 2, &output_names());
        check("100 frames ORT vs burn", &ort, &burn, TOLERANCE);
    }
}
