//! The audio-thread paths must not allocate after construction. A counting global
//! allocator (only in this test binary) counts allocations made by the current thread.
//! Locks and syscalls are excluded by construction: the push paths contain no Mutex, I/O
//! or logging (rubato only logs in constructors).

mod features_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use features_common::*;
use genrescope_core::features::{FeaturePipeline, FeatureTransform, FrontEndSpec, StreamingExtractor};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// unsafe: a counting allocator is a GlobalAlloc, an unsafe trait.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

#[test]
fn push_paths_do_not_allocate() {
    // The allocator must actually see allocations, or this test proves nothing.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocs() > before);
    drop(v);

    let mut checked = 0;
    for cfg in [mfcc_spec(), FrontEndSpec::musicnn()] {
        let rate_model = cfg.sample_rate as f64;
        for block in [1usize, 7, 64, 512, 8192] {
            // Model rate.
            let input = lcg_noise(3 * rate_model as usize, 1);
            let mut st = StreamingExtractor::new(&cfg).unwrap();
            let mut frames = 0usize;
            let before = allocs();
            for b in input.chunks(block) {
                st.push(b, |f| frames += f.len());
            }
            st.reset();
            st.push(&input[..4096], |f| frames += f.len());
            assert_eq!(allocs(), before, "StreamingExtractor, block {block}");
            assert!(frames > 0);
            checked += 1;

            for rate in [48000.0f32, 44100.0, 96000.0] {
                let input = sine(997.0, rate as f64, 3 * rate as usize, 0.5);
                let mut p = FeaturePipeline::new(&cfg, rate).unwrap();
                let mut frames = 0usize;
                let before = allocs();
                for b in input.chunks(block) {
                    p.push(b, |f| frames += f.len());
                }
                p.reset();
                p.push(&input[..8192], |f| frames += f.len());
                p.push(&[f32::NAN, f32::INFINITY, 1e-42], |_| {});
                assert_eq!(allocs(), before, "FeaturePipeline {rate} Hz, block {block}");
                assert!(frames > cfg.mel_dim() * 50, "{rate} Hz, block {block}: {frames}");
                checked += 1;
            }
        }
        // The per-window transform (analysis thread) does not allocate either.
        let mut t = FeatureTransform::new(&cfg).unwrap();
        let window = vec![1e-3f32; 187 * cfg.mel_dim()];
        let mut out = vec![0.0f32; 187 * cfg.frame_dim()];
        let before = allocs();
        t.apply(&window, &mut out);
        assert_eq!(allocs(), before, "FeatureTransform");
    }
    assert_eq!(checked, 40);
}
