//! ONNX graph writer for one ensemble member, fp32 or static int8 QDQ.
//!
//! Contract with the plugin engine: input `"mfcc"` `[N, 1, frames, dim]` of raw MFCC,
//! output `"probs"` `[N, 10]`; normalization and softmax are inside the graph.
//!
//! QDQ form (what ORT's QDQ transformer fuses into QLinearConv/QGemm): uint8 activations
//! (asymmetric, calibrated ranges), int8 per-output-channel symmetric weights (axis 0),
//! int32 biases with scale `s_x * s_w[c]`. Logits stay float so Softmax runs in float:
//! quantized probabilities would step in 1/255.
use crate::quantize::{ActParams, ActivationRanges};
use crate::weights::{CnnWeights, ConvWeights, DenseWeights, POOL_KERNEL, POOL_PAD, POOL_STRIDE};
use genrescope_core::labels::NUM_GENRES;
use genrescope_onnx_graph::{int, ints, Graph, Reader};

pub const INPUT_NAME: &str = "mfcc";
pub const OUTPUT_NAME: &str = "probs";

/// Serializes one member. `quant = Some(ranges)` writes the int8 QDQ variant.
pub fn member_to_onnx(w: &CnnWeights, quant: Option<&ActivationRanges>) -> anyhow::Result<Vec<u8>> {
    let mut g = Graph::new();
    g.input(INPUT_NAME, &[None, Some(1), Some(w.frames as i64), Some(w.dim as i64)]);
    let x = normalize(&mut g, w);
    let mut x = match quant {
        Some(q) => qdq(&mut g, &x, q.input, "in"),
        None => x,
    };
    for (i, conv) in w.convs.iter().enumerate() {
        let dims_w = [conv.out_ch as i64, conv.in_ch as i64, 3, 3];
        let (wt, bias) = match quant {
            Some(q) => {
                let s_in = if i == 0 { q.input } else { q.blocks[i - 1] };
                (
                    g.weight_int8(&format!("conv{i}.w"), &conv.weight, &dims_w, conv.out_ch),
                    g.bias_int32(&format!("conv{i}.b"), &conv.bias, s_in.scale, &conv.weight, conv.out_ch),
                )
            }
            None => (
                g.init_f32(&format!("conv{i}.w"), &dims_w, &conv.weight),
                g.init_f32(&format!("conv{i}.b"), &[conv.out_ch as i64], &conv.bias),
            ),
        };
        let y = g.node(
            "Conv",
            &format!("conv{i}"),
            &[&x, &wt, &bias],
            vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1]), ints("strides", &[1, 1])],
        );
        let mut y = g.node("Relu", &format!("relu{i}"), &[&y], vec![]);
        if let Some(q) = quant {
            y = qdq(&mut g, &y, q.blocks[i], &format!("relu{i}"));
        }
        let k = POOL_KERNEL as i64;
        let p = POOL_PAD as i64;
        let s = POOL_STRIDE as i64;
        let mut y = g.node(
            "MaxPool",
            &format!("pool{i}"),
            &[&y],
            vec![ints("kernel_shape", &[k, k]), ints("pads", &[p, p, p, p]), ints("strides", &[s, s])],
        );
        // Max pool keeps the value set, so it reuses its input's quantization parameters.
        if let Some(q) = quant {
            y = qdq(&mut g, &y, q.blocks[i], &format!("pool{i}"));
        }
        x = y;
    }
    let mut x = g.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    let flat_params = quant.map(|q| *q.blocks.last().unwrap_or(&q.input));
    if let Some(p) = flat_params {
        x = qdq(&mut g, &x, p, "flatten");
    }
    let h = dense(&mut g, "fc1", &x, &w.hidden, flat_params);
    let mut h = g.node("Relu", "fc1.relu", &[&h], vec![]);
    if let Some(q) = quant {
        h = qdq(&mut g, &h, q.hidden, "fc1.relu");
    }
    let logits = dense(&mut g, "fc2", &h, &w.output, quant.map(|q| q.hidden));
    g.node_named_out("Softmax", "softmax", &[&logits], OUTPUT_NAME, vec![int("axis", 1)]);

    g.output(OUTPUT_NAME, &[None, Some(NUM_GENRES as i64)]);
    g.finish("genrescope_cnn")
}

fn qdq(g: &mut Graph, x: &str, p: ActParams, name: &str) -> String {
    g.qdq(x, p.scale, p.zero_point, name)
}

