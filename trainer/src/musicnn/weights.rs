//! Framework-free MSD_musicnn trunk weights, read from the TensorFlow checkpoint.
//!
//! The hand-off format between the checkpoint, the burn module (`musicnn::model`, `train`
//! feature) and the ONNX writer (`musicnn::onnx`): plain `Vec<f32>` + shapes, every BatchNorm
//! already in its inference form `y = a·x + b` with `a = gamma / sqrt(moving_variance + 1e-3)`
//! and `b = beta − moving_mean·a` (epsilon 1e-3 in f32, as in all 11 of musicnn's BNs).
//!
//! Layer layout (data [batch, time, freq]; see musicnn's `models.py`, `build_musicnn`):
//! - `input_bn` (1 channel) on the log-mel patch, *before* any zero padding.
//! - `front`: five convs on the [time, 96] image, each conv → ReLU → BN → max over frequency
//!   (BN after ReLU: it cannot be folded into the conv, and the max must follow the BN since
//!   many gammas are negative). Time is zero padded as TF 'same' (`(k−1)/2` before, `k/2` after;
//!   3+3 for musicnn's 7-frame timbral kernels, 63/64, 31/32, 15/16 for the temporal ones),
//!   frequency is 'valid' (a 1-wide temporal kernel makes 'same' and 'valid' identical).
//!   Order = concat order: timbral 7×38, timbral 7×67, temporal 128, 64, 32.
//! - `mid`: three 1-D convs over time across all channels (kernel spans every input channel),
//!   each conv → ReLU → BN, time padded TF 'same'. `mid[0]` reads the front-end concat, then
//!   `m1 = bn1`, `m2 = bn2 + m1`, `m3 = bn3 + m2` (residuals exactly as `models.py`).
//!   `mid_bias_map` (optional, [frames, out]) is added after `mid[0]`'s conv, before its ReLU.
//! - back end on the concat `[front, m1, m2, m3]` (F channels): max and mean over time,
//!   flattened **interleaved** (max0, mean0, max1, mean1, …) as TF's `flatten(concat([max,
//!   mean], 2))`, `backend_bn` (2F) → `dense` → ReLU → `dense_bn` = penultimate → `output` →
//!   sigmoid = taggram.
//!
//! Kernels keep TF's layouts: convs HWIO `[time, freq, in, out]` (the mid-end convs see their
//! input channels as the "freq" axis: `[k, C_in, 1, out]`), dense `[in, out]` (`y = x·W + b`).
//!
//! Every channel count is derived from the weights: a copy with pruned filters (fewer channels
//! in any front-end branch, hence a narrower mid-end kernel, `backend_bn` and `dense`) is valid
//! as long as the shapes agree (`validate`).
use super::checkpoint::Checkpoint;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// Mel bands of musicnn's input (`configuration.N_MELS`).
pub const N_MELS: usize = 96;
/// Frames per input patch (3 s at 16 kHz, hop 256): musicnn's `n_frames` for MSD_musicnn.
pub const PATCH_FRAMES: usize = 187;
/// Epsilon of all musicnn BatchNorms (TF's default 1e-3, stored as f32).
pub const BN_EPSILON: f32 = 1e-3;

/// A BatchNorm in inference form: `y[c] = a[c]·x[c] + b[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affine {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

impl Affine {
    /// From TF's BatchNorm variables, in f32 (TF multiplies by `rsqrt(var + eps)` instead of
    /// dividing by the square root: the two can differ in the last bit).
    pub fn from_bn(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> Self {
        let a: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + BN_EPSILON).sqrt()).collect();
        let b = beta.iter().zip(mean).zip(&a).map(|((be, m), a)| be - m * a).collect();
        Self { a, b }
    }

    pub fn channels(&self) -> usize {
        self.a.len()
    }
}

