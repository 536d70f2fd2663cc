//! The musicnn trunk as an fp32 ONNX graph, written from [`MusicnnWeights`].
//!
//! Contract: input `"melspec"` `[N, frames, 96]` (log-mel patches, `frames` fixed by
//! [`TrunkOnnxOptions::frames`]), outputs `"taggram"` `[N, tags]`, `"penultimate"` `[N, 200]`,
//! `"mean_pool"` and `"max_pool"` `[N, F]`; with `probe`, also `"probe.<layer>"` `[N, C]` per
//! front-end and mid-end conv (layer names from `MusicnnWeights::convs`).
//!
//! Layout as `musicnn::weights` describes: the input BN is a Mul/Add before any padding; the
//! convs zero-pad with their `pads` attribute (TF 'same' in time, asymmetric for even kernels,
//! nothing in frequency); each front-end conv → max over frequency (MaxPool on filters padded to
//! the SIMD block, or ReduceMax) → Relu → Mul/Add (its BN; the max comes first, exactly, see
//! `front_branch`), each mid-end conv → Relu → Mul/Add → the residual Add. The back end's
//! interleaved flatten is Unsqueeze + Concat on a new last axis + Reshape, then Mul/Add, Gemm,
//! Relu, Mul/Add, Gemm, Sigmoid.
//!
//! Variants ([`TrunkOnnxOptions`]): the timbral convs in int8 QDQ, and the streaming split
//! ([`TrunkPart`]): a per-frame graph (input BN + timbral convs, local in time) and a per-window
//! graph (the rest), so overlapping windows compute each frame's timbral outputs once.
use super::weights::{Affine, Conv, Dense, MusicnnWeights, N_MELS, PATCH_FRAMES};
use genrescope_onnx_graph::{int, ints, ActParams, Graph};

pub const INPUT_NAME: &str = "melspec";
pub const TAGGRAM: &str = "taggram";
pub const PENULTIMATE: &str = "penultimate";
pub const MEAN_POOL: &str = "mean_pool";
pub const MAX_POOL: &str = "max_pool";

/// The graph input's shape after the batch axis: one patch of `[187, 96]` log-mel frames.
pub const INPUT_SHAPE: [i64; 2] = [PATCH_FRAMES as i64, N_MELS as i64];

/// `(name, dim)` of the trunk's outputs, in graph order: what the heads can read.
pub fn trunk_outputs(w: &MusicnnWeights) -> Vec<(String, usize)> {
    vec![
        (TAGGRAM.into(), w.num_tags()),
        (PENULTIMATE.into(), w.penultimate_dim()),
        (MEAN_POOL.into(), w.pooled_channels()),
        (MAX_POOL.into(), w.pooled_channels()),
    ]
}

/// Name of a layer's probe output.
pub fn probe_name(layer: &str) -> String {
    format!("probe.{layer}")
}

/// Output of the per-frame graph ([`TrunkPart::Frames`]) and second input of the per-window one:
/// the timbral convs' outputs per frame (after ReLU, BN and the max over frequency).
pub const FRAME_FEATURES: &str = "frame_features";

/// Filters of a front-end conv are zero-padded to a multiple of this with [`TrunkOnnxOptions::maxpool`]:
/// ONNX Runtime keeps a MaxPool in its blocked (NCHWc) layout only when the channels are a multiple of
/// the CPU's block (16 with AVX-512, 8 with AVX2; 16 serves both).
pub const CHANNEL_BLOCK: usize = 16;

