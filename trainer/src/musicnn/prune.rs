//! Exact pruning of the trunk's dead front-end filters.
//!
//! A front-end filter whose ReLU never fires on the training data outputs 0, so its BatchNorm
//! gives the constant `b[c]` at every time step and frequency, and its max over frequency is that
//! constant too. Such a filter carries no information; removing it and folding its constant into
//! the layers that read it changes nothing:
//! - the mid end's first conv zero-pads in time, so a constant input contributes a constant that
//!   depends on the frame near the edges: it goes into `mid_bias_map` `[frames, 64]`, exactly;
//! - its max- and mean-pooled values are the constant: through the back-end BN they add a constant
//!   to the dense layer's bias, exactly; the trunk's pooled outputs lose those (constant) dims.
//!
//! The mid end is left whole (residual adds tie its channels together; it is 4 % of the MACs).
use super::onnx::probe_name;
use super::weights::{Affine, Conv, MusicnnWeights};
use anyhow::ensure;
use serde::Serialize;

/// Which front-end filters fired at least once, per layer (front-end order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Liveness {
    pub layers: Vec<(String, Vec<bool>)>,
}

impl Liveness {
    /// From probe outputs: per window, `probe.<layer>` of every front-end layer concatenated in
    /// front-end order (what [`probe_outputs`] lists). A filter is alive if any value is > 0.
    pub fn from_probes(w: &MusicnnWeights, probes: &[f32]) -> anyhow::Result<Self> {
        let widths: Vec<usize> = w.front.iter().map(Conv::out_channels).collect();
        let stride: usize = widths.iter().sum();
        ensure!(stride > 0 && probes.len().is_multiple_of(stride), "probe data is not whole windows");
        let mut alive: Vec<Vec<bool>> = widths.iter().map(|&n| vec![false; n]).collect();
        for row in probes.chunks_exact(stride) {
            let mut off = 0;
            for (l, &n) in alive.iter_mut().zip(&widths) {
                for (a, &v) in l.iter_mut().zip(&row[off..off + n]) {
                    *a |= v > 0.0;
                }
                off += n;
            }
        }
        Ok(Self { layers: w.front.iter().map(|c| c.name.clone()).zip(alive).collect() })
    }

    /// `(layer, alive, total)`.
    pub fn counts(&self) -> Vec<(String, usize, usize)> {
        self.layers.iter().map(|(n, a)| (n.clone(), a.iter().filter(|&&x| x).count(), a.len())).collect()
    }
}

/// The probe outputs of the front end, `(name, channels)`, in front-end order.
pub fn probe_outputs(w: &MusicnnWeights) -> Vec<(String, usize)> {
    w.front.iter().map(|c| (probe_name(&c.name), c.out_channels())).collect()
}

/// The pruned trunk, and which of the original pooled channels (`0..F`) it still outputs.
pub struct Pruned {
    pub weights: MusicnnWeights,
    pub kept_pooled: Vec<usize>,
}

impl Pruned {
    /// Per trunk output: (name, largest |pruned - full|, largest |full|), over rows of the full and
    /// the pruned trunk's outputs for the same windows (laid out as `full_outputs` / `pruned_outputs`
    /// say, as `run_outputs` returns them). Pooled outputs compare the kept channels only.
    pub fn output_differences(
        &self,
        full_outputs: &[(String, usize)],
        pruned_outputs: &[(String, usize)],
        full: &[f32],
        pruned: &[f32],
    ) -> Vec<(String, f32, f32)> {
        let fs: usize = full_outputs.iter().map(|o| o.1).sum();
        let ps: usize = pruned_outputs.iter().map(|o| o.1).sum();
        let (mut fa, mut pa) = (0, 0);
        let mut out = Vec::with_capacity(full_outputs.len());
        for ((name, fd), (_, pd)) in full_outputs.iter().zip(pruned_outputs) {
            let idx: Vec<usize> = if fd == pd { (0..*fd).collect() } else { self.kept_pooled.clone() };
            let (mut diff, mut mag) = (0f32, 0f32);
            for (ra, rb) in full.chunks_exact(fs).zip(pruned.chunks_exact(ps)) {
                for (j, &i) in idx.iter().enumerate() {
                    diff = diff.max((ra[fa + i] - rb[pa + j]).abs());
                    mag = mag.max(ra[fa + i].abs());
                }
            }
            out.push((name.clone(), diff, mag));
            fa += fd;
            pa += pd;
        }
        out
    }
}

