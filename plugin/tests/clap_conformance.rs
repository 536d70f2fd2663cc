//! CLAP conformance checks on the bundled plugin, in the spirit of clap-validator.
//!
//! clap-validator itself (github.com/free-audio/clap-validator) is on no registry this project can
//! reach: `cargo info clap-validator` finds no crate on crates.io, PyPI has no such package, and
//! its release binaries live on GitHub only. So these tests run the same kinds of checks on the
//! project's own CLAP host (`common/`, on clack-host): activation cycles over sample rates and
//! block sizes, random block sizes, `params.flush` without processing, state round trips incl.
//! states from other versions and garbage, and main-thread-only host calls never made elsewhere.
//!
//! All tests use a random-weight model (set per instance), so the analysis thread runs too.
mod common;
mod engine_support;

use common::{state_blob, state_json, Instance, OutEvent, ParamDesc, TestHost};
use engine_support::*;

const RATES: [f64; 7] = [22_050.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0, 37_800.0];
const MAX_BLOCKS: [u32; 4] = [1, 32, 512, 4096];

fn host() -> TestHost {
    TestHost::load_default()
}

fn param<'a>(params: &'a [ParamDesc], name: &str) -> &'a ParamDesc {
    params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no parameter {name:?}: {params:?}"))
}

/// nice-plug's CLAP values: float parameters normalized to 0..1, integer ones as a step index.
fn gate_clap(db: f64) -> f64 {
    (db + 90.0) / 80.0
}
fn channel_clap(ch: f64) -> f64 {
    ch - 1.0
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-5, "{what}: {a} != {b}");
}

/// Feeds `frames` of music in random blocks of 1..=max_block, checking pass-through.
fn feed(inst: &mut Instance, rate: f64, max_block: u32, frames: usize, seed: u64) -> Vec<OutEvent> {
    let (mut rng, mut noise_seed) = (seed | 1, seed.wrapping_mul(31) | 1);
    let mut pos = 0;
    let mut events = Vec::new();
    while pos < frames {
        let n = rand_block(&mut rng, max_block as usize).min(frames - pos);
        let input = music(rate, pos, n, &mut noise_seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, &format!("{rate} Hz, max block {max_block}, at {pos}"));
        for e in &ev {
            assert!((e.time() as usize) < n, "event outside its block of {n}: {e:?}");
        }
        events.extend(ev);
        pos += n;
    }
    events
}

#[test]
fn activation_cycles_over_rates_and_block_sizes() {
    let host = host();
    let mut inst = instance_with_model(&host, test_model());
    let mut cycles = 0;
    for &rate in &RATES {
        for &max_block in &MAX_BLOCKS {
            inst.activate(rate, max_block);
            // 1-frame blocks cost a host round trip each: feed less of them.
            let frames = if max_block == 1 { 3_000 } else { (rate * 0.5) as usize };
            feed(&mut inst, rate, max_block, frames, rate as u64 ^ max_block as u64);
            inst.deactivate();
            cycles += 1;
        }
    }
    // Back-to-back activate/deactivate without processing, then processing still works.
    for &rate in &RATES {
        inst.activate(rate, 512);
        inst.deactivate();
    }
    inst.activate(48_000.0, 512);
    feed(&mut inst, 48_000.0, 512, 48_000, 3);
    inst.deactivate();
    assert_eq!(inst.wrong_thread_calls(), 0, "main-thread-only host calls from another thread");
    eprintln!("{cycles} activation cycles with processing");
}

/// One activation at every rate, music long enough for a prediction: CCs come out each time.
/// Offline rendering, so the prediction is there as soon as its window is, without waiting.
#[test]
fn predictions_at_every_rate_after_reactivation() {
    let host = host();
    let mut inst = instance_with_model(&host, test_model());
    inst.set_offline(true);
    for &rate in &RATES {
        inst.activate(rate, 1024);
        let events = feed(&mut inst, rate, 1024, (rate * 3.5) as usize, 9);
        assert!(
            events.iter().filter_map(OutEvent::as_cc).any(|c| c.1 == TOP_CC),
            "no top-genre CC at {rate} Hz after 3.5 s"
        );
        inst.deactivate();
    }
    assert_eq!(inst.wrong_thread_calls(), 0);
}