/// A convolution followed by ReLU and a BatchNorm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    /// Layer name (`timbral_7x38`, `temporal_128`, `midend_1`, …): stable across pruning.
    pub name: String,
    /// TF HWIO `[time, freq, in, out]`.
    pub shape: [usize; 4],
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
    pub bn: Affine,
}

impl Conv {
    pub fn out_channels(&self) -> usize {
        self.shape[3]
    }

    /// TF 'same' zero padding in time: `(before, after)`.
    pub fn time_padding(&self) -> (usize, usize) {
        same_padding(self.shape[0])
    }

    /// The kernel as `[out, in, time, freq]` (burn's and ONNX's OIHW).
    pub fn kernel_oihw(&self) -> Vec<f32> {
        let [kt, kf, ci, co] = self.shape;
        let mut out = vec![0.0; self.kernel.len()];
        for t in 0..kt {
            for f in 0..kf {
                for i in 0..ci {
                    for o in 0..co {
                        out[((o * ci + i) * kt + t) * kf + f] = self.kernel[((t * kf + f) * ci + i) * co + o];
                    }
                }
            }
        }
        out
    }

    /// A mid-end kernel (`[k, C_in, 1, out]`) as a 1-D conv's `[out, C_in, k]`.
    pub fn kernel_1d(&self) -> Vec<f32> {
        let [kt, ci, one, co] = self.shape;
        assert_eq!(one, 1, "{}: not a 1-D (mid-end) kernel", self.name);
        let mut out = vec![0.0; self.kernel.len()];
        for t in 0..kt {
            for i in 0..ci {
                for o in 0..co {
                    out[(o * ci + i) * kt + t] = self.kernel[(t * ci + i) * co + o];
                }
            }
        }
        out
    }

    /// A mid-end conv from a 1-D `[out, C_in, k]` kernel (inverse of [`Conv::kernel_1d`]).
    pub fn from_kernel_1d(name: &str, [co, ci, kt]: [usize; 3], oik: &[f32], bias: Vec<f32>, bn: Affine) -> Self {
        assert_eq!(oik.len(), co * ci * kt, "{name}: kernel size");
        let mut kernel = vec![0.0; oik.len()];
        for t in 0..kt {
            for i in 0..ci {
                for o in 0..co {
                    kernel[(t * ci + i) * co + o] = oik[(o * ci + i) * kt + t];
                }
            }
        }
        Self { name: name.into(), shape: [kt, ci, 1, co], kernel, bias, bn }
    }

    /// A conv from an OIHW `[out, in, time, freq]` kernel (inverse of [`Conv::kernel_oihw`]).
    pub fn from_kernel_oihw(
        name: &str,
        [co, ci, kt, kf]: [usize; 4],
        oihw: &[f32],
        bias: Vec<f32>,
        bn: Affine,
    ) -> Self {
        assert_eq!(oihw.len(), co * ci * kt * kf, "{name}: kernel size");
        let mut kernel = vec![0.0; oihw.len()];
        for t in 0..kt {
            for f in 0..kf {
                for i in 0..ci {
                    for o in 0..co {
                        kernel[((t * kf + f) * ci + i) * co + o] = oihw[((o * ci + i) * kt + t) * kf + f];
                    }
                }
            }
        }
        Self { name: name.into(), shape: [kt, kf, ci, co], kernel, bias, bn }
    }

    fn params(&self) -> usize {
        self.kernel.len() + self.bias.len() + 2 * self.bn.channels()
    }

    fn validate(&self) -> Result<()> {
        let [kt, kf, ci, co] = self.shape;
        ensure!(kt > 0 && kf > 0 && ci > 0, "{}: empty kernel {:?}", self.name, self.shape);
        ensure!(
            self.kernel.len() == kt * kf * ci * co,
            "{}: kernel has {} values for {:?}",
            self.name,
            self.kernel.len(),
            self.shape
        );
        ensure!(self.bias.len() == co, "{}: bias {} != {co} filters", self.name, self.bias.len());
        ensure!(self.bn.a.len() == co && self.bn.b.len() == co, "{}: BN width != {co} filters", self.name);
        Ok(())
    }
}