/// Static int8 (QDQ) for the timbral convs: uint8 activations (their shared input and each conv's
/// output, per tensor, calibrated), int8 weights per output channel, int32 biases. Every float
/// consumer reads the float tensor (the temporal convs read the unquantized input).
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Timbral {
    /// The timbral convs' input (the input BN's output).
    pub input: ActParams,
    /// Each timbral conv's output (before the max over frequency), in front-end order.
    pub outputs: Vec<ActParams>,
    /// Largest quantized weight magnitude: 63 (7 bits; cannot saturate the u8·s8 pair sums of
    /// x86 CPUs without VNNI) or 127.
    pub weight_max: f32,
    /// Largest quantized input value: 255, or 127 (7-bit input, clipped to its range in the graph:
    /// with 8-bit weights, the other way to keep those pair sums from saturating).
    pub input_top: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrunkOnnxOptions {
    /// Patch length fixed in the graph (187 = musicnn's 3 s patches).
    pub frames: usize,
    /// Writes every ReLU → BN `relu(z)·a + b` as `sign(a)·relu(|a|·z) + b`, with `|a|` moved into
    /// the conv's (or dense layer's) weights and bias: exact in real arithmetic (ReLU commutes
    /// with a positive scale), and it puts the BN's magnitude where int8 weights can carry it.
    pub abs_scale_rewrite: bool,
    /// Also outputs, per front-end and mid-end conv, the max of its ReLU output over time and
    /// frequency per channel, `"probe.<layer>"` `[N, C]`: 0 exactly when the ReLU never fired on
    /// that patch. With `abs_scale_rewrite` the values are `|a|` times larger (still 0 exactly
    /// when the ReLU never fired, unless `a = 0`, a channel constant anyway).
    pub probe: bool,
    /// The max over frequency of the front-end convs as `MaxPool [1, W]` on filters zero-padded
    /// to a multiple of [`CHANNEL_BLOCK`], then Slice + Squeeze, instead of `ReduceMax`: the same
    /// numbers (a max picks an element; the padded filters are sliced off), and ONNX Runtime no
    /// longer reorders every conv's output out of its blocked layout. Ignored with `probe`.
    pub maxpool: bool,
    /// The timbral convs in int8 (needs `abs_scale_rewrite`, so that one output scale per tensor
    /// fits channels whose BN scales differ).
    pub int8: Option<Int8Timbral>,
    /// Also outputs, per window, the `[min, max]` of the timbral convs' input (`"range.input"`,
    /// `[N, 2]`) and, per timbral conv, each channel's min and max over time of its max over
    /// frequency (`"range.<layer>"`, `[N, 2·C]`: C minima, then C maxima): int8 calibration
    /// ([`super::export::calibrate`]). Float graph only.
    pub ranges: bool,
}

impl Default for TrunkOnnxOptions {
    fn default() -> Self {
        Self { frames: PATCH_FRAMES, abs_scale_rewrite: false, probe: false, maxpool: true, int8: None, ranges: false }
    }
}

/// Which graph to write: the trunk on whole windows, or one half of its streaming split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrunkPart {
    /// `"melspec"` `[N, frames, 96]` → the trunk's outputs.
    Whole,
    /// `"melspec"` `[N, L, 96]` (any L consecutive frames) → [`FRAME_FEATURES`] `[N, L, C]`: input
    /// BN and the timbral convs (zero-padded past the L frames, as on a window) with their max over
    /// frequency, ReLU and BN. Local in time: [`frame_context`] frames each side.
    Frames,
    /// `"melspec"` `[N, frames, 96]` and [`FRAME_FEATURES`] `[N, frames, C]` (the per-frame graph's
    /// output on that window) → the trunk's outputs: the temporal convs, mid end and back end.
    Window,
}

/// Front-end convs that are timbral (more than one mel band wide); they come first.
fn timbral_count(w: &MusicnnWeights) -> usize {
    w.front.iter().take_while(|c| c.shape[1] > 1).count()
}

/// Channels of the per-frame graph's output.
pub fn frame_channels(w: &MusicnnWeights) -> usize {
    w.front[..timbral_count(w)].iter().map(|c| c.out_channels()).sum()
}

/// Frames each side a per-frame output depends on (the timbral convs' time padding).
pub fn frame_context(w: &MusicnnWeights) -> usize {
    w.front[..timbral_count(w)].iter().map(|c| c.time_padding().0.max(c.time_padding().1)).max().unwrap_or(0)
}

/// Names of the layers [`Int8Timbral`] quantizes.
pub fn timbral_layers(w: &MusicnnWeights) -> Vec<String> {
    w.front[..timbral_count(w)].iter().map(|c| c.name.clone()).collect()
}

/// Range outputs of [`TrunkOnnxOptions::ranges`]: `"range.input"`, then one per timbral conv.
pub fn range_outputs(w: &MusicnnWeights) -> Vec<(String, usize)> {
    std::iter::once(("range.input".to_string(), 2))
        .chain(w.front[..timbral_count(w)].iter().map(|c| (format!("range.{}", c.name), 2 * c.out_channels())))
        .collect()
}

/// Serializes the trunk on whole windows.
pub fn trunk_to_onnx(w: &MusicnnWeights, opts: &TrunkOnnxOptions) -> anyhow::Result<Vec<u8>> {
    trunk_part_to_onnx(w, opts, TrunkPart::Whole)
}

