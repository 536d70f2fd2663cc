//! Loads the bundled `Genrescope.clap` in a real (test) CLAP host and runs it.
//!
//! Needs the bundle: `cargo xtask bundle genrescope --release` (or `cargo xtask test`, which
//! bundles first and points GENRESCOPE_CLAP_BUNDLE at it).
mod common;

use common::{OutEvent, TestHost};
use std::path::Path;

const PLUGIN_ID: &str = "org.genrescope.genrescope";

/// Deterministic stereo test signal: two sines plus white noise (xorshift), `frames` long.
fn signal(sample_rate: f64, start: usize, frames: usize, seed: &mut u64) -> Vec<Vec<f32>> {
    let mut noise = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let mut l = Vec::with_capacity(frames);
    let mut r = Vec::with_capacity(frames);
    for i in start..start + frames {
        let t = i as f64 / sample_rate;
        l.push((0.4 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32 + 0.05 * noise());
        r.push((0.3 * (2.0 * std::f64::consts::PI * 1234.5 * t).sin()) as f32 + 0.05 * noise());
    }
    vec![l, r]
}

/// Block sizes a host may use: full, odd, tiny and in between.
const BLOCKS: [usize; 10] = [1024, 512, 333, 1, 64, 1000, 128, 7, 256, 1023];

fn assert_bit_exact(input: &[Vec<f32>], output: &[Vec<f32>], what: &str) {
    assert_eq!(input.len(), output.len(), "{what}: channel count");
    for (ch, (i, o)) in input.iter().zip(output).enumerate() {
        assert_eq!(i.len(), o.len(), "{what}: channel {ch} length");
        if let Some(n) = i.iter().zip(o).position(|(a, b)| a.to_bits() != b.to_bits()) {
            panic!("{what}: channel {ch} sample {n}: in {} out {}", i[n], o[n]);
        }
    }
}

#[test]
fn descriptor_is_genrescope() {
    let host = TestHost::load_default();
    let descs = host.descriptors();
    assert_eq!(descs.len(), 1, "{descs:?}");
    assert_eq!(descs[0].0, PLUGIN_ID);
    assert_eq!(descs[0].1, "Genrescope");
}

#[test]
fn passes_audio_through_bit_exactly_at_44k1_and_48k() {
    let host = TestHost::load_default();
    let mut inst = host.instantiate();
    for &rate in &[44_100.0, 48_000.0] {
        inst.activate(rate, 1024);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut pos = 0;
        let mut events: Vec<OutEvent> = Vec::new();
        for block in 0..300 {
            let frames = BLOCKS[block % BLOCKS.len()];
            let input = signal(rate, pos, frames, &mut seed);
            let (output, ev) = inst.process(&input);
            assert_bit_exact(&input, &output, &format!("{rate} Hz block {block} ({frames} frames)"));
            events.extend(ev);
            pos += frames;
        }
        eprintln!("{rate} Hz: {pos} frames processed, {} output events", events.len());
        // Whatever the plugin emits must be well-formed: within the block and, for MIDI, valid bytes.
        for e in &events {
            if let OutEvent::Midi { data, .. } = e {
                assert!(data[0] >= 0x80 && data[1] < 0x80 && data[2] < 0x80, "bad MIDI {e:?}");
            }
        }
        inst.deactivate();
    }
}

#[test]
fn two_instances_run_side_by_side() {
    let host = TestHost::load_default();
    let mut a = host.instantiate();
    let mut b = host.instantiate();
    a.activate(48_000.0, 512);
    b.activate(44_100.0, 256);
    let mut seed = 7u64;
    for block in 0..50 {
        let ia = signal(48_000.0, block * 512, 512, &mut seed);
        let ib = signal(44_100.0, block * 200, 200, &mut seed);
        assert_bit_exact(&ia, &a.process(&ia).0, "instance a");
        assert_bit_exact(&ib, &b.process(&ib).0, "instance b");
    }
    a.deactivate();
    drop(a);
    // The whole-signal helper gives the same bit-exact pass-through.
    let whole = signal(44_100.0, 0, 5000, &mut seed);
    let (out, _events) = b.process_signal(&whole, 256);
    assert_bit_exact(&whole, &out, "instance b, process_signal");
    // b keeps working after a is gone.
    let ib = signal(44_100.0, 0, 256, &mut seed);
    assert_bit_exact(&ib, &b.process(&ib).0, "instance b after a dropped");
    b.deactivate();
}

#[test]
fn state_save_and_restore() {
    let host = TestHost::load_default();
    let mut inst = host.instantiate();
    let params_before = inst.params();
    let state = inst.save_state();
    assert!(!state.is_empty(), "empty state");
    inst.load_state(&state);
    let params_after = inst.params();
    assert_eq!(params_before, params_after, "parameters changed by a state round trip");

    // The state loads into a fresh instance too, and that instance processes normally.
    let mut other = host.instantiate();
    other.load_state(&state);
    assert_eq!(other.params(), params_before);
    other.activate(48_000.0, 1024);
    let mut seed = 1u64;
    let input = signal(48_000.0, 0, 1024, &mut seed);
    assert_bit_exact(&input, &other.process(&input).0, "restored instance");
    other.deactivate();
}

/// `cargo xtask bundle` puts ONNX Runtime (and the model, once one ships) beside the plugin binary.
#[test]
fn bundle_ships_onnx_runtime_beside_the_binary() {
    let clap = TestHost::clap_bundle_path();
    assert!(clap.is_file(), "missing {}: run `cargo xtask bundle genrescope --release`", clap.display());
    let dir = clap.parent().unwrap();
    let vst3 = std::env::var_os("GENRESCOPE_VST3_BUNDLE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.join("Genrescope.vst3"));
    let vst3_bin_dir = vst3.join("Contents").join("x86_64-linux");
    for d in [dir, vst3_bin_dir.as_path()] {
        let lib = d.join("libonnxruntime.so");
        assert!(
            lib.is_file(),
            "{} missing: bundle with `cargo xtask bundle`, not nice-plug-xtask directly",
            lib.display()
        );
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.json");
        if models.is_file() {
            let m = d.join("genrescope-model").join("manifest.json");
            assert!(m.is_file(), "{} missing", m.display());
        }
    }
    assert!(vst3_bin_dir.join("Genrescope.so").is_file());
}
