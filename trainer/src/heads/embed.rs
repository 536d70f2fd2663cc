//! The heads' inputs: the trunk's outputs for every window of a set (run in ONNX Runtime by
//! [`crate::inference::run_outputs`]), with the windows' labels and tracks.
use crate::data::Segments;
use crate::inference::run_outputs;
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