/// Serializes the trunk or one half of its streaming split.
pub fn trunk_part_to_onnx(w: &MusicnnWeights, opts: &TrunkOnnxOptions, part: TrunkPart) -> anyhow::Result<Vec<u8>> {
    w.validate()?;
    w.validate_frames(opts.frames)?;
    let nt = timbral_count(w);
    anyhow::ensure!(w.front[nt..].iter().all(|c| c.shape[1] == 1), "timbral convs must come first in the front end");
    anyhow::ensure!(!(opts.probe && opts.int8.is_some()), "probes are written on the float graph");
    anyhow::ensure!(opts.int8.is_none() || (opts.abs_scale_rewrite && !opts.ranges), "int8 needs the |a| rewrite");
    anyhow::ensure!(part == TrunkPart::Whole || !(opts.probe || opts.ranges), "probes are whole-window outputs");
    if let Some(q) = &opts.int8 {
        anyhow::ensure!(q.outputs.len() == nt, "int8: {} output ranges for {nt} timbral convs", q.outputs.len());
    }
    let frames = opts.frames as i64;
    let mut g = Graph::new();
    let mels = N_MELS as i64;
    let x = match part {
        TrunkPart::Frames => g.input_sym(INPUT_NAME, &[Err("N"), Err("L"), Ok(mels)]),
        _ => g.input(INPUT_NAME, &[None, Some(frames), Some(mels)]),
    };
    let x = affine(&mut g, "input_bn", &x, &w.input_bn, &[1], None);
    let axis1 = g.init_i64("axes.1", &[1], &[1]);
    let x = g.node("Unsqueeze", "input.unsqueeze", &[&x, &axis1], vec![]);
    let mut ranges = Vec::new();
    if opts.ranges {
        ranges.push(min_max(&mut g, "range.input", &x));
    }

    let mut probes = Vec::new();
    let mut front = Vec::new();
    let convs: &[Conv] = match part {
        TrunkPart::Whole => &w.front,
        TrunkPart::Frames => &w.front[..nt],
        TrunkPart::Window => &w.front[nt..],
    };
    if part == TrunkPart::Window {
        let c = frame_channels(w) as i64;
        let f = g.input(FRAME_FEATURES, &[None, Some(frames), Some(c)]);
        front.push(g.node("Transpose", "frame_features.transpose", &[&f], vec![ints("perm", &[0, 2, 1])]));
    }
    // The timbral convs' input in int8 (the temporal convs keep reading `x`).
    let xq = opts.int8.as_ref().filter(|_| part != TrunkPart::Window).map(|q| {
        let p = q.input;
        let x = if q.input_top < 255 {
            let (lo, hi) = p.real_range(q.input_top);
            let lo = g.init_f32("timbral.input.clip.lo", &[], &[lo]);
            let hi = g.init_f32("timbral.input.clip.hi", &[], &[hi]);
            g.node("Clip", "timbral.input.clip", &[&x, &lo, &hi], vec![])
        } else {
            x.clone()
        };
        g.qdq(&x, p.scale, p.zero_point, "timbral.input")
    });
    for c in convs {
        let timbral = c.shape[1] > 1;
        let quant = opts.int8.as_ref().filter(|_| timbral).map(|q| {
            let i = w.front.iter().position(|f| f.name == c.name).expect("a front conv");
            (q.input, q.outputs[i], q.weight_max)
        });
        let input = if quant.is_some() { xq.as_deref().expect("quantized input") } else { x.as_str() };
        let (y, probe) = front_branch(&mut g, input, c, opts, quant, &mut ranges, timbral);
        probes.extend(probe);
        front.push(y);
    }
    let refs: Vec<&str> = front.iter().map(String::as_str).collect();
    let front = g.node("Concat", "front.concat", &refs, vec![int("axis", 1)]);
    if part == TrunkPart::Frames {
        g.node_named_out("Transpose", "frame_features.out", &[&front], FRAME_FEATURES, vec![ints("perm", &[0, 2, 1])]);
        g.output_sym(FRAME_FEATURES, &[Err("N"), Err("L"), Ok(frame_channels(w) as i64)]);
        return g.finish("musicnn_trunk_frames");
    }

    let mut mids: Vec<String> = Vec::new();
    let mut input = front.clone();
    for (i, c) in w.mid.iter().enumerate() {
        let [kt, ci, _, co] = c.shape;
        let (gain, bn) = relu_bn(&c.bn, opts.abs_scale_rewrite);
        let kernel = scale_rows(&c.kernel_1d(), &gain);
        let bias = scale_rows(&c.bias, &gain);
        let wt = g.init_f32(&format!("{}.w", c.name), &[co as i64, ci as i64, kt as i64], &kernel);
        let b = g.init_f32(&format!("{}.b", c.name), &[co as i64], &bias);
        let (before, after) = c.time_padding();
        let attrs = vec![
            ints("kernel_shape", &[kt as i64]),
            ints("pads", &[before as i64, after as i64]),
            ints("strides", &[1]),
        ];
        let mut z = g.node("Conv", &format!("{}.conv", c.name), &[&input, &wt, &b], attrs);
        if let (0, Some(map)) = (i, &w.mid_bias_map) {
            // [frames, out] → [out, frames], scaled like the conv's bias.
            let t: Vec<f32> = (0..co).flat_map(|o| (0..opts.frames).map(move |f| map[f * co + o])).collect();
            let t = scale_rows(&t, &gain);
            let m = g.init_f32(&format!("{}.bias_map", c.name), &[co as i64, frames], &t);
            z = g.node("Add", &format!("{}.bias_map_add", c.name), &[&z, &m], vec![]);
        }
        let r = g.node("Relu", &format!("{}.relu", c.name), &[&z], vec![]);
        if opts.probe {
            probes.push(probe(&mut g, &c.name, &r, &[2], co));
        }
        let mut y = affine(&mut g, &format!("{}.bn", c.name), &r, &bn, &[co as i64, 1], None);
        if let Some(prev) = mids.last() {
            y = g.node("Add", &format!("{}.residual", c.name), &[&y, prev], vec![]);
        }
        input = y.clone();
        mids.push(y);
    }
    let mut all = vec![front.as_str()];
    all.extend(mids.iter().map(String::as_str));
    let all = g.node("Concat", "midend.concat", &all, vec![int("axis", 1)]);

    let f = w.pooled_channels() as i64;
    let pool_attrs = || vec![ints("axes", &[2]), int("keepdims", 0)];
    g.node_named_out("ReduceMax", "backend.max_pool", &[&all], MAX_POOL, pool_attrs());
    g.node_named_out("ReduceMean", "backend.mean_pool", &[&all], MEAN_POOL, pool_attrs());
    let axis2 = g.init_i64("axes.2", &[1], &[2]);
    let mx = g.node("Unsqueeze", "backend.max_pool.unsqueeze", &[MAX_POOL, &axis2], vec![]);
    let mn = g.node("Unsqueeze", "backend.mean_pool.unsqueeze", &[MEAN_POOL, &axis2], vec![]);
    // [N, F, 2] flattened row-major = max0, mean0, max1, … as TF's flatten(concat(…, 2)).
    let pair = g.node("Concat", "backend.pool_pairs", &[&mx, &mn], vec![int("axis", 2)]);
    let shape = g.init_i64("backend.flat_shape", &[2], &[0, 2 * f]);
    let flat = g.node("Reshape", "backend.flatten", &[&pair, &shape], vec![]);
    let x = affine(&mut g, "backend_bn", &flat, &w.backend_bn, &[2 * f], None);

    let (gain, bn) = relu_bn(&w.dense_bn, opts.abs_scale_rewrite);
    // [in, out]: output channels are the columns.
    let kernel: Vec<f32> = (w.dense.kernel.iter().enumerate()).map(|(k, v)| v * gain[k % w.dense.d_out]).collect();
    let h = gemm(&mut g, "dense", &x, &w.dense, &kernel, &scale_rows(&w.dense.bias, &gain));
    let h = g.node("Relu", "dense.relu", &[&h], vec![]);
    let u = w.penultimate_dim() as i64;
    let pen = affine(&mut g, "dense_bn", &h, &bn, &[u], Some(PENULTIMATE));
    let logits = gemm(&mut g, "output", &pen, &w.output, &w.output.kernel, &w.output.bias);
    g.node_named_out("Sigmoid", "output.sigmoid", &[&logits], TAGGRAM, vec![]);

    g.output(TAGGRAM, &[None, Some(w.num_tags() as i64)]);
    g.output(PENULTIMATE, &[None, Some(u)]);
    g.output(MEAN_POOL, &[None, Some(f)]);
    g.output(MAX_POOL, &[None, Some(f)]);
    for (name, c) in probes {
        g.output(&name, &[None, Some(c as i64)]);
    }
    for (name, dim) in range_outputs(w).into_iter().filter(|(n, _)| ranges.contains(n)) {
        g.output(&name, &[None, Some(dim as i64)]);
    }
    g.finish(if part == TrunkPart::Window { "musicnn_trunk_window" } else { "musicnn_trunk" })
}

