//! The musicnn trunk as a burn module, built from [`MusicnnWeights`] and convertible back.
//!
//! Same layout as `musicnn::weights` (see there). The BatchNorms are in their inference form,
//! a per-channel scale and shift, both `Param`s: fine-tuning keeps the pretrained statistics
//! frozen and trains the affine (TF's training-mode BN is not reproduced). Use
//! [`MusicnnTrunk::freeze_trunk`] to train only the back end.
//!
//! Tensor layout inside: NCHW = `[batch, channel, time, freq]` for the front end, `[batch,
//! channel, time]` from the mid end on. Zero padding is explicit (`Tensor::pad`) so that TF's
//! asymmetric 'same' padding of even kernels is plain to see.
use super::weights::{front_name, mid_name, same_padding, Affine, Conv, Dense, MusicnnWeights};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{conv1d, conv2d};
use burn::tensor::ops::{ConvOptions, PadMode};

/// A BatchNorm in inference form, `y = scale·x + shift` per channel.
#[derive(Module, Debug)]
pub struct ChannelAffine {
    pub scale: Param<Tensor<1>>,
    pub shift: Param<Tensor<1>>,
}

/// Front-end conv (2-D, single input channel): weight `[out, 1, time, freq]`.
#[derive(Module, Debug)]
pub struct FrontConv {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
    pub bn: ChannelAffine,
}

/// Mid-end conv (1-D over time): weight `[out, in, time]`.
#[derive(Module, Debug)]
pub struct MidConv {
    pub weight: Param<Tensor<3>>,
    pub bias: Param<Tensor<1>>,
    pub bn: ChannelAffine,
}

#[derive(Module, Debug)]
pub struct Linear {
    /// `[in, out]`, as TF.
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct BackEnd {
    pub bn: ChannelAffine,
    pub dense: Linear,
    pub dense_bn: ChannelAffine,
    pub output: Linear,
}

#[derive(Module, Debug)]
pub struct MusicnnTrunk {
    pub input_bn: ChannelAffine,
    pub front: Vec<FrontConv>,
    pub mid: Vec<MidConv>,
    /// `[out, frames]` (transposed from `MusicnnWeights::mid_bias_map`'s `[frames, out]`).
    pub mid_bias_map: Option<Param<Tensor<2>>>,
    pub back: BackEnd,
}

/// Trunk outputs, as musicnn's `define_model` returns them (inference mode).
#[derive(Clone, Debug)]
pub struct TrunkOut {
    /// `[B, tags]`, sigmoid.
    pub taggram: Tensor<2>,
    /// `[B, 200]`: BN after the dense layer's ReLU.
    pub penultimate: Tensor<2>,
    /// `[B, F]`: mean over time of the mid-end concat.
    pub mean_pool: Tensor<2>,
    /// `[B, F]`: max over time of the mid-end concat.
    pub max_pool: Tensor<2>,
}

fn param<const D: usize>(data: &[f32], shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(data.to_vec(), shape), device))
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

impl ChannelAffine {
    fn new(a: &Affine, device: &Device) -> Self {
        let n = a.channels();
        Self { scale: param(&a.a, [n], device), shift: param(&a.b, [n], device) }
    }

    fn to_affine(&self) -> Affine {
        Affine { a: values(self.scale.val()), b: values(self.shift.val()) }
    }

    /// Channel on `dim` 1 of a `D`-rank tensor.
    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mut shape = [1usize; D];
        shape[1] = self.scale.dims()[0];
        x * self.scale.val().reshape(shape) + self.shift.val().reshape(shape)
    }
}

impl Linear {
    fn new(d: &Dense, device: &Device) -> Self {
        Self { weight: param(&d.kernel, [d.d_in, d.d_out], device), bias: param(&d.bias, [d.d_out], device) }
    }

    fn to_dense(&self) -> Dense {
        let [d_in, d_out] = self.weight.dims();
        Dense { d_in, d_out, kernel: values(self.weight.val()), bias: values(self.bias.val()) }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze()
    }
}

fn valid<const N: usize>() -> ConvOptions<N> {
    ConvOptions::new([1; N], [0; N], [1; N], 1)
}

