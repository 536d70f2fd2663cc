//! Plain (framework-free) CNN weights and a reference forward pass.
//!
//! This is the hand-off format between training (burn) and export (ONNX): the exporter and
//! the int8 calibrator only see `Vec<f32>` + shapes, so writing a model needs no burn at run
//! time. Batch norm is already folded into the conv weights here.
//!
//! Architecture (one member): `x -> (x - mean) * inv_std -> [Conv3x3(pad 1) -> Relu ->
//! MaxPool3x3(stride 2, pad 1)] x depth -> Flatten -> Dense -> Relu -> Dense -> Softmax`.
use genrescope_core::labels::NUM_GENRES;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Pooling geometry shared by burn model, reference pass and ONNX graph.
pub const POOL_KERNEL: usize = 3;
pub const POOL_STRIDE: usize = 2;
pub const POOL_PAD: usize = 1;

/// Output length of the 3x3/stride 2/pad 1 max pool along one axis.
pub fn pooled_len(n: usize) -> usize {
    (n + 2 * POOL_PAD - POOL_KERNEL) / POOL_STRIDE + 1
}

/// A 3x3, stride 1, padding 1 convolution. `weight` is `[out_ch, in_ch, 3, 3]` row-major.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConvWeights {
    pub in_ch: usize,
    pub out_ch: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A dense layer. `weight` is `[d_in, d_out]` row-major (burn's `Linear` layout).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DenseWeights {
    pub d_in: usize,
    pub d_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CnnWeights {
    /// Input window: `frames` rows of `dim` MFCC coefficients.
    pub frames: usize,
    pub dim: usize,
    /// Per-coefficient normalization from the training set: `(x - mean) * inv_std`.
    pub mean: Vec<f32>,
    pub inv_std: Vec<f32>,
    pub convs: Vec<ConvWeights>,
    pub hidden: DenseWeights,
    pub output: DenseWeights,
}

/// Intermediate values of one forward pass, for calibration and tests.
#[derive(Clone, Debug)]
pub struct Trace {
    pub normalized: Vec<f32>,
    /// Output of each block's ReLU (= max pool input).
    pub block_relu: Vec<Vec<f32>>,
    pub hidden_relu: Vec<f32>,
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
}

impl CnnWeights {
    /// Spatial size `(h, w)` after all blocks.
    pub fn final_hw(frames: usize, dim: usize, depth: usize) -> (usize, usize) {
        (0..depth).fold((frames, dim), |(h, w), _| (pooled_len(h), pooled_len(w)))
    }

    /// Random weights with plausible scale (He-uniform), for test models.
    pub fn random(frames: usize, dim: usize, depth: usize, width: usize, hidden: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut uni = |n: usize, fan_in: usize| -> Vec<f32> {
            let k = (6.0 / fan_in as f32).sqrt();
            (0..n).map(|_| rng.random_range(-k..k)).collect()
        };
        let mut convs = Vec::new();
        let mut in_ch = 1;
        for _ in 0..depth {
            convs.push(ConvWeights {
                in_ch,
                out_ch: width,
                weight: uni(width * in_ch * 9, in_ch * 9),
                bias: uni(width, 100),
            });
            in_ch = width;
        }
        let (h, w) = Self::final_hw(frames, dim, depth);
        let flat = width * h * w;
        let hidden_w =
            DenseWeights { d_in: flat, d_out: hidden, weight: uni(flat * hidden, flat), bias: uni(hidden, 100) };
        let output = DenseWeights {
            d_in: hidden,
            d_out: NUM_GENRES,
            weight: uni(hidden * NUM_GENRES, hidden),
            bias: uni(NUM_GENRES, 100),
        };
        // Typical MFCC scale: c0 around -300 with large spread, others within +-100.
        let mean = (0..dim).map(|i| if i == 0 { -250.0 } else { 0.0 }).collect();
        let inv_std = (0..dim).map(|i| if i == 0 { 1.0 / 100.0 } else { 1.0 / 30.0 }).collect();
        Self { frames, dim, mean, inv_std, convs, hidden: hidden_w, output }
    }

    pub fn depth(&self) -> usize {
        self.convs.len()
    }

    pub fn window_len(&self) -> usize {
        self.frames * self.dim
    }

    /// Reference forward pass of one window (`frames * dim` raw MFCC values).
    pub fn forward(&self, window: &[f32]) -> Trace {
        assert_eq!(window.len(), self.window_len(), "window length");
        let normalized: Vec<f32> = window
            .iter()
            .enumerate()
            .map(|(i, &x)| (x - self.mean[i % self.dim]) * self.inv_std[i % self.dim])
            .collect();
        let (mut h, mut w) = (self.frames, self.dim);
        let mut x = normalized.clone();
        let mut block_relu = Vec::new();
        for conv in &self.convs {
            let mut y = conv3x3(&x, conv, h, w);
            y.iter_mut().for_each(|v| *v = v.max(0.0));
            block_relu.push(y.clone());
            let (ph, pw) = (pooled_len(h), pooled_len(w));
            x = maxpool(&y, conv.out_ch, h, w, ph, pw);
            (h, w) = (ph, pw);
        }
        let mut hidden_relu = dense(&x, &self.hidden);
        hidden_relu.iter_mut().for_each(|v| *v = v.max(0.0));
        let logits = dense(&hidden_relu, &self.output);
        let probs = softmax(&logits);
        Trace { normalized, block_relu, hidden_relu, logits, probs }
    }
}

fn conv3x3(x: &[f32], c: &ConvWeights, h: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; c.out_ch * h * w];
    for o in 0..c.out_ch {
        let out = &mut y[o * h * w..(o + 1) * h * w];
        out.iter_mut().for_each(|v| *v = c.bias[o]);
        for i in 0..c.in_ch {
            let inp = &x[i * h * w..(i + 1) * h * w];
            let k = &c.weight[(o * c.in_ch + i) * 9..(o * c.in_ch + i + 1) * 9];
            for r in 0..h {
                for col in 0..w {
                    let mut acc = 0.0f32;
                    for kr in 0..3 {
                        let rr = r as isize + kr as isize - 1;
                        if rr < 0 || rr >= h as isize {
                            continue;
                        }
                        for kc in 0..3 {
                            let cc = col as isize + kc as isize - 1;
                            if cc < 0 || cc >= w as isize {
                                continue;
                            }
                            acc += k[kr * 3 + kc] * inp[rr as usize * w + cc as usize];
                        }
                    }
                    out[r * w + col] += acc;
                }
            }
        }
    }
    y
}