/// Removes the dead front-end filters of `w` (for windows of `frames` frames), folding their
/// constants into the mid end's bias map and the dense layer's bias. A layer keeps at least one
/// filter (a graph needs a non-empty conv).
pub fn prune(w: &MusicnnWeights, live: &Liveness, frames: usize) -> anyhow::Result<Pruned> {
    w.validate()?;
    w.validate_frames(frames)?;
    ensure!(
        live.layers.len() == w.front.len(),
        "liveness for {} layers, trunk has {}",
        live.layers.len(),
        w.front.len()
    );
    let mut keep: Vec<Vec<bool>> = Vec::new();
    for (c, (name, alive)) in w.front.iter().zip(&live.layers) {
        ensure!(*name == c.name && alive.len() == c.out_channels(), "liveness does not match layer {}", c.name);
        let mut k = alive.clone();
        if !k.iter().any(|&x| x) {
            k[0] = true;
        }
        keep.push(k);
    }
    // Global front channel index → (kept?, constant when removed).
    let mut kept_front = Vec::new();
    let mut removed: Vec<(usize, f32)> = Vec::new();
    let mut g = 0;
    let mut front = Vec::new();
    for (c, k) in w.front.iter().zip(&keep) {
        for (i, &kk) in k.iter().enumerate() {
            if kk {
                kept_front.push(g);
            } else {
                removed.push((g, c.bn.b[i]));
            }
            g += 1;
        }
        front.push(select_out(c, k));
    }
    let f_front = w.front_channels();
    let m = w.mid_channels();

    // Mid end conv 1: drop the removed input channels, fold their constants in.
    let mid0 = &w.mid[0];
    let [kt, ci, _, co] = mid0.shape;
    debug_assert_eq!(ci, f_front);
    let (pad_before, _) = mid0.time_padding();
    let mut map = w.mid_bias_map.clone().unwrap_or_else(|| vec![0.0; frames * m]);
    for t in 0..frames {
        for &(i, k) in &removed {
            for tap in 0..kt {
                let src = t as isize + tap as isize - pad_before as isize;
                if src < 0 || src >= frames as isize {
                    continue; // zero padding
                }
                for o in 0..co {
                    map[t * m + o] += k * mid0.kernel[(tap * ci + i) * co + o];
                }
            }
        }
    }
    let mut kernel = Vec::with_capacity(kt * kept_front.len() * co);
    for tap in 0..kt {
        for &i in &kept_front {
            kernel.extend_from_slice(&mid0.kernel[(tap * ci + i) * co..(tap * ci + i + 1) * co]);
        }
    }
    let mut mid = w.mid.clone();
    mid[0] = Conv { shape: [kt, kept_front.len(), 1, co], kernel, ..mid0.clone() };

    // Back end: the pooled channels are [front..., mid...]; removed ones are constants.
    let f = w.pooled_channels();
    let mut kept_pooled: Vec<usize> = kept_front.clone();
    kept_pooled.extend(f_front..f);
    let dense = &w.dense;
    let mut bias = dense.bias.clone();
    for &(j, k) in &removed {
        for r in [2 * j, 2 * j + 1] {
            let x = w.backend_bn.a[r] * k + w.backend_bn.b[r];
            let row = &dense.kernel[r * dense.d_out..(r + 1) * dense.d_out];
            for (b, k) in bias.iter_mut().zip(row) {
                *b += x * k;
            }
        }
    }
    let rows: Vec<usize> = kept_pooled.iter().flat_map(|&j| [2 * j, 2 * j + 1]).collect();
    let mut dkernel = Vec::with_capacity(rows.len() * dense.d_out);
    for &r in &rows {
        dkernel.extend_from_slice(&dense.kernel[r * dense.d_out..(r + 1) * dense.d_out]);
    }
    let backend_bn = Affine {
        a: rows.iter().map(|&r| w.backend_bn.a[r]).collect(),
        b: rows.iter().map(|&r| w.backend_bn.b[r]).collect(),
    };
    let weights = MusicnnWeights {
        input_bn: w.input_bn.clone(),
        front,
        mid,
        mid_bias_map: Some(map),
        backend_bn,
        dense: super::weights::Dense { d_in: rows.len(), d_out: dense.d_out, kernel: dkernel, bias },
        dense_bn: w.dense_bn.clone(),
        output: w.output.clone(),
    };
    weights.validate()?;
    weights.validate_frames(frames)?;
    Ok(Pruned { weights, kept_pooled })
}

/// The conv with only the output channels marked in `keep`.
fn select_out(c: &Conv, keep: &[bool]) -> Conv {
    let [kt, kf, ci, co] = c.shape;
    let idx: Vec<usize> = (0..co).filter(|&o| keep[o]).collect();
    let mut kernel = Vec::with_capacity(kt * kf * ci * idx.len());
    for chunk in c.kernel.chunks_exact(co) {
        kernel.extend(idx.iter().map(|&o| chunk[o]));
    }
    Conv {
        name: c.name.clone(),
        shape: [kt, kf, ci, idx.len()],
        kernel,
        bias: idx.iter().map(|&o| c.bias[o]).collect(),
        bn: Affine { a: idx.iter().map(|&o| c.bn.a[o]).collect(), b: idx.iter().map(|&o| c.bn.b[o]).collect() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_out_keeps_the_marked_channels_of_an_hwio_kernel() {
        let c = Conv {
            name: "t".into(),
            shape: [2, 1, 1, 3],
            kernel: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            bias: vec![0.1, 0.2, 0.3],
            bn: Affine { a: vec![1.0, 2.0, 3.0], b: vec![-1.0, -2.0, -3.0] },
        };
        let s = select_out(&c, &[true, false, true]);
        assert_eq!(s.shape, [2, 1, 1, 2]);
        assert_eq!(s.kernel, vec![1.0, 3.0, 4.0, 6.0]);
        assert_eq!(s.bias, vec![0.1, 0.3]);
        assert_eq!(s.bn.b, vec![-1.0, -3.0]);
    }
}