impl FrontConv {
    fn new(c: &Conv, device: &Device) -> Self {
        let [kt, kf, ci, co] = c.shape;
        Self {
            weight: param(&c.kernel_oihw(), [co, ci, kt, kf], device),
            bias: param(&c.bias, [co], device),
            bn: ChannelAffine::new(&c.bn, device),
        }
    }

    fn to_conv(&self, name: &str) -> Conv {
        let w = values(self.weight.val());
        Conv::from_kernel_oihw(name, self.weight.dims(), &w, values(self.bias.val()), self.bn.to_affine())
    }

    /// `x`: `[B, 1, T, mels]` → ReLU output `[B, C, T, mels − kf + 1]`.
    fn relu(&self, x: Tensor<4>) -> Tensor<4> {
        let (before, after) = same_padding(self.weight.dims()[2]);
        let x = x.pad([(before, after), (0, 0)], PadMode::Constant(0.0));
        relu(conv2d(x, self.weight.val(), Some(self.bias.val()), valid()))
    }
}

impl MidConv {
    fn new(c: &Conv, device: &Device) -> Self {
        let [kt, ci, _, co] = c.shape;
        Self {
            weight: param(&c.kernel_1d(), [co, ci, kt], device),
            bias: param(&c.bias, [co], device),
            bn: ChannelAffine::new(&c.bn, device),
        }
    }

    fn to_conv(&self, name: &str) -> Conv {
        let w = values(self.weight.val());
        Conv::from_kernel_1d(name, self.weight.dims(), &w, values(self.bias.val()), self.bn.to_affine())
    }

    /// `x`: `[B, C_in, T]` → conv output `[B, out, T]` before the ReLU.
    fn conv(&self, x: Tensor<3>) -> Tensor<3> {
        let (before, after) = same_padding(self.weight.dims()[2]);
        let x = x.pad([(before, after)], PadMode::Constant(0.0));
        conv1d(x, self.weight.val(), Some(self.bias.val()), valid())
    }
}

impl MusicnnTrunk {
    /// Builds the module; fails if the weights are inconsistent (`MusicnnWeights::validate`).
    pub fn new(w: &MusicnnWeights, device: &Device) -> anyhow::Result<Self> {
        w.validate()?;
        let mid_bias_map = w.mid_bias_map.as_ref().map(|map| {
            let m = w.mid_channels();
            let frames = map.len() / m;
            let t: Vec<f32> = (0..m).flat_map(|c| (0..frames).map(move |f| map[f * m + c])).collect();
            param(&t, [m, frames], device)
        });
        Ok(Self {
            input_bn: ChannelAffine::new(&w.input_bn, device),
            front: w.front.iter().map(|c| FrontConv::new(c, device)).collect(),
            mid: w.mid.iter().map(|c| MidConv::new(c, device)).collect(),
            mid_bias_map,
            back: BackEnd {
                bn: ChannelAffine::new(&w.backend_bn, device),
                dense: Linear::new(&w.dense, device),
                dense_bn: ChannelAffine::new(&w.dense_bn, device),
                output: Linear::new(&w.output, device),
            },
        })
    }

    /// Back to plain weights (e.g. after fine-tuning); layer names as `MusicnnWeights` gives
    /// them, derived from the kernel shapes.
    pub fn to_weights(&self) -> MusicnnWeights {
        let front = self
            .front
            .iter()
            .map(|c| {
                let [_, _, kt, kf] = c.weight.dims();
                c.to_conv(&front_name(kt, kf))
            })
            .collect();
        let mid = self.mid.iter().enumerate().map(|(i, c)| c.to_conv(&mid_name(i))).collect();
        let mid_bias_map = self.mid_bias_map.as_ref().map(|p| values(p.val().transpose()));
        MusicnnWeights {
            input_bn: self.input_bn.to_affine(),
            front,
            mid,
            mid_bias_map,
            backend_bn: self.back.bn.to_affine(),
            dense: self.back.dense.to_dense(),
            dense_bn: self.back.dense_bn.to_affine(),
            output: self.back.output.to_dense(),
        }
    }

