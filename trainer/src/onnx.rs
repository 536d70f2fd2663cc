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
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

pub const INPUT_NAME: &str = "mfcc";
pub const OUTPUT_NAME: &str = "probs";
/// Opset 17 / IR 8: per-axis DequantizeLinear (>= 13) and accepted by ORT 1.31.
pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;

/// Serializes one member. `quant = Some(ranges)` writes the int8 QDQ variant.
pub fn member_to_onnx(w: &CnnWeights, quant: Option<&ActivationRanges>) -> anyhow::Result<Vec<u8>> {
    let mut g = Graph::default();
    let x = g.normalize(w);
    let mut x = match quant {
        Some(q) => g.qdq(&x, q.input, "in"),
        None => x,
    };
    for (i, conv) in w.convs.iter().enumerate() {
        let dims_w = [conv.out_ch as i64, conv.in_ch as i64, 3, 3];
        let (wt, bias) = match quant {
            Some(q) => {
                let s_in = if i == 0 { q.input } else { q.blocks[i - 1] };
                (
                    g.weight_int8(&format!("conv{i}.w"), &conv.weight, &dims_w, conv.out_ch),
                    g.bias_int32(
                        &format!("conv{i}.b"),
                        &conv.bias,
                        s_in.scale,
                        &conv.weight,
                        conv.out_ch,
                    ),
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
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("pads", &[1, 1, 1, 1]),
                ints("strides", &[1, 1]),
            ],
        );
        let mut y = g.node("Relu", &format!("relu{i}"), &[&y], vec![]);
        if let Some(q) = quant {
            y = g.qdq(&y, q.blocks[i], &format!("relu{i}"));
        }
        let k = POOL_KERNEL as i64;
        let p = POOL_PAD as i64;
        let s = POOL_STRIDE as i64;
        let mut y = g.node(
            "MaxPool",
            &format!("pool{i}"),
            &[&y],
            vec![
                ints("kernel_shape", &[k, k]),
                ints("pads", &[p, p, p, p]),
                ints("strides", &[s, s]),
            ],
        );
        // Max pool keeps the value set, so it reuses its input's quantization parameters.
        if let Some(q) = quant {
            y = g.qdq(&y, q.blocks[i], &format!("pool{i}"));
        }
        x = y;
    }
    let mut x = g.node("Flatten", "flatten", &[&x], vec![int("axis", 1)]);
    let flat_params = quant.map(|q| *q.blocks.last().unwrap_or(&q.input));
    if let Some(p) = flat_params {
        x = g.qdq(&x, p, "flatten");
    }
    let h = dense(&mut g, "fc1", &x, &w.hidden, flat_params);
    let mut h = g.node("Relu", "fc1.relu", &[&h], vec![]);
    if let Some(q) = quant {
        h = g.qdq(&h, q.hidden, "fc1.relu");
    }
    let logits = dense(&mut g, "fc2", &h, &w.output, quant.map(|q| q.hidden));
    g.node_named_out(
        "Softmax",
        "softmax",
        &[&logits],
        OUTPUT_NAME,
        vec![int("axis", 1)],
    );

    let graph = GraphProto {
        name: "genrescope_cnn".into(),
        node: g.nodes,
        initializer: g.inits,
        input: vec![value_info(
            INPUT_NAME,
            &[None, Some(1), Some(w.frames as i64), Some(w.dim as i64)],
        )],
        output: vec![value_info(OUTPUT_NAME, &[None, Some(NUM_GENRES as i64)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
            ..Default::default()
        }],
        producer_name: "genrescope-trainer".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph).into(),
        ..Default::default()
    };
    Ok(model.write_to_bytes()?)
}

/// Gemm with the weight stored transposed (`[d_out, d_in]`, transB=1) so that the
/// per-channel quantization axis is 0 like for Conv.
fn dense(
    g: &mut Graph,
    name: &str,
    x: &str,
    d: &crate::weights::DenseWeights,
    in_q: Option<ActParams>,
) -> String {
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
        None => (
            g.init_f32(&format!("{name}.w"), &dims, &wt),
            g.init_f32(&format!("{name}.b"), &[d.d_out as i64], &d.bias),
        ),
    };
    g.node("Gemm", name, &[x, &w, &b], vec![int("transB", 1)])
}

