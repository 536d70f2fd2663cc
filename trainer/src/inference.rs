//! Running ONNX model graphs outside the engine: a graph over many windows at once (trunk
//! embeddings for the heads, ReLU probes for pruning) and single-window latency of a model folder.
//!
//! Bulk runs use batches of windows per `Session::run` and one single-threaded session per worker
//! thread, so the result does not depend on the thread count.
use anyhow::{ensure, Context};
use genrescope_core::model::session::{self, SessionOptions};
use genrescope_core::model::Ensemble;
use ort::value::TensorRef;
use std::path::Path;
use std::time::Instant;

/// Windows per `run` call.
const BATCH: usize = 16;

/// Runs `model` (input `input` `[N, shape...]`) on every window of `windows` (each `window_len`
/// values) and returns, per window, the listed outputs concatenated in order.
pub fn run_outputs(
    model: &Path,
    input: &str,
    shape: &[i64],
    outputs: &[(String, usize)],
    windows: &[f32],
    window_len: usize,
    threads: usize,
) -> anyhow::Result<Vec<f32>> {
    ensure!(window_len > 0 && windows.len().is_multiple_of(window_len), "windows are not whole");
    let n = windows.len() / window_len;
    let stride: usize = outputs.iter().map(|o| o.1).sum();
    let mut out = vec![0.0f32; n * stride];
    let threads = threads.clamp(1, 16);
    let per = n.div_ceil(threads).max(1);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut jobs = Vec::new();
        for (w, o) in windows.chunks(per * window_len).zip(out.chunks_mut(per * stride)) {
            jobs.push(s.spawn(move || -> anyhow::Result<()> {
                let mut sess = session::build(model, SessionOptions::default())?;
                for (wb, ob) in w.chunks(BATCH * window_len).zip(o.chunks_mut(BATCH * stride)) {
                    let b = wb.len() / window_len;
                    let mut dims = vec![b as i64];
                    dims.extend_from_slice(shape);
                    let t = TensorRef::from_array_view((dims, wb))?;
                    let res =
                        genrescope_core::model::ensemble::with_flush_to_zero(|| sess.run(ort::inputs![input => t]))?;
                    let mut off = 0;
                    for (name, dim) in outputs {
                        let (_, v) =
                            res[name.as_str()].try_extract_tensor::<f32>().with_context(|| format!("output {name}"))?;
                        ensure!(v.len() == b * dim, "output {name}: {} values for {b} x {dim}", v.len());
                        for i in 0..b {
                            ob[i * stride + off..i * stride + off + dim].copy_from_slice(&v[i * dim..(i + 1) * dim]);
                        }
                        off += dim;
                    }
                }
                Ok(())
            }));
        }
        for j in jobs {
            j.join().map_err(|_| anyhow::anyhow!("ONNX worker thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Median single-window latency (µs) of the whole model and of its trunk, 1 thread, measured
/// interleaved (whole, trunk, whole, …) so that load changes hit both alike.
pub fn latency_us(model: &Path, iters: usize) -> anyhow::Result<(f64, f64)> {
    let mut e = Ensemble::load(model)?;
    let w: Vec<f32> = (0..e.window_len()).map(|i| 1.0 + ((i * 7919) % 97) as f32 / 50.0).collect();
    for _ in 0..5 {
        e.run(&w)?;
    }
    let (mut whole, mut trunk) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for _ in 0..iters {
        let s = Instant::now();
        e.run(&w)?;
        whole.push(s.elapsed().as_secs_f64() * 1e6);
        let s = Instant::now();
        e.run_trunk(&w)?;
        trunk.push(s.elapsed().as_secs_f64() * 1e6);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(whole), median(trunk)))
}
