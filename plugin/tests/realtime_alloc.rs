//! The audio-thread half of the engine (front end: downmix, level, resampling, features, frame
//! queue; MIDI CC emission) must not allocate once constructed. Counted with a global
//! allocator, for odd block sizes and host rates, including blocks above the announced maximum.
use genrescope::frontend::{queue_capacity, AudioFrontEnd};
use genrescope::midi::MidiCcOut;
use genrescope::shared::{HistoryPoint, SharedState};
use genrescope_core::features::FeatureConfig;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
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
    let cfg = FeatureConfig::default();
    for rate in [44_100.0f32, 48_000.0, 96_000.0, 22_050.0] {
        let shared = Arc::new(SharedState::default());
        let (producer, mut consumer) = rtrb::RingBuffer::new(queue_capacity(&cfg));
        let max_block = 4096;
        let mut fe = AudioFrontEnd::new(&cfg, rate, max_block, producer, shared.clone());
        let mut midi = MidiCcOut::default();
        let mut probs = [0.05f32; 10];
        probs[3] = 0.55;
        shared.publish(HistoryPoint { time_s: 0.0, probs, top: Some(3) }, -12.0);

        let mut phase = 0.0;
        for block in [1usize, 7, 64, 512, 8192] {
            let left = signal(block, rate, &mut phase);
            let mut right = left.clone();
            right[0] = f32::NAN; // bad input must not trigger a slow or allocating path
            let channels = [left.as_slice(), right.as_slice()];
            let mut sent = 0usize;
            ALLOCS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            for _ in 0..20 {
                fe.process(&channels);
                midi.emit(&shared, 0, 20, |_, _, _| sent += 1);
            }
            COUNTING.store(false, Ordering::SeqCst);
            let n = ALLOCS.load(Ordering::SeqCst);
            assert_eq!(n, 0, "{n} allocations at {rate} Hz, block {block}");
            assert!(sent > 0 || block > 1, "MIDI CCs were emitted");
            // Keep the queue from filling so every push takes the normal path.
            while let Ok(chunk) = consumer.read_chunk(consumer.slots()) {
                chunk.commit_all();
                break;
            }
        }
        assert_eq!(shared.dropped_frames.load(Ordering::Relaxed), 0);
    }
}