/// One front-end conv: conv → (max over frequency) → ReLU → BN, `[N, C, T]`; with a probe the
/// plain order (ReLU, probe, BN, then the max). `quant`: `(input, output, weight_max)` int8
/// parameters (the input is already quantized). Range outputs of timbral convs go to `ranges`.
fn front_branch(
    g: &mut Graph,
    x: &str,
    c: &Conv,
    opts: &TrunkOnnxOptions,
    quant: Option<(ActParams, ActParams, f32)>,
    ranges: &mut Vec<String>,
    timbral: bool,
) -> (String, Option<(String, usize)>) {
    let [kt, kf, ci, co] = c.shape;
    let (gain, bn) = relu_bn(&c.bn, opts.abs_scale_rewrite);
    // Without a probe, the max over frequency comes first (see below): channels whose BN
    // scale is negative then need their conv negated.
    let sign: Vec<f32> = bn.a.iter().map(|&a| if a < 0.0 && !opts.probe { -1.0 } else { 1.0 }).collect();
    let gain: Vec<f32> = gain.iter().zip(&sign).map(|(g, s)| g * s).collect();
    let mut kernel = scale_rows(&c.kernel_oihw(), &gain);
    let mut bias = scale_rows(&c.bias, &gain);
    // Zero filters up to the block (their outputs are sliced off after the max).
    let cp = if opts.maxpool && !opts.probe { co.next_multiple_of(CHANNEL_BLOCK) } else { co };
    kernel.resize(cp * ci * kt * kf, 0.0);
    bias.resize(cp, 0.0);
    let dims = [cp, ci, kt, kf].map(|d| d as i64);
    let (wt, b) = match quant {
        Some((input, _, wmax)) => (
            g.weight_int8_max(&format!("{}.w", c.name), &kernel, &dims, cp, wmax),
            g.bias_int32_max(&format!("{}.b", c.name), &bias, input.scale, &kernel, cp, wmax),
        ),
        None => (
            g.init_f32(&format!("{}.w", c.name), &dims, &kernel),
            g.init_f32(&format!("{}.b", c.name), &[cp as i64], &bias),
        ),
    };
    let (before, after) = c.time_padding();
    let attrs = vec![
        ints("kernel_shape", &[kt as i64, kf as i64]),
        ints("pads", &[before as i64, 0, after as i64, 0]),
        ints("strides", &[1, 1]),
    ];
    let z = g.node("Conv", &format!("{}.conv", c.name), &[x, &wt, &b], attrs);
    if opts.probe {
        let r = g.node("Relu", &format!("{}.relu", c.name), &[&z], vec![]);
        let p = probe(g, &c.name, &r, &[2, 3], co);
        let y = affine(g, &format!("{}.bn", c.name), &r, &bn, &[co as i64, 1, 1], None);
        let pooled =
            g.node("ReduceMax", &format!("{}.freq_max", c.name), &[&y], vec![ints("axes", &[3]), int("keepdims", 0)]);
        return (pooled, Some(p));
    }
    // max_f(a·relu(z_f) + b) = a·relu(max_f z) + b for a ≥ 0 and a·relu(min_f z) + b for
    // a < 0, and min_f z = −max_f(−z): with those channels' conv negated above, one max
    // over frequency on the big [N, C, T, F] tensor, then ReLU and BN on [N, C, T] only.
    // Exactly the same numbers (the max picks the same element; negation is exact).
    let z = match quant {
        Some((_, out, _)) => g.qdq(&z, out.scale, out.zero_point, &format!("{}.out", c.name)),
        None => z,
    };
    let m = if opts.maxpool {
        let width = (N_MELS - kf + 1) as i64;
        let m = g.node("MaxPool", &format!("{}.freq_max", c.name), &[&z], vec![ints("kernel_shape", &[1, width])]);
        let m = if cp > co {
            let start = g.init_i64(&format!("{}.slice.start", c.name), &[1], &[0]);
            let end = g.init_i64(&format!("{}.slice.end", c.name), &[1], &[co as i64]);
            let axis = g.init_i64(&format!("{}.slice.axis", c.name), &[1], &[1]);
            g.node("Slice", &format!("{}.slice", c.name), &[&m, &start, &end, &axis], vec![])
        } else {
            m
        };
        let axis3 = g.init_i64(&format!("{}.squeeze.axis", c.name), &[1], &[3]);
        g.node("Squeeze", &format!("{}.squeeze", c.name), &[&m, &axis3], vec![])
    } else {
        g.node("ReduceMax", &format!("{}.freq_max", c.name), &[&z], vec![ints("axes", &[3]), int("keepdims", 0)])
    };
    if opts.ranges && timbral {
        let name = format!("range.{}", c.name);
        let attrs = || vec![ints("axes", &[2]), int("keepdims", 0)];
        let lo = g.node("ReduceMin", &format!("{name}.min"), &[&m], attrs());
        let hi = g.node("ReduceMax", &format!("{name}.max"), &[&m], attrs());
        g.node_named_out("Concat", &format!("{name}.concat"), &[&lo, &hi], &name, vec![int("axis", 1)]);
        ranges.push(name);
    }
    let s_init = g.init_f32(&format!("{}.sign", c.name), &[co as i64, 1], &sign);
    let m = g.node("Mul", &format!("{}.unsign", c.name), &[&m, &s_init], vec![]);
    let r = g.node("Relu", &format!("{}.relu", c.name), &[&m], vec![]);
    (affine(g, &format!("{}.bn", c.name), &r, &bn, &[co as i64, 1], None), None)
}

