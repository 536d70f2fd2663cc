//! Training throughput on the selected device (`genrescope-trainer bench-train`): the number behind
//! BENCHMARKS.md's CPU vs CUDA rows. It times what `train` trains on that device, the heads: one
//! head fit through the shared training loop on synthetic trunk outputs with random labels, so it
//! needs no dataset, checkpoint or ONNX Runtime and measures only the training loop.
use crate::heads::fit::{fit, HeadConfig};
use crate::training::OptimizerKind;
use genrescope_core::labels::NUM_GENRES;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// What is timed: `windows` examples of `dim` trunk outputs through a head with `hidden` units.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOptions {
    /// Examples per epoch; 4648 = fold A's training windows in the shipped run.
    pub windows: usize,
    /// Inputs per example; 910 = penultimate (200) + mean and max pools (355 each) of the pruned trunk,
    /// the widest head of the grid.
    pub dim: usize,
    /// Hidden units (0: linear head); 128 = the grid's hidden heads.
    pub hidden: usize,
    /// Timed epochs, after one untimed warm-up epoch.
    pub epochs: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self { windows: 4648, dim: 910, hidden: 128, epochs: 3 }
    }
}

#[derive(Debug, Serialize)]
pub struct TrainThroughput {
    pub backend: String,
    pub windows: usize,
    pub dim: usize,
    pub hidden: usize,
    pub batch_size: usize,
    pub epochs: usize,
    /// The untimed first epoch: kernel compilation (CUDA) and allocator warm-up.
    pub warmup_s: f64,
    pub seconds_per_epoch: f64,
    pub windows_per_s: f64,
}

/// Fits the head for one warm-up epoch, then times `epochs` more (a fresh fit, no early stopping).
pub fn train_throughput(o: &BenchOptions) -> anyhow::Result<TrainThroughput> {
    anyhow::ensure!(o.windows > 0 && o.epochs > 0 && o.dim > 0, "need windows, epochs and inputs");
    let mut rng = StdRng::seed_from_u64(7);
    let x: Vec<f32> = (0..o.windows * o.dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<usize> = (0..o.windows).map(|_| rng.random_range(0..NUM_GENRES)).collect();
    let cfg = HeadConfig {
        inputs: vec!["synthetic".into()],
        hidden: o.hidden,
        dropout: 0.2,
        optimizer: OptimizerKind::Adam,
        lr: 1e-3,
        weight_decay: 1e-4,
        batch_size: 64,
        max_epochs: 1,
        patience: 8,
        seed: 42,
        corpus_weighting: Default::default(),
    };
    let w = vec![1.0f32; y.len()];
    let inputs = [("synthetic".to_string(), o.dim)];
    let t = Instant::now();
    fit(&cfg, &inputs, &x, &y, &w, None, Some(1))?;
    let warmup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let fitted = fit(&cfg, &inputs, &x, &y, &w, None, Some(o.epochs))?;
    let seconds_per_epoch = t.elapsed().as_secs_f64() / o.epochs as f64;
    anyhow::ensure!(fitted.history.len() == o.epochs, "trained {} epochs, not {}", fitted.history.len(), o.epochs);
    Ok(TrainThroughput {
        backend: crate::backend::selected().to_string(),
        windows: o.windows,
        dim: o.dim,
        hidden: o.hidden,
        batch_size: cfg.batch_size,
        epochs: o.epochs,
        warmup_s,
        seconds_per_epoch,
        windows_per_s: o.windows as f64 / seconds_per_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_the_requested_epochs() {
        let o = BenchOptions { windows: 96, dim: 12, hidden: 8, epochs: 2 };
        let t = train_throughput(&o).unwrap();
        assert_eq!((t.backend.as_str(), t.windows, t.epochs, t.batch_size), ("cpu", 96, 2, 64));
        assert!(t.seconds_per_epoch > 0.0 && t.windows_per_s > 0.0 && t.warmup_s > 0.0, "{t:?}");
        assert!(train_throughput(&BenchOptions { epochs: 0, ..o }).is_err());
    }
}
