//! `TinyModel::out_of_set`: members output the genres and "other"; "other" follows the documented
//! rule (bright windows are other), not the random weights; the genres keep the weights of the
//! model without the class. Needs ONNX Runtime (`cargo xtask ort` or GENRESCOPE_ORT_LIB).
use genrescope_core::features::FrontEndSpec;
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::Ensemble;
use genrescope_testkit::{scratch_dir, TinyModel};

/// A musicnn-like window (log-compressed mel, 0 to ~4): each frame the same `profile` over the bands.
fn window(n: usize, profile: impl Fn(usize) -> f32) -> Vec<f32> {
    (0..n).map(|i| profile(i % 96)).collect()
}

#[test]
fn members_output_other_by_the_tilt_rule() {
    let spec = FrontEndSpec::musicnn();
    for (name, tiny) in [
        ("plain", TinyModel::new(spec.clone()).seed(3)),
        ("trunk", TinyModel::new(spec.clone()).seed(3).with_trunk(2)),
        ("int8", TinyModel::new(spec.clone()).seed(3).int8()),
    ] {
        let dir = scratch_dir(&format!("tiny-oos-{name}"));
        let m = tiny.clone().out_of_set(0.6).write(&dir).unwrap();
        assert_eq!((m.num_classes(), m.out_of_set.as_ref().unwrap().threshold), (NUM_GENRES + 1, 0.6));
        let mut e = Ensemble::load(&dir).unwrap();
        let n = e.window_len();
        // Energy low in the spectrum: not other. Bright: other.
        let dark = e.run(&window(n, |b| if b < 48 { 3.0 } else { 0.5 })).unwrap();
        let bright = e.run(&window(n, |b| if b < 48 { 0.5 } else { 3.0 })).unwrap();
        assert!(dark.members.iter().all(|p| p.len() == NUM_GENRES + 1), "{name}");
        assert!(dark.other < 0.01 && bright.other > 0.99, "{name}: dark {} bright {}", dark.other, bright.other);
        for out in [&dark, &bright] {
            assert!((out.probs.iter().sum::<f32>() + out.other - 1.0).abs() < 1e-4, "{name}");
        }
        // The genre weights are the model's without the class: same ratios between genres.
        if name != "int8" {
            let plain_dir = scratch_dir(&format!("tiny-oos-{name}-without"));
            tiny.write(&plain_dir).unwrap();
            let p = Ensemble::load(&plain_dir).unwrap().run(&window(n, |b| (b as f32 * 0.3).sin().abs() * 3.0));
            let q = e.run(&window(n, |b| (b as f32 * 0.3).sin().abs() * 3.0)).unwrap();
            let (p, q) = (p.unwrap().members, q.members);
            for (pm, qm) in p.iter().zip(&q) {
                for g in 1..NUM_GENRES {
                    let (a, b) = (pm[g] / pm[0], qm[g] / qm[0]);
                    assert!((a - b).abs() <= 1e-3 * a.abs().max(1.0), "{name} genre {g}: {a} vs {b}");
                }
            }
        }
    }
}