    /// Stops gradients into the input BN, the front end, the mid end and the bias map, so that
    /// an optimizer only moves the back end.
    pub fn freeze_trunk(self) -> Self {
        Self {
            input_bn: self.input_bn.no_grad(),
            front: self.front.no_grad(),
            mid: self.mid.no_grad(),
            mid_bias_map: self.mid_bias_map.map(|p| p.set_require_grad(false)),
            back: self.back,
        }
    }

    /// `x`: `[B, T, 96]` log-mel patches.
    pub fn forward(&self, x: Tensor<3>) -> TrunkOut {
        self.forward_probed(x, false).0
    }

    /// Also returns, when `probe`, each conv's ReLU output maximum over time and frequency per
    /// channel, `[B, C]`, in `MusicnnWeights::convs` order (0 exactly when the ReLU never fired).
    pub fn forward_probed(&self, x: Tensor<3>, probe: bool) -> (TrunkOut, Vec<Tensor<2>>) {
        let (front, mut probes) = self.front_probed(x, probe);
        let (out, mid_probes) = self.back_probed(front, probe);
        probes.extend(mid_probes);
        (out, probes)
    }

    /// The front end alone: `x` `[B, T, 96]` → the concat of its branches' outputs (BN after the
    /// ReLU, max over frequency), `[B, C, T]`. What back-end fine-tuning caches
    /// (`musicnn::finetune`): [`MusicnnTrunk::forward_from_front`] of it is [`MusicnnTrunk::forward`].
    pub fn front_end(&self, x: Tensor<3>) -> Tensor<3> {
        self.front_probed(x, false).0
    }

    /// Mid end and back end on a front-end output `[B, C, T]` (see [`MusicnnTrunk::front_end`]).
    pub fn forward_from_front(&self, front: Tensor<3>) -> TrunkOut {
        self.back_probed(front, false).0
    }

    fn front_probed(&self, x: Tensor<3>, probe: bool) -> (Tensor<3>, Vec<Tensor<2>>) {
        let [b, t, _] = x.dims();
        let mut probes = Vec::new();
        let x = self.input_bn.forward(x.unsqueeze_dim::<4>(1));
        let mut pooled = Vec::new();
        for c in &self.front {
            let r = c.relu(x.clone());
            let ch = r.dims()[1];
            if probe {
                probes.push(r.clone().max_dim(3).max_dim(2).reshape([b, ch]));
            }
            // Max over frequency after the BN: a negative scale turns it into a min of the ReLU.
            pooled.push(c.bn.forward(r).max_dim(3).reshape([b, ch, t]));
        }
        (Tensor::cat(pooled, 1), probes)
    }

    fn back_probed(&self, front: Tensor<3>, probe: bool) -> (TrunkOut, Vec<Tensor<2>>) {
        let b = front.dims()[0];
        let mut probes = Vec::new();
        let mut mids: Vec<Tensor<3>> = Vec::new();
        let mut input = front.clone();
        for (i, c) in self.mid.iter().enumerate() {
            let mut z = c.conv(input);
            if let (0, Some(map)) = (i, &self.mid_bias_map) {
                z = z + map.val().unsqueeze();
            }
            let r = relu(z);
            if probe {
                let ch = r.dims()[1];
                probes.push(r.clone().max_dim(2).reshape([b, ch]));
            }
            let mut y = c.bn.forward(r);
            if let Some(prev) = mids.last() {
                y = y + prev.clone();
            }
            input = y.clone();
            mids.push(y);
        }
        let all = Tensor::cat([vec![front], mids].concat(), 1);
        let f = all.dims()[1];
        let max_pool = all.clone().max_dim(2).reshape([b, f]);
        let mean_pool = all.mean_dim(2).reshape([b, f]);
        let interleaved = Tensor::stack::<3>(vec![max_pool.clone(), mean_pool.clone()], 2).reshape([b, 2 * f]);
        let h = relu(self.back.dense.forward(self.back.bn.forward(interleaved)));
        let penultimate = self.back.dense_bn.forward(h);
        let taggram = sigmoid(self.back.output.forward(penultimate.clone()));
        (TrunkOut { taggram, penultimate, mean_pool, max_pool }, probes)
    }
}