fn normalize(g: &mut Graph, w: &CnnWeights) -> String {
    let shape = [1, 1, 1, w.dim as i64];
    let mean = g.init_f32("norm.mean", &shape, &w.mean);
    let inv = g.init_f32("norm.inv_std", &shape, &w.inv_std);
    let c = g.node("Sub", "norm.sub", &[INPUT_NAME, &mean], vec![]);
    g.node("Mul", "norm.mul", &[&c, &inv], vec![])
}

/// Gemm with the weight stored transposed (`[d_out, d_in]`, transB=1) so that the
/// per-channel quantization axis is 0 like for Conv.
fn dense(g: &mut Graph, name: &str, x: &str, d: &crate::weights::DenseWeights, in_q: Option<ActParams>) -> String {
    let mut wt = vec![0.0f32; d.d_in * d.d_out];
    for i in 0..d.d_in {
        for o in 0..d.d_out {
            wt[o * d.d_in + i] = d.weight[i * d.d_out + o];
        }
    }
    let dims = [d.d_out as i64, d.d_in as i64];
    let (w, b) = match in_q {
        Some(p) => (
            g.weight_int8(&format!("{name}.w"), &wt, &dims, d.d_out),
            g.bias_int32(&format!("{name}.b"), &d.bias, p.scale, &wt, d.d_out),
        ),
        None => {
            (g.init_f32(&format!("{name}.w"), &dims, &wt), g.init_f32(&format!("{name}.b"), &[d.d_out as i64], &d.bias))
        }
    };
    g.node("Gemm", name, &[x, &w, &b], vec![int("transB", 1)])
}

/// Reads back an fp32 member written by [`member_to_onnx`] (e.g. `models/member_0.fp32.onnx`),
/// so a shipped model can be re-quantized without its burn checkpoint. Only this writer's
/// layout is understood (initializer names and shapes); anything else is an error.
pub fn member_from_onnx(bytes: &[u8]) -> anyhow::Result<CnnWeights> {
    use anyhow::ensure;
    let r = Reader::parse(bytes)?;
    ensure!(!r.has_op("QuantizeLinear"), "an int8 (QDQ) member: read the fp32 one (its rounding cannot be undone)");
    let find =
        |name: &str| r.f32(name).map_err(|e| anyhow::anyhow!("{e}: not an fp32 member written by genrescope-trainer"));
    let shape = r.input_dims(INPUT_NAME)?;
    ensure!(shape.len() == 4, "input shape {shape:?} is not [N, 1, frames, dim]");
    let (frames, dim) = (shape[2] as usize, shape[3] as usize);

    let (_, mean) = find("norm.mean")?;
    let (_, inv_std) = find("norm.inv_std")?;
    let mut convs = Vec::new();
    while r.has_initializer(&format!("conv{}.w", convs.len())) {
        let i = convs.len();
        let (d, weight) = find(&format!("conv{i}.w"))?;
        ensure!(d.len() == 4 && d[2] == 3 && d[3] == 3, "conv{i}.w shape {d:?}");
        let (_, bias) = find(&format!("conv{i}.b"))?;
        ensure!(bias.len() == d[0], "conv{i}.b length");
        convs.push(ConvWeights { in_ch: d[1], out_ch: d[0], weight, bias });
    }
    ensure!(!convs.is_empty(), "no conv0.w: not an fp32 member written by genrescope-trainer");
    // Gemm weights are stored `[d_out, d_in]` (transB); `DenseWeights` is `[d_in, d_out]`.
    let dense = |name: &str| -> anyhow::Result<DenseWeights> {
        let (d, wt) = find(&format!("{name}.w"))?;
        ensure!(d.len() == 2, "{name}.w shape {d:?}");
        let (d_out, d_in) = (d[0], d[1]);
        let (_, bias) = find(&format!("{name}.b"))?;
        ensure!(bias.len() == d_out, "{name}.b length");
        let mut weight = vec![0.0; d_in * d_out];
        for o in 0..d_out {
            for i in 0..d_in {
                weight[i * d_out + o] = wt[o * d_in + i];
            }
        }
        Ok(DenseWeights { d_in, d_out, weight, bias })
    };
    let w = CnnWeights { frames, dim, mean, inv_std, convs, hidden: dense("fc1")?, output: dense("fc2")? };
    let (h, wd) = CnnWeights::final_hw(frames, dim, w.depth());
    ensure!(
        w.hidden.d_in == w.convs.last().unwrap().out_ch * h * wd
            && w.output.d_in == w.hidden.d_out
            && w.output.d_out == NUM_GENRES
            && w.mean.len() == dim
            && w.inv_std.len() == dim,
        "layer shapes do not chain"
    );
    Ok(w)
}
