//! Fine-tuning the trunk's back end: musicnn's mid end and dense layers plus a genre head on the
//! penultimate layer, trained in burn on the selected device (`backend`: CPU, or CUDA with the
//! `cuda` feature), with the front end frozen.
//!
//! The front end is most of the trunk's cost and stays frozen, so its per-window output (the
//! concat of its branches after BN and max over frequency, `[C, T]`, [`FrontSet`]) is computed
//! once and reused every epoch: an epoch runs only the mid end (3 small 1-D convs), the pools, the
//! dense layers and the head. The recipe is "linear probe, then fine-tune": the head starts as a
//! linear head fitted on the frozen trunk's penultimate outputs ([`crate::heads::cv::fit_head`]),
//! then head and back end train together at a small learning rate, with early stopping on held-out
//! tracks (the shared loop, [`crate::training::train`]). BatchNorms stay in their inference form
//! (a trained per-channel affine; the pretrained statistics are not re-estimated).
//!
//! The way back: [`FineTuned::weights`] is a [`MusicnnWeights`] (the ONNX writer
//! `trunk_to_onnx` takes it as it takes the pretrained one) and [`FineTuned::head`] a plain
//! [`HeadWeights`] reading `penultimate` (its `to_onnx` is the shipped heads' writer); heads of
//! other inputs can be refit on the fine-tuned trunk's embeddings as usual.
use super::model::MusicnnTrunk;
use super::onnx::PENULTIMATE;
use super::weights::MusicnnWeights;
use crate::data::{Segments, NUM_CLASSES};
use crate::heads::cv::Groups;
use crate::heads::head::{DenseLayer, HeadWeights};
use crate::metrics::Probs;
use crate::training::{optimizer, sample_weights, train, EpochLoss, OptimizerKind, Schedule};
use anyhow::ensure;
use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Windows per batch when computing front ends or predicting.
const INFER_BATCH: usize = 32;

/// Front-end outputs of a set of windows (`[C, T]` each, row-major), with their labels and tracks.
#[derive(Clone, Debug, Default)]
pub struct FrontSet {
    pub channels: usize,
    pub frames: usize,
    pub data: Vec<f32>,
    pub labels: Vec<usize>,
    pub track: Vec<usize>,
    pub track_ids: Vec<String>,
    pub track_labels: Vec<usize>,
    /// Per track: its index in the clip list (corpus, as `Embeddings::track_clip`).
    pub track_clip: Vec<usize>,
}

