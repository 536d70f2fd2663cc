//! One head through the shared training loop: it learns a separable problem, early stopping keeps
//! the epoch of lowest validation loss, a seed fixes the result, and the exported ONNX head (run in
//! ONNX Runtime) gives what burn and the plain reference forward give. Needs ONNX Runtime
//! (`cargo xtask ort`) for the export test.
#![cfg(feature = "train")]
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::session::{self, SessionOptions};
use genrescope_trainer::data::NUM_CLASSES;
use genrescope_trainer::heads::fit::{fit, predict, HeadConfig};
use genrescope_trainer::metrics::{argmax, evaluate};
use genrescope_trainer::training::OptimizerKind;
use ort::value::TensorRef;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// burn's backend RNG is process-wide: fits on parallel test threads would draw from one stream,
/// so the tests that fit run one at a time (the trainer fits sequentially too).
static SERIAL: Mutex<()> = Mutex::new(());

/// `per_class` examples of each genre: `dim` values around a genre-specific mean, plus noise.
fn blobs(per_class: usize, dim: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut centres = StdRng::seed_from_u64(99);
    let means: Vec<Vec<f32>> =
        (0..NUM_GENRES).map(|_| (0..dim).map(|_| centres.random_range(-1.0..1.0)).collect()).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..per_class * NUM_GENRES {
        let g = i % NUM_GENRES;
        x.extend(means[g].iter().map(|m| 5.0 + 3.0 * m + noise * rng.random_range(-1.0f32..1.0)));
        y.push(g);
    }
    (x, y)
}

fn ones(y: &[usize]) -> Vec<f32> {
    vec![1.0; y.len()]
}

fn config(hidden: usize, seed: u64) -> HeadConfig {
    HeadConfig {
        inputs: vec!["a".into(), "b".into()],
        hidden,
        dropout: 0.1,
        optimizer: OptimizerKind::Adam,
        lr: 1e-2,
        weight_decay: 1e-4,
        batch_size: 32,
        max_epochs: 60,
        patience: 4,
        seed,
        corpus_weighting: Default::default(),
    }
}

const DIMS: [usize; 2] = [6, 10];

fn inputs() -> Vec<(String, usize)> {
    vec![("a".into(), DIMS[0]), ("b".into(), DIMS[1])]
}

#[test]
fn a_head_learns_stops_early_and_is_reproducible() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dim = DIMS.iter().sum();
    let (x, y) = blobs(30, dim, 1.5, 1);
    let (vx, vy) = blobs(10, dim, 1.5, 2);
    let cfg = config(0, 7);
    let a = fit(&cfg, &inputs(), &x, &y, &ones(&y), Some((&vx, &vy, &ones(&vy))), None).unwrap();
    // Learned: held-out accuracy far above chance (10 %).
    let e = evaluate(&predict(&a.weights, &vx), &vy);
    assert!(e.accuracy > 0.9, "held-out accuracy {}", e.accuracy);
    // Early stopping, on a small noisy set a hidden head overfits: the kept epoch has the lowest
    // validation loss, and training stopped `patience` epochs after it.
    let (nx, ny) = blobs(6, dim, 6.0, 4);
    let (nvx, nvy) = blobs(10, dim, 6.0, 5);
    let o = fit(&config(64, 7), &inputs(), &nx, &ny, &ones(&ny), Some((&nvx, &nvy, &ones(&nvy))), None).unwrap();
    let losses: Vec<f32> = o.history.iter().map(|h| h.valid.unwrap()).collect();
    let best = losses.iter().enumerate().min_by(|p, q| p.1.total_cmp(q.1)).unwrap().0 + 1;
    assert_eq!(o.epochs, best, "{losses:?}");
    assert_eq!(o.history.len(), o.epochs + cfg.patience, "{losses:?}");
    // A seed fixes the weights; another seed gives others.
    let b = fit(&cfg, &inputs(), &x, &y, &ones(&y), Some((&vx, &vy, &ones(&vy))), None).unwrap();
    assert_eq!(a.weights, b.weights);
    let c = fit(&config(0, 8), &inputs(), &x, &y, &ones(&y), Some((&vx, &vy, &ones(&vy))), None).unwrap();
    assert_ne!(a.weights, c.weights);
    // Without validation data: exactly the epochs asked for, the last one kept.
    let d = fit(&cfg, &inputs(), &x, &y, &ones(&y), None, Some(3)).unwrap();
    assert_eq!((d.epochs, d.history.len()), (3, 3));
    assert!(d.history.iter().all(|h| h.valid.is_none()));
}

