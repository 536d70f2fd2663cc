//! How the host is running us: offline (non-realtime) or in real time, and where its transport is.
//!
//! Offline rendering (an export, a bounce) makes the plugin analyse synchronously in `process`, so
//! the MIDI it sends is the same on every run. Hosts say so in different ways: CLAP's render
//! extension and VST3's `setupProcessing` reach `activate` as [`ProcessMode::Offline`]; but Ardour
//! flags an export only in each VST3 `process` call's `processMode`, which nice-plug 0.4.2's wrapper
//! does not pass on. So processing that runs much faster than real time for a while counts as
//! offline too (it cannot be a real-time stream), and drops back when the pace returns to normal.
use nice_plug::prelude::{ProcessMode, Transport};
use std::time::Instant;

/// Audio per measurement of the host's pace.
const MEASURE_S: f64 = 0.25;
/// Faster than this many times real time = offline; slower than `LEAVE` = real time again.
const ENTER: f64 = 4.0;
const LEAVE: f64 = 1.5;

pub struct RenderWatch {
    told_offline: bool,
    seen_offline: bool,
    rate: f64,
    audio_s: f64,
    mark: Option<Instant>,
}

impl RenderWatch {
    pub fn new(mode: ProcessMode, sample_rate: f32) -> Self {
        Self {
            told_offline: mode == ProcessMode::Offline,
            seen_offline: false,
            rate: sample_rate.max(1.0) as f64,
            audio_s: 0.0,
            mark: None,
        }
    }

    /// Call once per `process` with the block length; returns whether to render offline.
    /// Real-time safe (reads the monotonic clock, no syscall on Linux).
    pub fn block(&mut self, samples: usize) -> bool {
        if self.told_offline {
            return true;
        }
        let now = Instant::now();
        let mark = *self.mark.get_or_insert(now);
        self.audio_s += samples as f64 / self.rate;
        if self.audio_s >= MEASURE_S {
            let wall = now.duration_since(mark).as_secs_f64().max(1e-6);
            let pace = self.audio_s / wall;
            if pace > ENTER {
                self.seen_offline = true;
            } else if pace < LEAVE {
                self.seen_offline = false;
            }
            self.audio_s = 0.0;
            self.mark = Some(now);
        }
        self.seen_offline
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
        assert!(RenderWatch::new(ProcessMode::Offline, 48000.0).block(64));
        let mut w = RenderWatch::new(ProcessMode::Realtime, 48000.0);
        // 1 s of audio in (far) less than a millisecond: an export.
        let mut offline = false;
        for _ in 0..94 {
            offline = w.block(512);
        }
        assert!(offline);
        // Back at real-time pace: 0.25 s of audio per 0.25 s of wall time.
        w.mark = Some(Instant::now() - std::time::Duration::from_millis(300));
        w.audio_s = 0.2;
        assert!(!w.block(2400));
        // Real-time pace from the start never turns offline.
        let mut rt = RenderWatch::new(ProcessMode::Realtime, 1000.0);
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(110));
            assert!(!rt.block(100));
        }
    }
}