impl FrontSet {
    /// The frozen front end of `w` on every window of `seg` (burn, on the selected device).
    pub fn compute(w: &MusicnnWeights, seg: &Segments) -> anyhow::Result<Self> {
        let device = crate::backend::device();
        let trunk = MusicnnTrunk::new(w, &device)?;
        let mel = seg.window_len / super::weights::N_MELS;
        ensure!(mel * super::weights::N_MELS == seg.window_len, "windows are not [frames, 96]");
        let mut data = Vec::new();
        let (mut channels, mut frames) = (0, 0);
        let rows: Vec<usize> = (0..seg.len()).collect();
        for chunk in rows.chunks(INFER_BATCH) {
            let mut v = Vec::with_capacity(chunk.len() * seg.window_len);
            chunk.iter().for_each(|&i| v.extend_from_slice(seg.window(i)));
            let x = Tensor::<3>::from_data(TensorData::new(v, [chunk.len(), mel, super::weights::N_MELS]), &device);
            let f = trunk.front_end(x);
            [_, channels, frames] = f.dims();
            data.extend(f.into_data().try_to_vec::<f32>().expect("f32"));
        }
        Ok(Self {
            channels,
            frames,
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

    fn stride(&self) -> usize {
        self.channels * self.frames
    }

    /// Bytes of front-end values held (what the cache costs in memory and on disk).
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Subset by track indices, keeping the order given.
    pub fn select_tracks(&self, tracks: &[usize]) -> Self {
        let map: HashMap<usize, usize> = tracks.iter().enumerate().map(|(new, &old)| (old, new)).collect();
        let mut s = Self { channels: self.channels, frames: self.frames, ..Default::default() };
        for &t in tracks {
            s.track_ids.push(self.track_ids[t].clone());
            s.track_labels.push(self.track_labels[t]);
            s.track_clip.push(self.track_clip[t]);
        }
        let k = self.stride();
        for i in 0..self.len() {
            if let Some(&nt) = map.get(&self.track[i]) {
                s.data.extend_from_slice(&self.data[i * k..(i + 1) * k]);
                s.labels.push(self.labels[i]);
                s.track.push(nt);
            }
        }
        s
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Tensor<3> {
        let k = self.stride();
        let mut v = Vec::with_capacity(rows.len() * k);
        rows.iter().for_each(|&r| v.extend_from_slice(&self.data[r * k..(r + 1) * k]));
        Tensor::from_data(TensorData::new(v, [rows.len(), self.channels, self.frames]), device)
    }

    /// Writes the values (little-endian f32) to `path`; labels and tracks come from the windows.
    pub fn save_values(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes: Vec<u8> = self.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// [`FrontSet::compute`]'s result read back from [`FrontSet::save_values`]' file, or `None`
    /// when it is missing or does not fit `seg` and the trunk's front end.
    pub fn load_values(path: &Path, w: &MusicnnWeights, seg: &Segments) -> Option<Self> {
        let b = std::fs::read(path).ok()?;
        let frames = seg.window_len / super::weights::N_MELS;
        let channels = w.front_channels();
        (b.len() == seg.len() * channels * frames * 4).then(|| Self {
            channels,
            frames,
            data: b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            labels: seg.labels.clone(),
            track: seg.track.clone(),
            track_ids: seg.track_ids.clone(),
            track_labels: seg.track_labels.clone(),
            track_clip: seg.track_clip.clone(),
        })
    }
}

/// A linear genre layer, `[in, out]` as the trunk's dense layers.
#[derive(Module, Debug)]
pub struct GenreLayer {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

/// The trunk (front end frozen, unused in training: it reads cached front ends) and a genre layer
/// on its penultimate output, dropout between.
#[derive(Module, Debug)]
pub struct FineTuneNet {
    pub trunk: MusicnnTrunk,
    pub head: GenreLayer,
    dropout: Dropout,
}

impl FineTuneNet {
    /// Logits `[B, NUM_CLASSES]` of front-end outputs `[B, C, T]`.
    pub fn logits(&self, front: Tensor<3>) -> Tensor<2> {
        let pen = self.dropout.forward(self.trunk.forward_from_front(front).penultimate);
        pen.matmul(self.head.weight.val()) + self.head.bias.val().unsqueeze()
    }
}

/// Everything that determines a fine-tuning run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FineTuneConfig {
    /// Adam's learning rate (small: the trunk is pretrained).
    pub lr: f64,
    /// L2 weight decay (Adam's coupled form, as the heads').
    pub weight_decay: f32,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Early stopping: epochs without a lower validation loss.
    pub patience: usize,
    /// Dropout on the penultimate layer, before the genre layer.
    pub dropout: f64,
    /// Train the mid end too (else only the back end's BN, dense layer and BN, and the head).
    pub train_mid: bool,
    pub seed: u64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            weight_decay: 1e-4,
            batch_size: 32,
            max_epochs: 30,
            patience: 4,
            dropout: 0.5,
            train_mid: true,
            seed: 42,
        }
    }
}

/// A fine-tuned trunk and its genre head, in plain form.
#[derive(Clone, Debug)]
pub struct FineTuned {
    pub weights: MusicnnWeights,
    /// Reads `penultimate` of [`FineTuned::weights`]; no standardization (folded into the layer).
    pub head: HeadWeights,
    /// Epochs of the kept weights.
    pub epochs: usize,
    pub history: Vec<EpochLoss>,
    /// Wall time per epoch (training batches and the validation loss).
    pub seconds_per_epoch: f32,
}

/// A linear head on `penultimate` with its standardization folded in: `[in, out]` weight, bias.
fn fold_head(head: &HeadWeights, pen_dim: usize) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    head.validate()?;
    ensure!(
        head.inputs == [(PENULTIMATE.to_string(), pen_dim)] && head.layers.len() == 1,
        "fine-tuning starts from a linear head on {PENULTIMATE} ({pen_dim}), not {:?} with {} layers",
        head.inputs,
        head.layers.len()
    );
    let l = &head.layers[0];
    let mut w = vec![0.0f32; l.d_in * l.d_out];
    let mut b = l.bias.clone();
    for o in 0..l.d_out {
        for i in 0..l.d_in {
            let wi = l.weight[o * l.d_in + i] * head.inv_std[i];
            w[i * l.d_out + o] = wi;
            b[o] -= wi * head.mean[i];
        }
    }
    Ok((w, b))
}

fn net(
    trunk: &MusicnnWeights,
    head: &HeadWeights,
    cfg: &FineTuneConfig,
    device: &Device,
) -> anyhow::Result<FineTuneNet> {
    let (w, b) = fold_head(head, trunk.penultimate_dim())?;
    let t = MusicnnTrunk::new(trunk, device)?;
    let t = MusicnnTrunk {
        input_bn: t.input_bn.no_grad(),
        front: t.front.no_grad(),
        mid: if cfg.train_mid { t.mid } else { t.mid.no_grad() },
        mid_bias_map: t.mid_bias_map.map(|p| p.set_require_grad(false)),
        back: super::model::BackEnd { output: t.back.output.no_grad(), ..t.back },
    };
    let d = trunk.penultimate_dim();
    Ok(FineTuneNet {
        trunk: t,
        head: GenreLayer {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d, NUM_CLASSES]), device)),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(b, [NUM_CLASSES]), device)),
        },
        dropout: DropoutConfig::new(cfg.dropout).init(),
    })
}

