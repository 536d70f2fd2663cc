//! The heads' inputs: the trunk's outputs for every window of a set, with the windows' labels and
//! tracks: through the engine's own trunk runner ([`Embeddings::of_trunk`]: each track's windows
//! in stream order, a streaming trunk sharing frames between them exactly as the analysis
//! thread does), or any graph in batches ([`Embeddings::compute`]).
use crate::data::Segments;
use crate::inference::run_outputs;
use genrescope_core::model::{with_flush_to_zero, InputSpec, SessionOptions, TrunkEntry, TrunkRunner};
use std::path::Path;

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
    /// Per track: its index in the clip list (see `Segments::track_clip`).
    pub track_clip: Vec<usize>,
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
            track_clip: seg.track_clip.clone(),
        })
    }

    /// The trunk `entry` (files in `dir`) on every window of `seg`, one window at a time in each
    /// track's stream order through core's [`TrunkRunner`] (what the engine runs): the
    /// embeddings the heads train on are the ones the shipped model computes. Tracks are shared
    /// out over `threads` threads, one runner each; the result does not depend on the split.
    pub fn of_trunk(
        entry: &TrunkEntry,
        dir: &Path,
        input: &InputSpec,
        seg: &Segments,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let outputs: Vec<(String, usize)> = entry.outputs.iter().map(|o| (o.name.clone(), o.dim)).collect();
        let stride: usize = outputs.iter().map(|o| o.1).sum();
        let n = seg.len();
        anyhow::ensure!(seg.ends.len() == n, "windows without stream positions");
        let mut data = vec![0.0f32; n * stride];
        // Contiguous runs of windows, cut at track boundaries, about n / threads each.
        let threads = threads.clamp(1, 16);
        let mut cuts = vec![0];
        for i in 1..n {
            if seg.track[i] != seg.track[i - 1] && i >= cuts.last().unwrap() + n.div_ceil(threads) {
                cuts.push(i);
            }
        }
        cuts.push(n);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let mut jobs = Vec::new();
            let mut rest = data.as_mut_slice();
            for r in cuts.windows(2) {
                let (mine, tail) = rest.split_at_mut((r[1] - r[0]) * stride);
                rest = tail;
                let range = r[0]..r[1];
                jobs.push(s.spawn(move || -> anyhow::Result<()> {
                    let mut t = TrunkRunner::from_entry(entry, dir, input, SessionOptions::default())?;
                    for (k, i) in range.clone().enumerate() {
                        if i == range.start || seg.track[i] != seg.track[i - 1] {
                            t.reset();
                        }
                        let out = with_flush_to_zero(|| t.run(seg.window(i), Some(seg.ends[i])))?;
                        let row = &mut mine[k * stride..(k + 1) * stride];
                        let mut off = 0;
                        for v in out {
                            row[off..off + v.len()].copy_from_slice(&v);
                            off += v.len();
                        }
                    }
                    Ok(())
                }));
            }
            for j in jobs {
                j.join().map_err(|_| anyhow::anyhow!("trunk worker thread panicked"))??;
            }
            Ok(())
        })?;
        Ok(Self {
            outputs,
            stride,
            data,
            labels: seg.labels.clone(),
            track: seg.track.clone(),
            track_ids: seg.track_ids.clone(),
            track_labels: seg.track_labels.clone(),
            track_clip: seg.track_clip.clone(),
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
            s.track_clip.push(self.track_clip[t]);
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
        s.track_clip.extend_from_slice(&other.track_clip);
        s
    }
}
