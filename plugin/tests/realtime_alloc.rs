//! The audio-thread half of the engine (front end: downmix, level, resampling, features, frame
//! queue; MIDI CC and program-change emission; the render/transport watches) must not allocate
//! once constructed. Counted with a global allocator, for both front ends, odd block sizes and
//! host rates, including blocks above the announced maximum.
use genrescope::midi::{MidiConfig, MidiOut};
use genrescope::render::RenderWatch;
use genrescope_core::features::FrontEndSpec;
use genrescope_engine::frontend::queue_capacity;
use genrescope_engine::{frame_queue, AudioFrontEnd, Claim, HistoryPoint, SharedState};
use nice_plug::prelude::ProcessMode;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    /// Set on the thread that plays the audio thread: libtest's own thread allocates (its
    /// running-tests map) while the test runs, and must not be counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    // Not yet set up or already torn down on this thread: not the audio thread.
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// unsafe: a counting allocator is a GlobalAlloc, an unsafe trait.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn signal(n: usize, rate: f32, phase: &mut f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *phase += 440.0 / rate;
            (*phase * std::f32::consts::TAU).sin() * 0.3
        })
        .collect()
}

#[test]
fn audio_thread_path_does_not_allocate() {
    for spec in [FrontEndSpec::musicnn(), FrontEndSpec::gtzan_mfcc()] {
        for rate in [44_100.0f32, 48_000.0, 96_000.0, 22_050.0] {
            let shared = Arc::new(SharedState::default());
            let (sender, mut receiver) = frame_queue(spec.mel_dim(), queue_capacity(&spec));
            let max_block = 4096;
            let mut fe = AudioFrontEnd::new(&spec, rate, max_block, sender).unwrap();
            let mut midi = MidiOut::default();
            let cfg = MidiConfig { cc: true, program_change: true, hold_s: 0.0, ..MidiConfig::default() };
            let mut render = RenderWatch::new(ProcessMode::Realtime, rate);
            let mut probs = [0.05f32; 10];
            probs[3] = 0.55;
            shared.publish(HistoryPoint { time_s: 0.0, probs, other: 0.0, claim: Claim::Genre(3) }, -12.0);

            // A model with the out-of-set class: the MIDI path also sends its CC, and "other".
            shared.other_threshold.store(0.5, Ordering::Relaxed);

            let mut phase = 0.0;
            for (k, block) in [1usize, 7, 64, 512, 8192].into_iter().enumerate() {
                // Every other block size hears "other / unsure" (published by the analysis side).
                let claim = if k % 2 == 1 { Claim::Other } else { Claim::Genre(3) };
                shared.publish(HistoryPoint { time_s: k as f64, probs, other: 0.1 + 0.2 * k as f32, claim }, -12.0);
                let left = signal(block, rate, &mut phase);
                let mut right = left.clone();
                right[0] = f32::NAN; // bad input must not trigger a slow or allocating path
                let channels = [left.as_slice(), right.as_slice()];
                let mut sent = 0usize;
                ALLOCS.store(0, Ordering::SeqCst);
                COUNTING.set(true);
                for _ in 0..20 {
                    render.block(block);
                    fe.process(&channels);
                    fe.reset();
                    fe.process(&channels);
                    midi.emit(&shared, &cfg, rate, block, |_| sent += 1);
                    // The analysis side keeps the queue from filling, so every push takes the
                    // normal path (clearing does not allocate either).
                    receiver.clear();
                }
                COUNTING.set(false);
                let n = ALLOCS.load(Ordering::SeqCst);
                assert_eq!(n, 0, "{n} allocations at {rate} Hz, block {block}");
                assert!(sent > 0 || block > 1, "MIDI was emitted");
            }
            assert_eq!(receiver.dropped(), 0);
        }
    }
}