fn probs_of(net: &FineTuneNet, x: &FrontSet, device: &Device) -> Vec<Probs> {
    let rows: Vec<usize> = (0..x.len()).collect();
    let mut out = Vec::with_capacity(x.len());
    for chunk in rows.chunks(INFER_BATCH) {
        let p = softmax(net.logits(x.batch(chunk, device)), 1).into_data().try_to_vec::<f32>().expect("f32");
        out.extend(p.chunks_exact(NUM_CLASSES).map(|c| <Probs>::try_from(c).unwrap()));
    }
    out
}

fn mean_loss(p: &[Probs], y: &[usize], w: &[f32]) -> f32 {
    let s: f64 = p.iter().zip(y).zip(w).map(|((p, &y), &w)| -(p[y].max(1e-7) as f64).ln() * w as f64).sum();
    (s / w.iter().map(|&w| w as f64).sum::<f64>().max(1e-12)) as f32
}

/// Loss weights of `x`'s windows as the heads' default (`CorpusWeighting::BySize`): every class
/// present in a corpus weighs the same within it.
pub fn loss_weights(x: &FrontSet, groups: Groups) -> Vec<f32> {
    let corpus: Vec<usize> = x.track.iter().map(|&t| groups.clip_corpus[x.track_clip[t]]).collect();
    sample_weights(&x.labels, &corpus, &vec![1.0; groups.names.len()])
}

/// Fine-tunes `trunk`'s back end (and mid end, `cfg.train_mid`) with `head` (a linear head on
/// `penultimate`, e.g. fitted on the frozen trunk) on `train`'s front ends. With `valid`, keeps
/// the epoch of lowest validation loss and stops after `cfg.patience` epochs without a lower one;
/// without, trains `cfg.max_epochs`. Cross entropy weighted by [`loss_weights`] (`groups`: the
/// corpus of each clip). Deterministic for a seed on one
/// device (burn's RNG is per process: one training at a time).
pub fn fine_tune(
    trunk: &MusicnnWeights,
    head: &HeadWeights,
    cfg: &FineTuneConfig,
    train_set: &FrontSet,
    valid: Option<&FrontSet>,
    groups: Groups,
) -> anyhow::Result<FineTuned> {
    ensure!(!train_set.is_empty(), "fine-tuning needs training windows");
    ensure!(train_set.channels == trunk.front_channels(), "front ends of another trunk");
    let device = crate::backend::device().autodiff();
    device.seed(cfg.seed);
    let model = net(trunk, head, cfg, &device)?;
    let optim = optimizer(OptimizerKind::Adam, cfg.weight_decay);
    let w = loss_weights(train_set, groups);
    // Weighted cross entropy, as the heads': Σ w_i · −log p_i(y_i) / Σ w_i over the batch.
    let batch_loss = |m: &FineTuneNet, rows: &[usize]| {
        let y: Vec<i64> = rows.iter().map(|&i| train_set.labels[i] as i64).collect();
        let y = Tensor::<2, Int>::from_data(TensorData::new(y, [rows.len(), 1]), &device);
        let wb: Vec<f32> = rows.iter().map(|&i| w[i]).collect();
        let wb = Tensor::<1>::from_data(TensorData::new(wb, [rows.len()]), &device);
        let picked = log_softmax(m.logits(train_set.batch(rows, &device)), 1).gather(1, y).reshape([rows.len()]);
        (picked * wb.clone()).sum().neg() / wb.sum()
    };
    let eval_device = crate::backend::device();
    let mut valid_loss = valid.map(|v| {
        let vw = loss_weights(v, groups);
        move |m: &FineTuneNet| mean_loss(&probs_of(m, v, &eval_device), &v.labels, &vw)
    });
    let schedule =
        Schedule { lr: cfg.lr, batch_size: cfg.batch_size, max_epochs: cfg.max_epochs, patience: cfg.patience };
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6674_756e);
    let valid_loss = valid_loss.as_mut().map(|f| f as &mut dyn FnMut(&FineTuneNet) -> f32);
    let start = Instant::now();
    let t = train(model, optim, &schedule, train_set.len(), &mut rng, &device, batch_loss, valid_loss);
    let seconds_per_epoch = start.elapsed().as_secs_f32() / t.history.len().max(1) as f32;
    Ok(FineTuned {
        weights: t.model.trunk.to_weights(),
        head: plain_head(&t.model.head),
        epochs: t.epochs,
        history: t.history,
        seconds_per_epoch,
    })
}