#[test]
fn onnx_head_matches_burn_and_the_reference() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dim: usize = DIMS.iter().sum();
    let (x, y) = blobs(8, dim, 3.0, 3);
    let w = fit(&config(16, 5), &inputs(), &x, &y, &ones(&y), None, Some(5)).unwrap().weights;
    assert_eq!(w.layers.len(), 2, "a hidden head");
    let burn = predict(&w, &x);
    let file = std::env::temp_dir().join(format!("gs-head-{}.onnx", std::process::id()));
    std::fs::write(&file, w.to_onnx().unwrap()).unwrap();
    let mut sess = session::build(&file, SessionOptions::default()).unwrap();
    let n = y.len();
    // The head reads two trunk outputs, each its own graph input.
    let (a, b): (Vec<f32>, Vec<f32>) = {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for row in x.chunks_exact(dim) {
            a.extend_from_slice(&row[..DIMS[0]]);
            b.extend_from_slice(&row[DIMS[0]..]);
        }
        (a, b)
    };
    let ta = TensorRef::from_array_view(([n, DIMS[0]], &a[..])).unwrap();
    let tb = TensorRef::from_array_view(([n, DIMS[1]], &b[..])).unwrap();
    let out = sess.run(ort::inputs!["a" => ta, "b" => tb]).unwrap();
    let (_, onnx) = out["probs"].try_extract_tensor::<f32>().unwrap();
    let mut agree = 0;
    for i in 0..n {
        let reference = w.forward(&x[i * dim..(i + 1) * dim]);
        for g in 0..NUM_CLASSES {
            let o = onnx[i * NUM_CLASSES + g];
            assert!((o - reference[g]).abs() < 1e-5, "example {i}, genre {g}: ONNX {o} vs reference {}", reference[g]);
            assert!((burn[i][g] - reference[g]).abs() < 1e-5, "example {i}: burn {} vs {}", burn[i][g], reference[g]);
        }
        agree += (argmax(&burn[i]) == argmax(&reference)) as usize;
    }
    assert_eq!(agree, n);
    let _ = std::fs::remove_file(&file);
}

/// The zero-shot tag member's ONNX graph computes what its Rust form does.
#[test]
fn zero_shot_member_onnx_matches_rust() {
    use genrescope_trainer::heads::zeroshot::ZeroShot;
    let tags = genrescope_trainer::musicnn::MSD_TAGS.len();
    let rows: Vec<f32> = (0..tags * 30).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let z = ZeroShot::fit(&rows, 3.0).unwrap();
    let file = std::env::temp_dir().join(format!("gs-zs-{}.onnx", std::process::id()));
    std::fs::write(&file, z.to_onnx().unwrap()).unwrap();
    let mut sess = session::build(&file, SessionOptions::default()).unwrap();
    let t = TensorRef::from_array_view(([30usize, tags], &rows[..])).unwrap();
    let out = sess.run(ort::inputs!["taggram" => t]).unwrap();
    let (_, onnx) = out["probs"].try_extract_tensor::<f32>().unwrap();
    let rust = z.probs(&rows);
    for (i, r) in rust.iter().enumerate() {
        for k in 0..NUM_CLASSES {
            let o = onnx[i * NUM_CLASSES + k];
            assert!((o - r[k]).abs() < 1e-5, "row {i}, class {k}: ONNX {o} vs Rust {}", r[k]);
        }
    }
    let _ = std::fs::remove_file(&file);
}
