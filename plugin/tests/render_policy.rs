//! The render policy through the CLAP host: a real-time host whose first block is 16384 samples at
//! 48 kHz (REAPER and Bitwig allow that), then regular blocks, all delivered in real time, while the
//! model that `activate` started loading is still loading. The audio thread must neither analyse
//! synchronously nor wait for the load: every `process` call stays far below a model load.
//! Before the fix the first block counted as an infinitely fast (offline) render, and `process`
//! waited on the audio thread for the whole load.
mod common;
mod engine_support;

use common::{OutEvent, TestHost};
use engine_support::*;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const RATE: f64 = 48_000.0;

/// A model that takes a while to load (its trunk padded with 40 MB of ONNX metadata), so that a
/// `process` call that waits for the load cannot be mistaken for one that was merely preempted.
fn slow_model() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    // Big enough that its load takes well over the 150 ms the test needs on a quiet machine too
    // (40 MB loaded in 147 ms on an idle 2-core EPYC).
    DIR.get_or_init(|| padded_model("slow-model", 160 << 20))
}

/// How long the model takes to load in this process (ONNX Runtime already up).
fn load_time() -> Duration {
    genrescope_core::model::Ensemble::load(slow_model()).unwrap();
    let t = Instant::now();
    genrescope_core::model::Ensemble::load(slow_model()).unwrap();
    t.elapsed()
}

#[test]
fn a_huge_first_block_in_real_time_never_waits_for_the_model() {
    let load = load_time();
    let host = TestHost::load_default();
    let mut inst = instance_with_model(&host, slow_model());
    inst.activate(RATE, 16384);
    let start = Instant::now();
    let (mut pos, mut seed) = (0usize, 7u64);
    let mut longest = (Duration::ZERO, 0usize);
    let mut events = Vec::<OutEvent>::new();
    // 12 s: the model loads meanwhile and then analyses on its own thread.
    while pos < (RATE * 12.0) as usize {
        let n = if pos == 0 { 16384 } else { 512 };
        let input = music(RATE, pos, n, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, "real-time host");
        events.extend(ev);
        let took = inst.last_process_time();
        if took > longest.0 {
            longest = (took, pos);
        }
        pos += n;
        // The next block is due once this much audio has played.
        let due = Duration::from_secs_f64(pos as f64 / RATE);
        std::thread::sleep(due.saturating_sub(start.elapsed()));
    }
    inst.deactivate();
    eprintln!(
        "model load {:.1} ms; longest process() {:.2} ms (block at sample {})",
        load.as_secs_f64() * 1e3,
        longest.0.as_secs_f64() * 1e3,
        longest.1
    );
    assert!(load > Duration::from_millis(150), "the model loads too fast to tell: {load:?}");
    assert!(
        longest.0 < Duration::from_millis(60).min(load / 3),
        "a process() call took {:?} (model load {load:?}): the audio thread waited or analysed",
        longest.0
    );
    // The analysis itself still ran, on the analysis thread.
    let ccs: Vec<_> = events.iter().filter_map(OutEvent::as_cc).collect();
    assert!(ccs.iter().any(|c| c.1 == TOP_CC && c.2 < 10), "no genre in 12 s: {ccs:?}");
}
