//! An int8 QDQ tiny model (`TinyModel::int8`) loads and runs in the engine's `Ensemble` and picks
//! the genre its fp32 twin (same seed, same weights before rounding) picks. Needs ONNX Runtime
//! (`cargo xtask ort` or GENRESCOPE_ORT_LIB).
use genrescope_core::features::FrontEndSpec;
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::{Ensemble, Quantization};
use genrescope_onnx_graph::Reader;
use genrescope_testkit::{scratch_dir, TinyModel};

#[test]
fn int8_members_run_and_track_their_fp32_twin() {
    let spec = FrontEndSpec::musicnn();
    let (fp_dir, q_dir) = (scratch_dir("tiny-fp32"), scratch_dir("tiny-int8"));
    let fp = TinyModel::new(spec.clone()).seed(5).members(3).write(&fp_dir).unwrap();
    let q = TinyModel::new(spec.clone()).seed(5).members(3).int8().write(&q_dir).unwrap();
    assert!(fp.members.iter().all(|m| m.quantization == Quantization::Fp32));
    assert!(q.members.iter().all(|m| m.quantization == Quantization::Int8Qdq));
    let graph = Reader::parse(&std::fs::read(q_dir.join(&q.members[0].file)).unwrap()).unwrap();
    assert!(graph.has_op("QuantizeLinear") && graph.has_op("DequantizeLinear"));
    assert!(TinyModel::new(spec).with_trunk(1).int8().write(&scratch_dir("tiny-int8-trunk")).is_err());

    let (mut a, mut b) = (Ensemble::load(&fp_dir).unwrap(), Ensemble::load(&q_dir).unwrap());
    let n = a.window_len();
    let mut agree = 0;
    let windows = 40;
    for k in 0..windows {
        // Log-mel-like values (musicnn's compression: 0 to ~4), a different level per band and window.
        let w: Vec<f32> = (0..n).map(|i| ((i % 96) as f32 * 0.37 + k as f32 * 1.3).sin().abs() * 3.0).collect();
        let (p, p8) = (a.predict(&w).unwrap(), b.predict(&w).unwrap());
        assert!((p8.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p8:?}");
        let max_diff = p.iter().zip(&p8).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 0.1, "window {k}: int8 differs from fp32 by {max_diff}");
        let top = |v: &[f32; NUM_GENRES]| v.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).unwrap().0;
        agree += (top(&p) == top(&p8)) as usize;
    }
    assert!(agree * 10 >= windows * 9, "int8 picks fp32's genre on {agree}/{windows} windows");
}