fn maxpool(x: &[f32], ch: usize, h: usize, w: usize, ph: usize, pw: usize) -> Vec<f32> {
    let mut y = vec![f32::NEG_INFINITY; ch * ph * pw];
    for c in 0..ch {
        for r in 0..ph {
            for col in 0..pw {
                let mut m = f32::NEG_INFINITY;
                for kr in 0..POOL_KERNEL {
                    let rr = (r * POOL_STRIDE + kr) as isize - POOL_PAD as isize;
                    if rr < 0 || rr >= h as isize {
                        continue;
                    }
                    for kc in 0..POOL_KERNEL {
                        let cc = (col * POOL_STRIDE + kc) as isize - POOL_PAD as isize;
                        if cc < 0 || cc >= w as isize {
                            continue;
                        }
                        m = m.max(x[c * h * w + rr as usize * w + cc as usize]);
                    }
                }
                y[c * ph * pw + r * pw + col] = m;
            }
        }
    }
    y
}

fn dense(x: &[f32], d: &DenseWeights) -> Vec<f32> {
    assert_eq!(x.len(), d.d_in);
    let mut y = d.bias.clone();
    for (i, &xi) in x.iter().enumerate() {
        let row = &d.weight[i * d.d_out..(i + 1) * d.d_out];
        y.iter_mut().zip(row).for_each(|(acc, &wv)| *acc += xi * wv);
    }
    y
}

pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|&l| (l - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_sizes_match_the_seed_geometry() {
        assert_eq!(CnnWeights::final_hw(130, 13, 3), (17, 2));
        assert_eq!(CnnWeights::final_hw(130, 13, 4), (9, 1));
    }

    #[test]
    fn forward_gives_a_distribution() {
        let w = CnnWeights::random(130, 13, 2, 4, 8, 1);
        let x: Vec<f32> = (0..130 * 13).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
        let t = w.forward(&x);
        assert_eq!(t.probs.len(), NUM_GENRES);
        assert!((t.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(t.block_relu.iter().flatten().all(|&v| v >= 0.0));
    }
}