fn plain_head(h: &GenreLayer) -> HeadWeights {
    let [d_in, d_out] = h.weight.dims();
    let w = h.weight.val().into_data().try_to_vec::<f32>().expect("f32");
    let mut weight = vec![0.0; d_in * d_out];
    for i in 0..d_in {
        for o in 0..d_out {
            weight[o * d_in + i] = w[i * d_out + o];
        }
    }
    let bias = h.bias.val().into_data().try_to_vec::<f32>().expect("f32");
    HeadWeights {
        inputs: vec![(PENULTIMATE.into(), d_in)],
        mean: vec![0.0; d_in],
        inv_std: vec![1.0; d_in],
        layers: vec![DenseLayer { d_in, d_out, weight, bias }],
    }
}

impl FineTuned {
    /// Window probabilities of front ends computed with the *original* trunk's front end (the
    /// front end is frozen: it is the same in [`FineTuned::weights`]).
    pub fn predict(&self, x: &FrontSet) -> anyhow::Result<Vec<Probs>> {
        let device = crate::backend::device();
        let cfg = FineTuneConfig { dropout: 0.0, ..Default::default() };
        let n = net(&self.weights, &self.head, &cfg, &device)?;
        Ok(probs_of(&n, x, &device))
    }

    /// `(trunk.onnx, head.onnx)` bytes: the fine-tuned trunk through the trunk's ONNX writer and
    /// the head through the heads' writer, as a model folder holds them.
    pub fn to_onnx(&self) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let trunk = super::onnx::trunk_to_onnx(&self.weights, &super::onnx::TrunkOnnxOptions::default())?;
        Ok((trunk, self.head.to_onnx()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_the_standardization_keeps_the_head_s_outputs() {
        let d = 4;
        let head = HeadWeights {
            inputs: vec![(PENULTIMATE.into(), d)],
            mean: vec![0.5, -1.0, 2.0, 0.0],
            inv_std: vec![2.0, 0.5, 1.0, 3.0],
            layers: vec![DenseLayer {
                d_in: d,
                d_out: NUM_CLASSES,
                weight: (0..d * NUM_CLASSES).map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0).collect(),
                bias: (0..NUM_CLASSES).map(|i| i as f32 / 10.0).collect(),
            }],
        };
        let (w, b) = fold_head(&head, d).unwrap();
        let folded = GenreLayer {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d, NUM_CLASSES]), &Device::flex())),
            bias: Param::from_tensor(Tensor::from_data(TensorData::new(b, [NUM_CLASSES]), &Device::flex())),
        };
        let plain = plain_head(&folded);
        for x in [[0.0f32, 0.0, 0.0, 0.0], [1.0, -2.0, 0.5, 3.0]] {
            let (a, c) = (head.forward(&x), plain.forward(&x));
            assert!(a.iter().zip(&c).all(|(a, c)| (a - c).abs() < 1e-6), "{a:?} vs {c:?}");
        }
        let wrong = HeadWeights { inputs: vec![("taggram".into(), d)], ..head };
        assert!(fold_head(&wrong, d).is_err());
    }
}