/// Name of a front-end conv from its kernel: `timbral_<time>x<freq>` or `temporal_<time>`.
pub fn front_name(kernel_time: usize, kernel_freq: usize) -> String {
    if kernel_freq > 1 {
        format!("timbral_{kernel_time}x{kernel_freq}")
    } else {
        format!("temporal_{kernel_time}")
    }
}

/// Name of mid-end conv `i` (0-based): `midend_<i + 1>`.
pub fn mid_name(i: usize) -> String {
    format!("midend_{}", i + 1)
}

/// `(before, after)` of TF 'same' padding for a stride-1 kernel of size `k`.
pub fn same_padding(k: usize) -> (usize, usize) {
    ((k - 1) / 2, k / 2)
}

/// A dense layer, TF layout `[in, out]`: `y = x·W + b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub d_in: usize,
    pub d_out: usize,
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    fn validate(&self, name: &str) -> Result<()> {
        ensure!(
            self.kernel.len() == self.d_in * self.d_out,
            "{name}: kernel has {} values for [{}, {}]",
            self.kernel.len(),
            self.d_in,
            self.d_out
        );
        ensure!(self.bias.len() == self.d_out, "{name}: bias {} != {}", self.bias.len(), self.d_out);
        Ok(())
    }
}

/// The MSD_musicnn trunk (see the module comment for the layout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MusicnnWeights {
    pub input_bn: Affine,
    /// Front end in concat order: timbral 7×38, timbral 7×67, temporal 128, 64, 32.
    pub front: Vec<Conv>,
    /// Mid end: three 1-D convs with residuals (shape `[k, C_in, 1, out]`).
    pub mid: Vec<Conv>,
    /// Constant `[frames, mid[0] out]` (row-major) added after `mid[0]`'s conv, before its ReLU:
    /// what pruned constant front-end channels contributed, edges included (the conv zero-pads
    /// in time, so their contribution depends on the frame). Ties the weights to one patch length.
    pub mid_bias_map: Option<Vec<f32>>,
    /// On the interleaved pools (2F).
    pub backend_bn: Affine,
    pub dense: Dense,
    pub dense_bn: Affine,
    pub output: Dense,
}

/// TF variable scopes of the checkpoint, in `models.py`'s construction order.
const FRONT_SCOPES: [(&str, &str); 5] = [
    ("conv2d", "batch_normalization_1"),
    ("conv2d_1", "batch_normalization_2"),
    ("conv2d_2", "batch_normalization_3"),
    ("conv2d_3", "batch_normalization_4"),
    ("conv2d_4", "batch_normalization_5"),
];
const MID_SCOPES: [(&str, &str); 3] = [
    ("conv2d_5", "batch_normalization_6"),
    ("conv2d_6", "batch_normalization_7"),
    ("conv2d_7", "batch_normalization_8"),
];

