//! Training throughput of the selected backend (`genrescope-trainer bench-train`): the
//! number behind BENCHMARKS.md's CPU vs CUDA rows. Synthetic MFCC-like windows with random
//! labels, so it needs no dataset and measures only the training loop.
use crate::data::Segments;
use crate::export::mfcc_like_window;
use crate::training::{train, TrainConfig};
use genrescope_core::labels::NUM_GENRES;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct TrainThroughput {
    pub backend: String,
    pub windows: usize,
    pub batch_size: usize,
    pub width: usize,
    pub depth: usize,
    pub epochs: usize,
    /// The untimed first epoch: kernel compilation (CUDA) and allocator warm-up.
    pub warmup_s: f64,
    pub seconds_per_epoch: f64,
    pub windows_per_s: f64,
}

/// Trains the default member configuration for one warm-up epoch, then times `epochs` more.
pub fn train_throughput(windows: usize, epochs: usize, frames: usize, dim: usize) -> anyhow::Result<TrainThroughput> {
    anyhow::ensure!(windows > 0 && epochs > 0, "need windows and epochs");
    let mut rng = StdRng::seed_from_u64(7);
    let mut seg = Segments { window_len: frames * dim, ..Default::default() };
    for i in 0..windows {
        seg.windows.extend(mfcc_like_window(&mut rng, frames, dim));
        let label = rng.random_range(0..NUM_GENRES);
        seg.labels.push(label);
        seg.track.push(i);
        seg.track_ids.push(format!("synthetic.{i}"));
        seg.track_labels.push(label);
    }
    let (mean, inv_std) = seg.coefficient_stats(dim);
    let mut cfg = TrainConfig::default();
    cfg.model.frames = frames;
    cfg.model.dim = dim;
    cfg.max_epochs = 1;
    let t = Instant::now();
    train(&cfg, &seg, None, &mean, &inv_std, None, "warm-up")?;
    let warmup_s = t.elapsed().as_secs_f64();
    cfg.max_epochs = epochs;
    let t = Instant::now();
    train(&cfg, &seg, None, &mean, &inv_std, None, "timed")?;
    let seconds_per_epoch = t.elapsed().as_secs_f64() / epochs as f64;
    Ok(TrainThroughput {
        backend: crate::backend::selected().to_string(),
        windows,
        batch_size: cfg.batch_size,
        width: cfg.model.width,
        depth: cfg.model.depth,
        epochs,
        warmup_s,
        seconds_per_epoch,
        windows_per_s: windows as f64 / seconds_per_epoch,
    })
}
