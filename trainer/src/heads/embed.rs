//! Running a trunk ONNX graph over many windows: embeddings for the heads, probes for pruning.
//!
//! Batches of windows per `Session::run`, one single-threaded session per worker thread, so the
//! result does not depend on the thread count.
use crate::data::Segments;
use anyhow::{ensure, Context};
use genrescope_core::model::session::{self, SessionOptions};
use ort::value::TensorRef;
use std::path::Path;

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
            j.join().map_err(|_| anyhow::anyhow!("trunk worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Trunk outputs of every window of a [`Segments`] set, with its labels and tracks.
#[derive(Clone, Debug, Default)]
pub struct Embeddings {
    /// `(name, dim)` of the trunk outputs, in `data` order.
    pub outputs: Vec<(String, usize)>,
    /// Per window: the outputs concatenated (`stride` values).
    pub data: Vec<f32>,
    pub stride: usize,
    pub labels: Vec<usize>,
    pub track: Vec<usize>,
    pub track_ids: Vec<String>,
    pub track_labels: Vec<usize>,
}

impl Embeddings {
    pub fn compute(
        trunk: &Path,
        input: &str,
        shape: &[i64],
        outputs: &[(String, usize)],
        seg: &Segments,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let data = run_outputs(trunk, input, shape, outputs, &seg.windows, seg.window_len, threads)?;
        Ok(Self {
            outputs: outputs.to_vec(),
            stride: outputs.iter().map(|o| o.1).sum(),
            data,
            labels: seg.labels.clone(),
            track: seg.track.clone(),
            track_ids: seg.track_ids.clone(),
            track_labels: seg.track_labels.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn num_tracks(&self) -> usize {
        self.track_ids.len()
    }

    /// Offset and dim of each named output, in the given order.
    fn spans(&self, inputs: &[String]) -> anyhow::Result<Vec<(usize, usize)>> {
        inputs
            .iter()
            .map(|name| {
                let mut off = 0;
                for (n, d) in &self.outputs {
                    if n == name {
                        return Ok((off, *d));
                    }
                    off += d;
                }
                anyhow::bail!("no trunk output {name:?}")
            })
            .collect()
    }

    /// Features for a head reading `inputs` (concatenated): `len() * dim` values and `dim`.
    pub fn features(&self, inputs: &[String]) -> anyhow::Result<(Vec<f32>, usize)> {
        let spans = self.spans(inputs)?;
        let dim = spans.iter().map(|s| s.1).sum();
        let mut out = Vec::with_capacity(self.len() * dim);
        for row in self.data.chunks_exact(self.stride) {
            for &(off, d) in &spans {
                out.extend_from_slice(&row[off..off + d]);
            }
        }
        Ok((out, dim))
    }

    /// Subset by track indices (folds), keeping the track order given.
    pub fn select_tracks(&self, tracks: &[usize]) -> Self {
        let map: std::collections::HashMap<usize, usize> =
            tracks.iter().enumerate().map(|(new, &old)| (old, new)).collect();
        let mut s = Self { outputs: self.outputs.clone(), stride: self.stride, ..Default::default() };
        for &t in tracks {
            s.track_ids.push(self.track_ids[t].clone());
            s.track_labels.push(self.track_labels[t]);
        }
        for i in 0..self.len() {
            if let Some(&nt) = map.get(&self.track[i]) {
                s.data.extend_from_slice(&self.data[i * self.stride..(i + 1) * self.stride]);
                s.labels.push(self.labels[i]);
                s.track.push(nt);
            }
        }
        s
    }

    /// Two sets as one (tracks of `other` after those of `self`).
    pub fn concat(&self, other: &Self) -> Self {
        assert_eq!(self.outputs, other.outputs, "different trunk outputs");
        let mut s = self.clone();
        let base = s.track_ids.len();
        s.data.extend_from_slice(&other.data);
        s.labels.extend_from_slice(&other.labels);
        s.track.extend(other.track.iter().map(|t| t + base));
        s.track_ids.extend(other.track_ids.iter().cloned());
        s.track_labels.extend_from_slice(&other.track_labels);
        s
    }
}