/// Symmetric per-channel int8 scales: `max|w_c| / 127`.
pub fn channel_scales(w: &[f32], channels: usize) -> Vec<f32> {
    let per = w.len() / channels;
    (0..channels)
        .map(|c| {
            let m = w[c * per..(c + 1) * per]
                .iter()
                .fold(0.0f32, |a, v| a.max(v.abs()));
            if m > 0.0 {
                m / 127.0
            } else {
                1.0
            }
        })
        .collect()
}

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
}

impl Graph {
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = format!("{name}.out");
        self.node_named_out(op, name, inputs, &out, attrs);
        out
    }

    fn node_named_out(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        out: &str,
        attrs: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            op_type: op.into(),
            // Every node named: ORT's tooling (e.g. node exclusion) breaks on empty names.
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            attribute: attrs,
            ..Default::default()
        });
    }

    fn init_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init_raw(name, dims, DataType::FLOAT, raw)
    }

    fn init_raw(&mut self, name: &str, dims: &[i64], dt: DataType, raw: Vec<u8>) -> String {
        self.inits.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt as i32,
            raw_data: raw,
            ..Default::default()
        });
        name.into()
    }

    fn normalize(&mut self, w: &CnnWeights) -> String {
        let shape = [1, 1, 1, w.dim as i64];
        let mean = self.init_f32("norm.mean", &shape, &w.mean);
        let inv = self.init_f32("norm.inv_std", &shape, &w.inv_std);
        let c = self.node("Sub", "norm.sub", &[INPUT_NAME, &mean], vec![]);
        self.node("Mul", "norm.mul", &[&c, &inv], vec![])
    }

    /// QuantizeLinear -> DequantizeLinear with per-tensor uint8 parameters.
    fn qdq(&mut self, x: &str, p: ActParams, name: &str) -> String {
        let s = self.init_f32(&format!("{name}.q.scale"), &[], &[p.scale]);
        let z = self.init_raw(
            &format!("{name}.q.zp"),
            &[],
            DataType::UINT8,
            vec![p.zero_point],
        );
        let q = self.node("QuantizeLinear", &format!("{name}.q"), &[x, &s, &z], vec![]);
        self.node(
            "DequantizeLinear",
            &format!("{name}.dq"),
            &[&q, &s, &z],
            vec![],
        )
    }

    /// int8 weight initializer + per-channel (axis 0) DequantizeLinear.
    fn weight_int8(&mut self, name: &str, w: &[f32], dims: &[i64], channels: usize) -> String {
        let scales = channel_scales(w, channels);
        let per = w.len() / channels;
        let q: Vec<u8> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / scales[i / per]).round().clamp(-127.0, 127.0) as i8 as u8)
            .collect();
        let qn = self.init_raw(&format!("{name}.q"), dims, DataType::INT8, q);
        let s = self.init_f32(&format!("{name}.scale"), &[channels as i64], &scales);
        let z = self.init_raw(
            &format!("{name}.zp"),
            &[channels as i64],
            DataType::INT8,
            vec![0; channels],
        );
        self.node(
            "DequantizeLinear",
            &format!("{name}.dq"),
            &[&qn, &s, &z],
            vec![int("axis", 0)],
        )
    }

    /// int32 bias with scale `s_in * s_w[c]` (what QLinearConv/QGemm expect).
    fn bias_int32(
        &mut self,
        name: &str,
        b: &[f32],
        s_in: f32,
        w: &[f32],
        channels: usize,
    ) -> String {
        let scales: Vec<f32> = channel_scales(w, channels)
            .iter()
            .map(|s| s * s_in)
            .collect();
        let q: Vec<u8> = b
            .iter()
            .zip(&scales)
            .flat_map(|(&v, &s)| {
                ((v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32).to_le_bytes()
            })
            .collect();
        let qn = self.init_raw(&format!("{name}.q"), &[channels as i64], DataType::INT32, q);
        let s = self.init_f32(&format!("{name}.scale"), &[channels as i64], &scales);
        let zp = vec![0u8; 4 * channels];
        let z = self.init_raw(
            &format!("{name}.zp"),
            &[channels as i64],
            DataType::INT32,
            zp,
        );
        self.node(
            "DequantizeLinear",
            &format!("{name}.dq"),
            &[&qn, &s, &z],
            vec![int("axis", 0)],
        )
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| {
            let mut dim = tensor_shape_proto::Dimension::new();
            match d {
                Some(v) => dim.set_dim_value(*v),
                None => dim.set_dim_param("N".into()),
            }
            dim
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(TensorShapeProto {
            dim,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

/// Reads back an fp32 member written by [`member_to_onnx`] (e.g. `models/member_0.fp32.onnx`),
/// so a shipped model can be re-quantized without its burn checkpoint. Only this writer's
/// layout is understood (initializer names and shapes); anything else is an error.
pub fn member_from_onnx(bytes: &[u8]) -> anyhow::Result<CnnWeights> {
    use anyhow::{bail, ensure, Context};
    let model = ModelProto::parse_from_bytes(bytes).context("not an ONNX model")?;
    let graph = model.graph.as_ref().context("ONNX model without a graph")?;
    ensure!(
        !graph.node.iter().any(|n| n.op_type == "QuantizeLinear"),
        "an int8 (QDQ) member: read the fp32 one (its rounding cannot be undone)"
    );
    let find = |name: &str| -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let t = graph
            .initializer
            .iter()
            .find(|t| t.name == name)
            .with_context(|| {
                format!("no initializer {name:?}: not an fp32 member written by genrescope-trainer")
            })?;
        ensure!(
            t.data_type == DataType::FLOAT as i32,
            "initializer {name:?} is not float (an int8 member? re-quantize from the fp32 one)"
        );
        let data: Vec<f32> = if !t.raw_data.is_empty() {
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            t.float_data.clone()
        };
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        ensure!(
            data.len() == dims.iter().product::<usize>(),
            "initializer {name:?}: {} values for shape {dims:?}",
            data.len()
        );
        Ok((dims, data))
    };
    let input = graph
        .input
        .iter()
        .find(|v| v.name == INPUT_NAME)
        .with_context(|| format!("no input {INPUT_NAME:?}"))?;
    let shape: Vec<i64> = match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => {
            t.shape.dim.iter().map(|d| d.dim_value()).collect()
        }
        _ => bail!("input {INPUT_NAME:?} is not a tensor"),
    };
    ensure!(
        shape.len() == 4,
        "input shape {shape:?} is not [N, 1, frames, dim]"
    );
    let (frames, dim) = (shape[2] as usize, shape[3] as usize);

    let (_, mean) = find("norm.mean")?;
    let (_, inv_std) = find("norm.inv_std")?;
    let mut convs = Vec::new();
    while graph
        .initializer
        .iter()
        .any(|t| t.name == format!("conv{}.w", convs.len()))
    {
        let i = convs.len();
        let (d, weight) = find(&format!("conv{i}.w"))?;
        ensure!(
            d.len() == 4 && d[2] == 3 && d[3] == 3,
            "conv{i}.w shape {d:?}"
        );
        let (_, bias) = find(&format!("conv{i}.b"))?;
        ensure!(bias.len() == d[0], "conv{i}.b length");
        convs.push(ConvWeights {
            in_ch: d[1],
            out_ch: d[0],
            weight,
            bias,
        });
    }
    ensure!(
        !convs.is_empty(),
        "no conv0.w: not an fp32 member written by genrescope-trainer"
    );
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
        Ok(DenseWeights {
            d_in,
            d_out,
            weight,
            bias,
        })
    };
    let w = CnnWeights {
        frames,
        dim,
        mean,
        inv_std,
        convs,
        hidden: dense("fc1")?,
        output: dense("fc2")?,
    };
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