impl MusicnnWeights {
    /// Reads the 64 model variables of an MSD_musicnn-shaped checkpoint and checks every shape.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<Self> {
        let input_bn = read_bn(ckpt, "batch_normalization", Some(1))?;
        let mut front = Vec::new();
        for (i, (conv, bn)) in FRONT_SCOPES.iter().enumerate() {
            let c = read_conv(ckpt, conv, bn)?;
            let [kt, kf, ci, _] = c.shape;
            ensure!(ci == 1 && kf <= N_MELS, "{conv}: kernel {:?} is not a front-end kernel on {N_MELS} mels", c.shape);
            ensure!((i < 2) == (kf > 1), "{conv}: kernel {:?} out of place in the front end", c.shape);
            front.push(Conv { name: front_name(kt, kf), ..c });
        }
        let mut mid = Vec::new();
        for (i, (conv, bn)) in MID_SCOPES.iter().enumerate() {
            let c = read_conv(ckpt, conv, bn)?;
            mid.push(Conv { name: mid_name(i), ..c });
        }
        let backend_bn = read_bn(ckpt, "batch_normalization_9", None)?;
        let dense = read_dense(ckpt, "dense")?;
        let dense_bn = read_bn(ckpt, "batch_normalization_10", None)?;
        let output = read_dense(ckpt, "dense_1")?;
        let w = Self { input_bn, front, mid, mid_bias_map: None, backend_bn, dense, dense_bn, output };
        w.validate().context("checkpoint is not an MSD_musicnn-shaped trunk")?;
        Ok(w)
    }

    /// Checks that all shapes agree (also for pruned copies). Channel counts come from here.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.input_bn.channels() == 1 && self.input_bn.b.len() == 1, "input BN must have one channel");
        ensure!(!self.front.is_empty(), "no front-end convs");
        for c in &self.front {
            c.validate()?;
            ensure!(c.shape[2] == 1 && c.shape[1] <= N_MELS, "{}: kernel {:?} on {N_MELS} mels", c.name, c.shape);
        }
        ensure!(self.mid.len() == 3, "the mid end has 3 convs, not {}", self.mid.len());
        let mut c_in = self.front_channels();
        let m = self.mid[0].out_channels();
        for c in &self.mid {
            c.validate()?;
            ensure!(
                c.shape[1] == c_in && c.shape[2] == 1,
                "{}: kernel {:?} does not read {c_in} channels",
                c.name,
                c.shape
            );
            ensure!(c.out_channels() == m, "{}: residuals need equal widths ({} != {m})", c.name, c.out_channels());
            c_in = m;
        }
        if let Some(map) = &self.mid_bias_map {
            ensure!(!map.is_empty() && map.len() % m == 0, "mid_bias_map: {} values is not [frames, {m}]", map.len());
        }
        let f = self.pooled_channels();
        ensure!(
            self.backend_bn.channels() == 2 * f && self.backend_bn.b.len() == 2 * f,
            "backend BN width {} != 2·{f}",
            self.backend_bn.channels()
        );
        self.dense.validate("dense")?;
        ensure!(self.dense.d_in == 2 * f, "dense reads {} != 2·{f}", self.dense.d_in);
        ensure!(
            self.dense_bn.channels() == self.dense.d_out && self.dense_bn.b.len() == self.dense.d_out,
            "dense BN width"
        );
        self.output.validate("output")?;
        ensure!(self.output.d_in == self.dense.d_out, "output reads {} != {}", self.output.d_in, self.dense.d_out);
        Ok(())
    }

    /// Checks that the weights can run on `frames`-frame patches (`mid_bias_map` fixes it).
    pub fn validate_frames(&self, frames: usize) -> Result<()> {
        ensure!(frames > 0, "zero frames");
        if let Some(map) = &self.mid_bias_map {
            let m = self.mid_channels();
            ensure!(map.len() == frames * m, "mid_bias_map is [{}, {m}], not [{frames}, {m}]", map.len() / m);
        }
        Ok(())
    }

    /// Front-end output channels (561 for MSD_musicnn).
    pub fn front_channels(&self) -> usize {
        self.front.iter().map(Conv::out_channels).sum()
    }

    /// Mid-end conv width (64).
    pub fn mid_channels(&self) -> usize {
        self.mid[0].out_channels()
    }

    /// F: channels of `mean_pool` / `max_pool` (front + 3 × mid = 753).
    pub fn pooled_channels(&self) -> usize {
        self.front_channels() + self.mid.iter().map(Conv::out_channels).sum::<usize>()
    }

    /// Penultimate width (200).
    pub fn penultimate_dim(&self) -> usize {
        self.dense.d_out
    }

    /// Tags (50).
    pub fn num_tags(&self) -> usize {
        self.output.d_out
    }

    /// Front-end then mid-end convs (the layers `probe` reports), in graph order.
    pub fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.front.iter().chain(&self.mid)
    }

    /// Trainable-equivalent parameters: kernels + biases + one scale and one shift per BN
    /// channel (gamma, beta): 787,159 for MSD_musicnn. Moving statistics are folded away.
    pub fn params(&self) -> usize {
        let bn = |a: &Affine| 2 * a.channels();
        let dense = |d: &Dense| d.kernel.len() + d.bias.len();
        bn(&self.input_bn)
            + self.convs().map(Conv::params).sum::<usize>()
            + bn(&self.backend_bn)
            + dense(&self.dense)
            + bn(&self.dense_bn)
            + dense(&self.output)
    }

    /// Multiply-accumulates per layer for one `frames`-frame patch (convs and dense layers;
    /// BN, ReLU, pooling and residual adds are not counted).
    pub fn macs(&self, frames: usize) -> Vec<(String, u64)> {
        let frames = frames as u64;
        let mut out = Vec::new();
        for c in &self.front {
            let [kt, kf, ci, co] = c.shape.map(|v| v as u64);
            let freq_out = N_MELS as u64 - kf + 1;
            out.push((c.name.clone(), frames * freq_out * co * kt * kf * ci));
        }
        for c in &self.mid {
            let [kt, kf, ci, co] = c.shape.map(|v| v as u64);
            out.push((c.name.clone(), frames * co * kt * kf * ci));
        }
        for (name, d) in [("dense", &self.dense), ("output", &self.output)] {
            out.push((name.into(), (d.d_in * d.d_out) as u64));
        }
        out
    }
}