#[test]
fn params_flush_without_process() {
    let host = host();
    let mut inst = instance_with_model(&host, test_model());
    let params = inst.params();
    let gate = param(&params, "Gate").clone();
    let ch = param(&params, "MIDI channel").clone();
    let base = param(&params, "First CC").clone();
    assert_close(gate.value, gate_clap(-50.0), "default gate");
    assert_close(ch.value, channel_clap(1.0), "default channel");
    assert_close(base.value, 20.0, "default first CC");

    // Before the first activation, and again between activations.
    inst.flush_params(&[(gate.id, gate_clap(-70.0)), (ch.id, channel_clap(5.0)), (base.id, 40.0)]);
    let after = inst.params();
    assert_close(param(&after, "Gate").value, gate_clap(-70.0), "gate");
    assert_close(param(&after, "MIDI channel").value, channel_clap(5.0), "channel");
    assert_close(param(&after, "First CC").value, 40.0, "first CC");

    inst.activate(48_000.0, 512);
    feed(&mut inst, 48_000.0, 512, 4_800, 1);
    inst.deactivate();
    inst.flush_params(&[(base.id, 60.0)]);
    assert_close(param(&inst.params(), "First CC").value, 60.0, "first CC");
    assert_close(param(&inst.params(), "Gate").value, gate_clap(-70.0), "unrelated parameter");
    inst.flush_params(&[]);

    // The flushed mapping is what the MIDI output uses: channel 5 (index 4), CCs 60..=70.
    inst.set_offline(true);
    inst.activate(48_000.0, 512);
    let events = feed(&mut inst, 48_000.0, 512, 48_000 * 7 / 2, 2);
    assert!(events.iter().filter_map(OutEvent::as_cc).any(|c| c.1 == 70), "no CC 70 after 3.5 s: {events:?}");
    for (c, cc, _) in events.iter().filter_map(OutEvent::as_cc) {
        assert_eq!(c, 4, "channel");
        assert!((60..=70).contains(&cc), "cc {cc}");
    }
    inst.deactivate();
    assert_eq!(inst.wrong_thread_calls(), 0);
}

#[test]
fn state_round_trip_and_foreign_states() {
    let host = host();
    let mut a = instance_with_model(&host, test_model());
    let p = a.params();
    let (gate, base, ch) = (param(&p, "Gate").id, param(&p, "First CC").id, param(&p, "MIDI channel").id);
    a.flush_params(&[(gate, gate_clap(-62.5)), (base, 77.0), (ch, channel_clap(9.0))]);
    let saved = a.save_state();
    let json = state_json(&saved);
    assert_eq!(json["params"]["gate"]["f32"], -62.5, "{json}");
    assert_eq!(json["params"]["midich"]["i32"], 9, "{json}");

    // Round trip into a fresh instance, saved again: identical bytes, same values.
    let mut b = instance_with_model(&host, test_model());
    b.load_state(&saved);
    assert_eq!(b.params(), a.params());
    assert_eq!(b.save_state(), saved);

    // A state from "another version": unknown top-level field, unknown parameter, unknown
    // persisted field, a parameter missing and one of the wrong type. Known values load; the
    // rest keep the instance's values (defaults, for a fresh one).
    let mut foreign = json.clone();
    foreign["version"] = "0.0.1-old".into();
    foreign["future_top_level"] = serde_json::json!({"x": 1});
    let params = foreign["params"].as_object_mut().unwrap();
    params.remove("gate");
    params.insert("future_param".into(), serde_json::json!({"f32": 0.5}));
    params.insert("smooth".into(), serde_json::json!({"bool": true}));
    params.insert("ccbase".into(), serde_json::json!({"i32": 33}));
    foreign["fields"].as_object_mut().unwrap().insert("future-field".into(), serde_json::json!("whatever"));
    let mut c = instance_with_model(&host, test_model());
    let defaults = c.params();
    c.load_state(&state_blob(&foreign));
    let loaded = c.params();
    assert_close(param(&loaded, "First CC").value, 33.0, "first CC");
    assert_close(param(&loaded, "MIDI channel").value, channel_clap(9.0), "channel");
    assert_eq!(param(&loaded, "Gate").value, param(&defaults, "Gate").value, "missing param: default kept");
    assert_eq!(param(&loaded, "Smoothing").value, param(&defaults, "Smoothing").value, "mistyped param: default kept");

    // Garbage and empty blobs are refused without disturbing the instance.
    let junk_json = state_blob(&serde_json::json!({"params": 5}));
    for junk in [&b"\x00\x01garbage{"[..], b"", &junk_json, &saved[..saved.len() / 2]] {
        assert!(c.try_load_state(junk).is_err(), "accepted junk state {junk:?}");
        assert_close(param(&c.params(), "First CC").value, 33.0, "first CC after junk");
    }
    // The instance with the foreign state processes normally; loading while active works too.
    c.activate(44_100.0, 256);
    feed(&mut c, 44_100.0, 256, 22_050, 4);
    c.load_state(&saved);
    feed(&mut c, 44_100.0, 256, 22_050, 5);
    c.deactivate();
    assert_close(param(&c.params(), "First CC").value, 77.0, "first CC after reload");
    // Loading a state makes nice-plug call params.rescan (main-thread only): the check has calls to see.
    assert!(b.rescan_count() > 0 && c.rescan_count() > 0, "no params.rescan after load_state");
    for inst in [&a, &b, &c] {
        assert_eq!(inst.wrong_thread_calls(), 0, "main-thread-only host calls from another thread");
    }
}
