//! End to end through the bundled `Genrescope.clap` with a (random-weight) model: MIDI CC events
//! appear after enough audio, carry in-range values on the configured CCs, audio is unchanged,
//! nothing is sent on silence, and a broken model leaves the plugin passing audio.
//!
//! The model folder is chosen by `GENRESCOPE_MODEL_DIR`, a process-wide setting, so everything
//! that depends on it runs in one test, in order.
mod common;
mod engine_support;

use common::{Instance, OutEvent, TestHost};
use engine_support::{copy_dir, music, rand_block, CC_BASE, TOP_CC};
use genrescope_core::features::FeatureConfig;
use std::time::{Duration, Instant};

/// Feeds blocks of random sizes (1..=max) until `until` says stop or `limit` passes; the
/// analysis thread runs in real time, so the host paces itself a little.
fn run(
    inst: &mut Instance,
    rate: f64,
    max_block: usize,
    silent: bool,
    limit: Duration,
    mut until: impl FnMut(&[OutEvent]) -> bool,
) -> Vec<OutEvent> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rng = 0x9E37_79B9u64;
    let mut pos = 0usize;
    let mut events = Vec::new();
    let start = Instant::now();
    while start.elapsed() < limit {
        let n = rand_block(&mut rng, max_block);
        let input = if silent { vec![vec![0.0; n]; 2] } else { music(rate, pos, n, &mut seed) };
        let (out, ev) = inst.process(&input);
        engine_support::assert_bit_exact(&input, &out, "clap_midi");
        events.extend(ev);
        pos += n;
        if until(&events) {
            break;
        }
        // Roughly real time once the first window is in, so predictions keep up.
        if pos as f64 / rate > 3.5 {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate / 4.0));
        }
    }
    events
}

fn ccs(events: &[OutEvent]) -> Vec<(u8, u8, u8)> {
    events.iter().filter_map(OutEvent::as_cc).collect()
}

#[test]
fn midi_cc_out_end_to_end_and_fault_tolerance() {
    let tmp = std::env::temp_dir().join(format!("genrescope-midi-test-{}", std::process::id()));
    let model = tmp.join("model");
    std::fs::create_dir_all(&model).unwrap();
    genrescope_trainer::export::random_test_model(&model, &FeatureConfig::default(), 2, true, 11)
        .expect("write test model");
    // SAFETY: set before any instance reads it; this test binary has no other tests.
    unsafe { std::env::set_var("GENRESCOPE_MODEL_DIR", &model) };

    let host = TestHost::load_default();
    for (rate, max_block) in [(44_100.0, 512usize), (48_000.0, 1024), (96_000.0, 333)] {
        let mut inst = host.instantiate();
        inst.activate(rate, max_block as u32);
        let events = run(&mut inst, rate, max_block, false, Duration::from_secs(40), |ev| {
            ccs(ev).iter().any(|&(_, cc, _)| cc == TOP_CC)
        });
        let ccs = ccs(&events);
        assert!(!ccs.is_empty(), "no MIDI CC at {rate} Hz after 40 s");
        for &(ch, cc, v) in &ccs {
            assert_eq!(ch, 0, "default channel 1");
            assert!((CC_BASE..=TOP_CC).contains(&cc), "cc {cc}");
            assert!(v <= 127);
            if cc == TOP_CC {
                assert!(v < 10, "top genre index {v} while music plays");
            }
        }
        // The genre CCs of the first full update sum to ~127 (probabilities sum to 1).
        let first: Vec<u32> = (CC_BASE..TOP_CC)
            .map(|cc| ccs.iter().find(|c| c.1 == cc).map_or(0, |c| c.2 as u32))
            .collect();
        let sum: u32 = first.iter().sum();
        assert!((117..=137).contains(&sum), "genre CCs sum to {sum}: {first:?}");
        inst.deactivate();
    }

    // Silence from the start: the gate stays closed and nothing is sent.
    let mut inst = host.instantiate();
    inst.activate(48_000.0, 512);
    let events = run(&mut inst, 48_000.0, 512, true, Duration::from_secs(6), |_| false);
    assert!(ccs(&events).is_empty(), "CCs on silence: {:?}", ccs(&events));
    inst.deactivate();

    // Broken models: audio still passes unchanged, nothing is claimed, nothing hangs.
    let corrupt = tmp.join("corrupt");
    copy_dir(&model, &corrupt);
    let member = std::fs::read_dir(&corrupt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "onnx"))
        .unwrap();
    let bytes = std::fs::read(&member).unwrap();
    std::fs::write(&member, &bytes[..bytes.len() / 2]).unwrap();
    for dir in [corrupt.as_path(), tmp.join("missing").as_path()] {
        unsafe { std::env::set_var("GENRESCOPE_MODEL_DIR", dir) };
        let mut inst = host.instantiate();
        inst.activate(44_100.0, 512);
        let events = run(&mut inst, 44_100.0, 512, false, Duration::from_secs(6), |_| false);
        assert!(ccs(&events).is_empty(), "{}: CCs without a usable model", dir.display());
        inst.deactivate();
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