/// `[N, 2]`: the min and max of `x` over everything but the batch axis, as output `name`.
fn min_max(g: &mut Graph, name: &str, x: &str) -> String {
    let shape = g.init_i64(&format!("{name}.shape"), &[2], &[0, -1]);
    let flat = g.node("Reshape", &format!("{name}.flat"), &[x, &shape], vec![]);
    let attrs = || vec![ints("axes", &[1]), int("keepdims", 1)];
    let lo = g.node("ReduceMin", &format!("{name}.min"), &[&flat], attrs());
    let hi = g.node("ReduceMax", &format!("{name}.max"), &[&flat], attrs());
    g.node_named_out("Concat", &format!("{name}.concat"), &[&lo, &hi], name, vec![int("axis", 1)]);
    name.into()
}

/// `x·a + b` per channel, `a` and `b` stored with `dims` (broadcast against `x`).
fn affine(g: &mut Graph, name: &str, x: &str, p: &Affine, dims: &[i64], out: Option<&str>) -> String {
    let a = g.init_f32(&format!("{name}.scale"), dims, &p.a);
    let b = g.init_f32(&format!("{name}.shift"), dims, &p.b);
    let y = g.node("Mul", &format!("{name}.mul"), &[x, &a], vec![]);
    match out {
        Some(out) => {
            g.node_named_out("Add", &format!("{name}.add"), &[&y, &b], out, vec![]);
            out.into()
        }
        None => g.node("Add", &format!("{name}.add"), &[&y, &b], vec![]),
    }
}

