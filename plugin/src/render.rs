//! How the host is running us: offline (non-realtime) or in real time, and where its transport is.
//!
//! Offline rendering (an export, a bounce) makes the plugin analyse synchronously in `process`, so
//! the MIDI it sends is the same on every run. Hosts say so in different ways: CLAP's render
//! extension and VST3's `setupProcessing` reach `activate` as [`ProcessMode::Offline`]; but Ardour
//! flags an export only in each VST3 `process` call's `processMode`, which nice-plug 0.4.2's wrapper
//! does not pass on. So processing that runs much faster than real time for a while counts as
//! offline too (it cannot be a real-time stream), and drops back when the pace returns to normal.
//!
//! The policy ([`Render`]): only a declared offline render may wait (for a model load, bounded by
//! the engine's `LOAD_WAIT`). A detected one analyses on the host's thread only when the analyzer
//! is free at once, never waiting for a load or its lock: a real-time host can look fast for a
//! moment (a pre-roll, a double-buffer fill, one huge first block), and its audio thread must
//! never wait. The pace is measured from the second block on, over at least two blocks: a block's
//! audio counts only once the next call shows how long it took, and the first block is left out
//! because nothing shows when its audio began (a first block of 16384 samples arriving at once
//! looked like an infinitely fast render).
use nice_plug::prelude::{ProcessMode, Transport};
use std::time::Instant;

/// Least audio per measurement of the host's pace.
const MEASURE_S: f64 = 0.25;
/// Least blocks per measurement.
const MEASURE_BLOCKS: u32 = 2;
/// Faster than this many times real time = offline; slower than `LEAVE` = real time again.
const ENTER: f64 = 4.0;
const LEAVE: f64 = 1.5;

/// How to analyse this block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    /// On the analysis thread; the audio thread only queues frames.
    Realtime,
    /// The host declared an offline render: analyse here, waiting for a model load if needed.
    Declared,
    /// Much faster than real time, undeclared: analyse here if that needs no waiting.
    Detected,
}

pub struct RenderWatch {
    told_offline: bool,
    seen_offline: bool,
    rate: f64,
    /// Calls so far (saturating): the first only ends the first block, the second starts the clock.
    calls: u8,
    /// Audio of the blocks measured since `mark`, and how many.
    audio_s: f64,
    blocks: u32,
    /// The latest block's audio: it is measured once the next call comes.
    pending_s: f64,
    mark: Option<Instant>,
}

impl RenderWatch {
    pub fn new(mode: ProcessMode, sample_rate: f32) -> Self {
        Self {
            told_offline: mode == ProcessMode::Offline,
            seen_offline: false,
            rate: sample_rate.max(1.0) as f64,
            calls: 0,
            audio_s: 0.0,
            blocks: 0,
            pending_s: 0.0,
            mark: None,
        }
    }

    /// Call once per `process` with the block length; returns how to analyse it.
    /// Real-time safe (reads the monotonic clock, no syscall on Linux).
    pub fn block(&mut self, samples: usize) -> Render {
        if self.told_offline {
            return Render::Declared;
        }
        let now = Instant::now();
        let block_s = samples as f64 / self.rate;
        self.calls = self.calls.saturating_add(1);
        match self.calls {
            // The first block's audio is left out: nothing shows when it began.
            1 => {}
            2 => self.mark = Some(now),
            _ => {
                self.audio_s += self.pending_s;
                self.blocks += 1;
                if let Some(mark) = self.mark.filter(|_| self.blocks >= MEASURE_BLOCKS && self.audio_s >= MEASURE_S) {
                    let wall = now.duration_since(mark).as_secs_f64().max(1e-6);
                    let pace = self.audio_s / wall;
                    if pace > ENTER {
                        self.seen_offline = true;
                    } else if pace < LEAVE {
                        self.seen_offline = false;
                    }
                    self.audio_s = 0.0;
                    self.blocks = 0;
                    self.mark = Some(now);
                }
            }
        }
        self.pending_s = block_s;
        if self.seen_offline {
            Render::Detected
        } else {
            Render::Realtime
        }
    }
}

/// Notices the host's transport starting or jumping, so a new analysis stream starts exactly where
/// playback (or an export) starts, as `Genrescope analyze` starts at a file's first sample.
#[derive(Default)]
pub struct TransportWatch {
    playing: bool,
    next_pos: Option<i64>,
}

impl TransportWatch {
    /// Call once per `process`; true when this block starts a new stretch of playback.
    pub fn block(&mut self, t: &Transport, samples: usize) -> bool {
        let pos = t.pos_samples();
        let restart = t.playing && (!self.playing || matches!((pos, self.next_pos), (Some(p), Some(n)) if p != n));
        self.playing = t.playing;
        self.next_pos = pos.filter(|_| t.playing).map(|p| p + samples as i64);
        restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_when_told_or_when_much_faster_than_real_time() {
        assert_eq!(RenderWatch::new(ProcessMode::Offline, 48000.0).block(64), Render::Declared);
        let mut w = RenderWatch::new(ProcessMode::Realtime, 48000.0);
        // 1 s of audio in (far) less than a millisecond: an export.
        let mut mode = Render::Realtime;
        for _ in 0..94 {
            mode = w.block(512);
        }
        assert_eq!(mode, Render::Detected);
        // Back at real-time pace: 0.25 s of audio per 0.25 s of wall time.
        w.mark = Some(Instant::now() - std::time::Duration::from_millis(300));
        w.audio_s = 0.3;
        w.blocks = 5;
        assert_eq!(w.block(2400), Render::Realtime);
        // Real-time pace from the start never turns offline.
        let mut rt = RenderWatch::new(ProcessMode::Realtime, 1000.0);
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(110));
            assert_eq!(rt.block(100), Render::Realtime);
        }
    }

    /// The case: a first block of 16384 samples at 48 kHz (0.34 s, more than a whole
    /// measurement) delivered in real time, then regular blocks. Was: an infinite pace at the
    /// first call, so an offline render that waited for the model load on the audio thread.
    #[test]
    fn a_huge_first_block_is_not_a_render() {
        let mut w = RenderWatch::new(ProcessMode::Realtime, 48000.0);
        assert_eq!(w.block(16384), Render::Realtime);
        // The second block comes right away (the host's buffers were empty), then real time.
        assert_eq!(w.block(512), Render::Realtime);
        let start = Instant::now();
        let mut audio = 0.0;
        for _ in 0..40 {
            audio += 512.0 / 48000.0;
            let due = std::time::Duration::from_secs_f64(audio);
            std::thread::sleep(due.saturating_sub(start.elapsed()));
            assert_eq!(w.block(512), Render::Realtime);
        }
        // Two blocks arriving at once never decide anything on their own, however long.
        let mut w = RenderWatch::new(ProcessMode::Realtime, 48000.0);
        assert_eq!(w.block(16384), Render::Realtime);
        assert_eq!(w.block(16384), Render::Realtime);
        assert_eq!(w.block(16384), Render::Realtime);
        // A render is still seen from the third block on (two measured blocks, >= 0.25 s).
        assert_eq!(w.block(16384), Render::Detected);
    }
}
