//! The musicnn trunk as an fp32 ONNX graph, written from [`MusicnnWeights`].
//!
//! Contract: input `"melspec"` `[N, frames, 96]` (log-mel patches, `frames` fixed by
//! [`TrunkOnnxOptions::frames`]), outputs `"taggram"` `[N, tags]`, `"penultimate"` `[N, 200]`,
//! `"mean_pool"` and `"max_pool"` `[N, F]`; with `probe`, also `"probe.<layer>"` `[N, C]` per
//! front-end and mid-end conv (layer names from `MusicnnWeights::convs`).
//!
//! Layout as `musicnn::weights` describes: the input BN is a Mul/Add before any padding; the
//! convs zero-pad with their `pads` attribute (TF 'same' in time, asymmetric for even kernels,
//! nothing in frequency); each conv → Relu → Mul/Add (its BN) → ReduceMax over frequency (front
//! end) or the residual Add (mid end). The back end's interleaved flatten is Unsqueeze + Concat
//! on a new last axis + Reshape, then Mul/Add, Gemm, Relu, Mul/Add, Gemm, Sigmoid.
use super::weights::{Affine, Dense, MusicnnWeights, N_MELS, PATCH_FRAMES};
use genrescope_onnx_graph::{int, ints, Graph};

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

#[derive(Clone, Debug, PartialEq, Eq)]
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
}

impl Default for TrunkOnnxOptions {
    fn default() -> Self {
        Self { frames: PATCH_FRAMES, abs_scale_rewrite: false, probe: false }
    }
}

/// Serializes the trunk (fp32).
pub fn trunk_to_onnx(w: &MusicnnWeights, opts: &TrunkOnnxOptions) -> anyhow::Result<Vec<u8>> {
    w.validate()?;
    w.validate_frames(opts.frames)?;
    let frames = opts.frames as i64;
    let mut g = Graph::new();
    let x = g.input(INPUT_NAME, &[None, Some(frames), Some(N_MELS as i64)]);
    let x = affine(&mut g, "input_bn", &x, &w.input_bn, &[1], None);
    let axis1 = g.init_i64("axes.1", &[1], &[1]);
    let x = g.node("Unsqueeze", "input.unsqueeze", &[&x, &axis1], vec![]);

    let mut probes = Vec::new();
    let mut front = Vec::new();
    for c in &w.front {
        let [kt, kf, ci, co] = c.shape;
        let (gain, bn) = relu_bn(&c.bn, opts.abs_scale_rewrite);
        // Without a probe, the max over frequency comes first (see below): channels whose BN
        // scale is negative then need their conv negated.
        let sign: Vec<f32> = bn.a.iter().map(|&a| if a < 0.0 && !opts.probe { -1.0 } else { 1.0 }).collect();
        let gain: Vec<f32> = gain.iter().zip(&sign).map(|(g, s)| g * s).collect();
        let kernel = scale_rows(&c.kernel_oihw(), &gain);
        let bias = scale_rows(&c.bias, &gain);
        let dims = [co, ci, kt, kf].map(|d| d as i64);
        let wt = g.init_f32(&format!("{}.w", c.name), &dims, &kernel);
        let b = g.init_f32(&format!("{}.b", c.name), &[co as i64], &bias);
        let (before, after) = c.time_padding();
        let attrs = vec![
            ints("kernel_shape", &[kt as i64, kf as i64]),
            ints("pads", &[before as i64, 0, after as i64, 0]),
            ints("strides", &[1, 1]),
        ];
        let z = g.node("Conv", &format!("{}.conv", c.name), &[&x, &wt, &b], attrs);
        if !opts.probe {
            // max_f(a·relu(z_f) + b) = a·relu(max_f z) + b for a ≥ 0 and a·relu(min_f z) + b for
            // a < 0, and min_f z = −max_f(−z): with those channels' conv negated above, one max
            // over frequency on the big [N, C, T, F] tensor, then ReLU and BN on [N, C, T] only.
            // Exactly the same numbers (the max picks the same element; negation is exact).
            let m = g.node(
                "ReduceMax",
                &format!("{}.freq_max", c.name),
                &[&z],
                vec![ints("axes", &[3]), int("keepdims", 0)],
            );
            let s_init = g.init_f32(&format!("{}.sign", c.name), &[co as i64, 1], &sign);
            let m = g.node("Mul", &format!("{}.unsign", c.name), &[&m, &s_init], vec![]);
            let r = g.node("Relu", &format!("{}.relu", c.name), &[&m], vec![]);
            let y = affine(&mut g, &format!("{}.bn", c.name), &r, &bn, &[co as i64, 1], None);
            front.push(y);
            continue;
        }
        let r = g.node("Relu", &format!("{}.relu", c.name), &[&z], vec![]);
        probes.push(probe(&mut g, &c.name, &r, &[2, 3], co));
        let y = affine(&mut g, &format!("{}.bn", c.name), &r, &bn, &[co as i64, 1, 1], None);
        let pooled =
            g.node("ReduceMax", &format!("{}.freq_max", c.name), &[&y], vec![ints("axes", &[3]), int("keepdims", 0)]);
        front.push(pooled);
    }
    let refs: Vec<&str> = front.iter().map(String::as_str).collect();
    let front = g.node("Concat", "front.concat", &refs, vec![int("axis", 1)]);

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
    g.finish("musicnn_trunk")
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