fn probe(g: &mut Graph, layer: &str, relu: &str, axes: &[i64], channels: usize) -> (String, usize) {
    let name = probe_name(layer);
    let attrs = vec![ints("axes", axes), int("keepdims", 0)];
    g.node_named_out("ReduceMax", &format!("{layer}.probe"), &[relu], &name, attrs);
    (name, channels)
}

/// Splits a ReLU → BN `relu(z)·a + b` into a gain for the layer before the ReLU and the affine
/// after it: `(1, (a, b))`, or under the rewrite `(|a|, (sign(a), b))`.
fn relu_bn(bn: &Affine, rewrite: bool) -> (Vec<f32>, Affine) {
    if !rewrite {
        return (vec![1.0; bn.channels()], bn.clone());
    }
    let gain = bn.a.iter().map(|a| a.abs()).collect();
    let sign = bn.a.iter().map(|a| a.signum()).collect();
    (gain, Affine { a: sign, b: bn.b.clone() })
}

/// Multiplies each of `gain.len()` equal, consecutive rows of `v` by its gain.
fn scale_rows(v: &[f32], gain: &[f32]) -> Vec<f32> {
    let per = v.len() / gain.len();
    v.iter().enumerate().map(|(k, x)| x * gain[k / per]).collect()
}

fn gemm(g: &mut Graph, name: &str, x: &str, d: &Dense, kernel: &[f32], bias: &[f32]) -> String {
    let wt = g.init_f32(&format!("{name}.w"), &[d.d_in as i64, d.d_out as i64], kernel);
    let b = g.init_f32(&format!("{name}.b"), &[d.d_out as i64], bias);
    g.node("Gemm", &format!("{name}.gemm"), &[x, &wt, &b], vec![])
}
