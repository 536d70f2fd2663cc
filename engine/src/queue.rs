//! The typed frame queue from the audio thread to the analysis thread.
//!
//! Created when the model is known (its front end fixes the frame size); the audio thread owns
//! the [`FrameSender`], the analyzer the [`FrameReceiver`]. Each frame carries its input level
//! and a reset *epoch*: a host reset starts a new epoch, and the receiver reports the epoch with
//! every frame, so frames from before and after a reset never end up in one window.
//!
//! Lock-free and allocation-free after creation (an `rtrb` ring of f32: per frame the values,
//! the level, and the epoch's bits).
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// What travels with each frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameMeta {
    /// RMS level of the model-rate samples the frame was computed from, dBFS.
    pub level_db: f32,
    /// Increments on every host reset.
    pub epoch: u32,
}

/// Audio-thread half.
pub struct FrameSender {
    producer: rtrb::Producer<f32>,
    dim: usize,
    epoch: u32,
    dropped: Arc<AtomicU64>,
}

/// Analysis-thread half.
pub struct FrameReceiver {
    consumer: rtrb::Consumer<f32>,
    dim: usize,
    dropped: Arc<AtomicU64>,
}

/// A queue for frames of `dim` values holding up to `capacity_frames` frames.
pub fn frame_queue(dim: usize, capacity_frames: usize) -> (FrameSender, FrameReceiver) {
    let dim = dim.max(1);
    let (producer, consumer) = rtrb::RingBuffer::new((dim + 2) * capacity_frames.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (FrameSender { producer, dim, epoch: 0, dropped: dropped.clone() }, FrameReceiver { consumer, dim, dropped })
}

impl FrameSender {
    /// Queues one frame (`dim` values); when the queue is full the frame is dropped and counted.
    /// Real-time safe.
    pub fn send(&mut self, frame: &[f32], level_db: f32) -> bool {
        debug_assert_eq!(frame.len(), self.dim);
        match self.producer.write_chunk_uninit(self.dim + 2) {
            Ok(chunk) => {
                let values = frame[..self.dim].iter().copied().chain([level_db, f32::from_bits(self.epoch)]);
                chunk.fill_from_iter(values);
                true
            }
            Err(_) => {
                self.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// A host reset: frames sent from now on belong to a new epoch.
    pub fn new_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    pub fn frame_dim(&self) -> usize {
        self.dim
    }
}

impl FrameReceiver {
    /// The next frame into `frame` (`dim` values), with its level and epoch.
    pub fn recv(&mut self, frame: &mut [f32]) -> Option<FrameMeta> {
        let stride = self.dim + 2;
        let chunk = self.consumer.read_chunk(stride).ok()?;
        let (a, b) = chunk.as_slices();
        let mut it = a.iter().chain(b).copied();
        for v in frame[..self.dim].iter_mut() {
            *v = it.next().unwrap_or(0.0);
        }
        let level_db = it.next().unwrap_or(-200.0);
        let epoch = it.next().map_or(0, f32::to_bits);
        chunk.commit_all();
        Some(FrameMeta { level_db, epoch })
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.consumer.slots() / (self.dim + 2)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        let n = self.consumer.slots();
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            chunk.commit_all();
        }
    }

    pub fn frame_dim(&self) -> usize {
        self.dim
    }

    /// Frames the sender had to drop because the queue was full (since creation).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_levels_and_epochs_round_trip() {
        let (mut tx, mut rx) = frame_queue(3, 4);
        assert!(tx.send(&[1.0, 2.0, 3.0], -10.0));
        tx.new_epoch();
        assert!(tx.send(&[4.0, 5.0, 6.0], -20.0));
        assert_eq!(rx.len(), 2);
        let mut f = [0.0; 3];
        assert_eq!(rx.recv(&mut f), Some(FrameMeta { level_db: -10.0, epoch: 0 }));
        assert_eq!(f, [1.0, 2.0, 3.0]);
        assert_eq!(rx.recv(&mut f), Some(FrameMeta { level_db: -20.0, epoch: 1 }));
        assert_eq!(f, [4.0, 5.0, 6.0]);
        assert_eq!(rx.recv(&mut f), None);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let (mut tx, mut rx) = frame_queue(2, 2);
        assert!(tx.send(&[1.0, 1.0], 0.0) && tx.send(&[2.0, 2.0], 0.0));
        assert!(!tx.send(&[3.0, 3.0], 0.0));
        assert_eq!(rx.dropped(), 1);
        rx.clear();
        assert!(rx.is_empty());
        assert!(tx.send(&[4.0, 4.0], 0.0));
        let mut f = [0.0; 2];
        rx.recv(&mut f).unwrap();
        assert_eq!(f, [4.0, 4.0]);
    }

    #[test]
    fn epochs_survive_wrapping_and_odd_bit_patterns() {
        let (mut tx, mut rx) = frame_queue(1, 8);
        // Epoch bit patterns that are NaNs or denormals as f32 must come back unchanged.
        tx.epoch = 0x7fc0_0001;
        tx.send(&[0.5], -1.0);
        tx.epoch = 1;
        tx.send(&[0.5], -1.0);
        let mut f = [0.0];
        assert_eq!(rx.recv(&mut f).unwrap().epoch, 0x7fc0_0001);
        assert_eq!(rx.recv(&mut f).unwrap().epoch, 1);
    }
}
