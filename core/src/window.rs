//! Assembles streamed feature frames into overlapping model input windows.
//!
//! Keeps the last `window_frames` frames in a ring; every `hop_frames` new frames (once the ring
//! is full) it writes the window, oldest frame first, into a caller-provided slice. No allocation
//! after construction.
pub struct WindowAssembler {
    frame_dim: usize,
    window_frames: usize,
    hop_frames: usize,
    ring: Vec<f32>,
    write: usize,
    filled: usize,
    since_emit: usize,
}

impl WindowAssembler {
    pub fn new(frame_dim: usize, window_frames: usize, hop_frames: usize) -> Self {
        assert!(frame_dim > 0 && window_frames > 0);
        Self {
            frame_dim,
            window_frames,
            hop_frames: hop_frames.max(1),
            ring: vec![0.0; frame_dim * window_frames],
            write: 0,
            filled: 0,
            since_emit: 0,
        }
    }

    pub fn window_len(&self) -> usize {
        self.frame_dim * self.window_frames
    }

    pub fn set_hop_frames(&mut self, hop_frames: usize) {
        self.hop_frames = hop_frames.max(1);
    }

    pub fn hop_frames(&self) -> usize {
        self.hop_frames
    }

    pub fn reset(&mut self) {
        self.write = 0;
        self.filled = 0;
        self.since_emit = 0;
    }

    /// Adds one frame; returns true when a new window is due (then call [`Self::copy_window`]).
    pub fn push(&mut self, frame: &[f32]) -> bool {
        debug_assert_eq!(frame.len(), self.frame_dim);
        let start = self.write * self.frame_dim;
        self.ring[start..start + self.frame_dim].copy_from_slice(&frame[..self.frame_dim]);
        self.write = (self.write + 1) % self.window_frames;
        self.filled = (self.filled + 1).min(self.window_frames);
        self.since_emit += 1;
        if self.filled == self.window_frames && self.since_emit >= self.hop_frames {
            self.since_emit = 0;
            true
        } else {
            false
        }
    }

    /// Copies the current window (oldest frame first) into `out` (`window_len()` floats).
    pub fn copy_window(&self, out: &mut [f32]) {
        let split = self.write * self.frame_dim;
        let tail = self.ring.len() - split;
        out[..tail].copy_from_slice(&self.ring[split..]);
        out[tail..self.ring.len()].copy_from_slice(&self.ring[..split]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_ordered_and_hop_spaced() {
        let mut w = WindowAssembler::new(2, 4, 2);
        let mut out = vec![0.0; 8];
        let mut emitted = Vec::new();
        for i in 0..10 {
            let f = [i as f32, -(i as f32)];
            if w.push(&f) {
                w.copy_window(&mut out);
                emitted.push(out.clone());
            }
        }
        // First window after 4 frames (0..=3), then every 2 frames.
        assert_eq!(emitted.len(), 4);
        assert_eq!(emitted[0], vec![0., -0., 1., -1., 2., -2., 3., -3.]);
        assert_eq!(emitted[1][0], 2.0);
        assert_eq!(emitted[3], vec![6., -6., 7., -7., 8., -8., 9., -9.]);
    }

    #[test]
    fn reset_requires_a_full_window_again() {
        let mut w = WindowAssembler::new(1, 3, 1);
        assert!(!w.push(&[1.0]) && !w.push(&[2.0]) && w.push(&[3.0]));
        w.reset();
        assert!(!w.push(&[4.0]) && !w.push(&[5.0]));
        assert!(w.push(&[6.0]));
        let mut out = [0.0; 3];
        w.copy_window(&mut out);
        assert_eq!(out, [4.0, 5.0, 6.0]);
    }
}