fn read(ckpt: &Checkpoint, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    ckpt.tensor_f32(name).with_context(|| format!("checkpoint variable {name}"))
}

fn read_vec(ckpt: &Checkpoint, name: &str, len: usize) -> Result<Vec<f32>> {
    let (shape, data) = read(ckpt, name)?;
    ensure!(shape == [len], "{name}: shape {shape:?}, expected [{len}]");
    Ok(data)
}

fn read_bn(ckpt: &Checkpoint, scope: &str, channels: Option<usize>) -> Result<Affine> {
    let (shape, gamma) = read(ckpt, &format!("{scope}/gamma"))?;
    ensure!(shape.len() == 1, "{scope}/gamma: shape {shape:?} is not 1-D");
    let n = shape[0];
    if let Some(c) = channels {
        ensure!(n == c, "{scope}: {n} channels, expected {c}");
    }
    let beta = read_vec(ckpt, &format!("{scope}/beta"), n)?;
    let mean = read_vec(ckpt, &format!("{scope}/moving_mean"), n)?;
    let var = read_vec(ckpt, &format!("{scope}/moving_variance"), n)?;
    ensure!(var.iter().all(|v| *v >= 0.0), "{scope}: negative moving variance");
    Ok(Affine::from_bn(&gamma, &beta, &mean, &var))
}

fn read_conv(ckpt: &Checkpoint, scope: &str, bn: &str) -> Result<Conv> {
    let (shape, kernel) = read(ckpt, &format!("{scope}/kernel"))?;
    let shape: [usize; 4] =
        shape.as_slice().try_into().map_err(|_| anyhow::anyhow!("{scope}/kernel: shape {shape:?} is not HWIO"))?;
    let bias = read_vec(ckpt, &format!("{scope}/bias"), shape[3])?;
    let bn = read_bn(ckpt, bn, Some(shape[3]))?;
    Ok(Conv { name: scope.into(), shape, kernel, bias, bn })
}

fn read_dense(ckpt: &Checkpoint, scope: &str) -> Result<Dense> {
    let (shape, kernel) = read(ckpt, &format!("{scope}/kernel"))?;
    ensure!(shape.len() == 2, "{scope}/kernel: shape {shape:?} is not [in, out]");
    let bias = read_vec(ckpt, &format!("{scope}/bias"), shape[1])?;
    Ok(Dense { d_in: shape[0], d_out: shape[1], kernel, bias })
}
