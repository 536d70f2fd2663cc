//! A small ONNX graph builder (and initializer reader) over `onnx-protobuf`: the trainer writes its
//! CNN members, the musicnn trunk and the genre heads with it, and the test kit its tiny models.
//!
//! Written here because no maintained Rust crate writes ONNX (burn 0.22 only imports it); see
//! shared/notes/toolchain-findings.md. Opset 17 / IR 8: per-axis DequantizeLinear (>= 13) and
//! accepted by ONNX Runtime 1.31.
use anyhow::{ensure, Context};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, Message, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
pub use onnx_protobuf::{tensor_proto::DataType, ModelProto};

pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;

/// A graph under construction. Node outputs are named `<node name>.out` unless given.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
}

/// A dimension of a graph input or output: fixed, or the dynamic batch `N`.
pub type Dim = Option<i64>;

/// A dimension: fixed (`Ok`), or dynamic with a name (`Err("L")`).
pub type SymDim<'a> = Result<i64, &'a str>;

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a float graph input; returns its name.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.inputs.push(value_info(name, dims));
        name.into()
    }

    /// Declares an existing value as a float graph output (the value must carry this name).
    pub fn output(&mut self, name: &str, dims: &[Dim]) {
        self.outputs.push(value_info(name, dims));
    }

    /// [`Self::input`] with named dynamic dimensions (`Err("L")`): dimensions of the same name are
    /// the same size, different names may differ (plain `input` calls every dynamic one `N`).
    pub fn input_sym(&mut self, name: &str, dims: &[SymDim]) -> String {
        self.inputs.push(value_info_sym(name, dims));
        name.into()
    }

    /// [`Self::output`] with named dynamic dimensions.
    pub fn output_sym(&mut self, name: &str, dims: &[SymDim]) {
        self.outputs.push(value_info_sym(name, dims));
    }

    /// Adds a node with one output named `<name>.out`; returns that name.
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = format!("{name}.out");
        self.node_named_out(op, name, inputs, &out, attrs);
        out
    }

    /// Adds a node whose single output has the given name (e.g. a graph output).
    pub fn node_named_out(&mut self, op: &str, name: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) {
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

    /// Makes `value` available under `name` (an Identity node), e.g. to expose it as an output.
    pub fn rename(&mut self, value: &str, name: &str) {
        self.node_named_out("Identity", &format!("{name}.identity"), &[value], name, vec![]);
    }

    pub fn init_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        assert_eq!(data.len() as i64, dims.iter().product::<i64>(), "initializer {name}: size");
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init_raw(name, dims, DataType::FLOAT, raw)
    }

    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init_raw(name, dims, DataType::INT64, raw)
    }

    pub fn init_raw(&mut self, name: &str, dims: &[i64], dt: DataType, raw: Vec<u8>) -> String {
        self.inits.push(TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt as i32,
            raw_data: raw,
            ..Default::default()
        });
        name.into()
    }

    /// QuantizeLinear -> DequantizeLinear with per-tensor uint8 parameters.
    pub fn qdq(&mut self, x: &str, scale: f32, zero_point: u8, name: &str) -> String {
        let s = self.init_f32(&format!("{name}.q.scale"), &[], &[scale]);
        let z = self.init_raw(&format!("{name}.q.zp"), &[], DataType::UINT8, vec![zero_point]);
        let q = self.node("QuantizeLinear", &format!("{name}.q"), &[x, &s, &z], vec![]);
        self.node("DequantizeLinear", &format!("{name}.dq"), &[&q, &s, &z], vec![])
    }

    /// int8 weight initializer (symmetric, per output channel = axis 0) + DequantizeLinear.
    /// 7-bit range (±63, ONNX Runtime's `reduce_range`): x86 CPUs without VNNI multiply u8 by s8
    /// in pairs summed into int16 (`vpmaddubsw`), which saturates with full-range weights and
    /// made results depend on the machine (measured: 24/40 vs ≥ 32/40 top-1 agreement on an
    /// AVX2-only EPYC); 7-bit weights cannot saturate.
    pub fn weight_int8(&mut self, name: &str, w: &[f32], dims: &[i64], channels: usize) -> String {
        self.weight_int8_max(name, w, dims, channels, WEIGHT_MAX)
    }

    /// [`Self::weight_int8`] with `max_q` as the largest quantized magnitude (63: 7 bits, safe on
    /// every x86 CPU; 127: 8 bits, only where the CPU's u8·s8 products cannot saturate).
    pub fn weight_int8_max(&mut self, name: &str, w: &[f32], dims: &[i64], channels: usize, max_q: f32) -> String {
        let scales = channel_scales_max(w, channels, max_q);
        let per = w.len() / channels;
        let q: Vec<u8> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / scales[i / per]).round().clamp(-max_q, max_q) as i8 as u8)
            .collect();
        let qn = self.init_raw(&format!("{name}.q"), dims, DataType::INT8, q);
        let s = self.init_f32(&format!("{name}.scale"), &[channels as i64], &scales);
        let z = self.init_raw(&format!("{name}.zp"), &[channels as i64], DataType::INT8, vec![0; channels]);
        self.node("DequantizeLinear", &format!("{name}.dq"), &[&qn, &s, &z], vec![int("axis", 0)])
    }

    /// int32 bias with scale `s_in * s_w[c]` (what QLinearConv/QGemm expect) + DequantizeLinear.
    pub fn bias_int32(&mut self, name: &str, b: &[f32], s_in: f32, w: &[f32], channels: usize) -> String {
        self.bias_int32_max(name, b, s_in, w, channels, WEIGHT_MAX)
    }

    /// [`Self::bias_int32`] for weights written by [`Self::weight_int8_max`] with `max_q`.
    pub fn bias_int32_max(
        &mut self,
        name: &str,
        b: &[f32],
        s_in: f32,
        w: &[f32],
        channels: usize,
        max_q: f32,
    ) -> String {
        let scales: Vec<f32> = channel_scales_max(w, channels, max_q).iter().map(|s| s * s_in).collect();
        let q: Vec<u8> = b
            .iter()
            .zip(&scales)
            .flat_map(|(&v, &s)| ((v / s).round().clamp(i32::MIN as f32, i32::MAX as f32) as i32).to_le_bytes())
            .collect();
        let qn = self.init_raw(&format!("{name}.q"), &[channels as i64], DataType::INT32, q);
        let s = self.init_f32(&format!("{name}.scale"), &[channels as i64], &scales);
        let z = self.init_raw(&format!("{name}.zp"), &[channels as i64], DataType::INT32, vec![0u8; 4 * channels]);
        self.node("DequantizeLinear", &format!("{name}.dq"), &[&qn, &s, &z], vec![int("axis", 0)])
    }

    /// Serializes the model.
    pub fn finish(self, graph_name: &str) -> anyhow::Result<Vec<u8>> {
        ensure!(!self.inputs.is_empty() && !self.outputs.is_empty(), "graph {graph_name} needs inputs and outputs");
        let graph = GraphProto {
            name: graph_name.into(),
            node: self.nodes,
            initializer: self.inits,
            input: self.inputs,
            output: self.outputs,
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET, ..Default::default() }],
            producer_name: "genrescope".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph).into(),
            ..Default::default()
        };
        Ok(model.write_to_bytes()?)
    }
}

/// Per-tensor asymmetric uint8 parameters of an activation for [`Graph::qdq`]:
/// `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActParams {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActParams {
    /// From a calibrated `[min, max]` range (e.g. min/max over training windows), widened to
    /// include 0 so that zero (a ReLU's floor, padding) is exact.
    pub fn from_range(min: f32, max: f32) -> Self {
        Self::from_range_levels(min, max, 255)
    }

    /// [`Self::from_range`] onto `0..=top` only (e.g. 127: 7-bit activations).
    pub fn from_range_levels(min: f32, max: f32, top: u8) -> Self {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        let scale = if hi > lo { (hi - lo) / top as f32 } else { 1.0 };
        let zero_point = (-lo / scale).round().clamp(0.0, top as f32) as u8;
        Self { scale, zero_point }
    }

    /// The real values `0..=top` stand for: `[scale·(0 − zp), scale·(top − zp)]`.
    pub fn real_range(&self, top: u8) -> (f32, f32) {
        (-(self.zero_point as f32) * self.scale, (top as f32 - self.zero_point as f32) * self.scale)
    }
}

/// Largest quantized weight magnitude (see [`Graph::weight_int8`]).
pub const WEIGHT_MAX: f32 = 63.0;

/// Symmetric per-channel weight scales: `max|w_c| / WEIGHT_MAX` (1 for an all-zero channel).
pub fn channel_scales(w: &[f32], channels: usize) -> Vec<f32> {
    channel_scales_max(w, channels, WEIGHT_MAX)
}

/// [`channel_scales`] for another largest quantized magnitude.
pub fn channel_scales_max(w: &[f32], channels: usize, max_q: f32) -> Vec<f32> {
    let per = w.len() / channels;
    (0..channels)
        .map(|c| {
            let m = w[c * per..(c + 1) * per].iter().fold(0.0f32, |a, v| a.max(v.abs()));
            if m > 0.0 {
                m / max_q
            } else {
                1.0
            }
        })
        .collect()
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::INTS.into(), ints: v.to_vec(), ..Default::default() }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::INT.into(), i: v, ..Default::default() }
}

pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), type_: AttributeType::FLOAT.into(), f: v, ..Default::default() }
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let sym: Vec<SymDim> = dims.iter().map(|d| d.ok_or("N")).collect();
    value_info_sym(name, &sym)
}

fn value_info_sym(name: &str, dims: &[SymDim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| {
            let mut dim = tensor_shape_proto::Dimension::new();
            match d {
                Ok(v) => dim.set_dim_value(*v),
                Err(p) => dim.set_dim_param((*p).into()),
            }
            dim
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: DataType::FLOAT as i32,
        shape: Some(TensorShapeProto { dim, ..Default::default() }).into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }).into(),
        ..Default::default()
    }
}

/// A parsed model, for reading back what [`Graph`] wrote.
pub struct Reader {
    model: ModelProto,
}

impl Reader {
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        let model = ModelProto::parse_from_bytes(bytes).context("not an ONNX model")?;
        ensure!(model.graph.is_some(), "ONNX model without a graph");
        Ok(Self { model })
    }

    pub fn has_op(&self, op: &str) -> bool {
        self.model.graph.node.iter().any(|n| n.op_type == op)
    }

    pub fn has_initializer(&self, name: &str) -> bool {
        self.model.graph.initializer.iter().any(|t| t.name == name)
    }

    /// A float initializer's shape and values.
    pub fn f32(&self, name: &str) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let t = self
            .model
            .graph
            .initializer
            .iter()
            .find(|t| t.name == name)
            .with_context(|| format!("no initializer {name:?}"))?;
        ensure!(t.data_type == DataType::FLOAT as i32, "initializer {name:?} is not float");
        let data: Vec<f32> = if !t.raw_data.is_empty() {
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        } else {
            t.float_data.clone()
        };
        // Dimensions come from the file: negative ones or an overflowing product are errors, not
        // wrapped numbers (found by the `onnx` fuzz target).
        let dims = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .with_context(|| format!("initializer {name:?}: negative dimension in {:?}", t.dims))?;
        let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        ensure!(count == Some(data.len()), "initializer {name:?}: {} values for shape {dims:?}", data.len());
        Ok((dims, data))
    }

    /// A graph input's dimensions (dynamic ones as -1).
    pub fn input_dims(&self, name: &str) -> anyhow::Result<Vec<i64>> {
        let input =
            self.model.graph.input.iter().find(|v| v.name == name).with_context(|| format!("no input {name:?}"))?;
        match input.type_.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => {
                Ok(t.shape.dim.iter().map(|d| if d.has_dim_value() { d.dim_value() } else { -1 }).collect())
            }
            _ => anyhow::bail!("input {name:?} is not a tensor"),
        }
    }

    /// `(domain, op type, name)` of the graph's nodes, in graph order (e.g. to see what ONNX
    /// Runtime made of a graph it saved optimized).
    pub fn nodes(&self) -> Vec<(&str, &str, &str)> {
        self.model.graph.node.iter().map(|n| (n.domain.as_str(), n.op_type.as_str(), n.name.as_str())).collect()
    }

    /// Names of the graph's nodes, in graph order.
    pub fn node_names(&self) -> Vec<&str> {
        self.model.graph.node.iter().map(|n| n.name.as_str()).collect()
    }

    /// Names of the graph's inputs.
    pub fn input_names(&self) -> Vec<&str> {
        self.model.graph.input.iter().map(|i| i.name.as_str()).collect()
    }

    /// Names of the graph's initializers.
    pub fn initializer_names(&self) -> Vec<&str> {
        self.model.graph.initializer.iter().map(|t| t.name.as_str()).collect()
    }

    /// Names of the graph's outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.model.graph.output.iter().map(|o| o.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_graph_reads_back() {
        let mut g = Graph::new();
        let x = g.input("x", &[None, Some(3)]);
        let w = g.init_f32("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = g.init_f32("b", &[2], &[0.5, -0.5]);
        g.node_named_out("Gemm", "fc", &[&x, &w, &b], "y", vec![int("transB", 1)]);
        g.output("y", &[None, Some(2)]);
        let bytes = g.finish("t").unwrap();
        let r = Reader::parse(&bytes).unwrap();
        assert!(r.has_op("Gemm") && !r.has_op("Conv"));
        assert_eq!(r.f32("w").unwrap(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(r.input_dims("x").unwrap(), vec![-1, 3]);
        assert_eq!(r.output_names(), vec!["y"]);
        assert_eq!(r.node_names(), vec!["fc"]);
        assert!(r.f32("nope").is_err());
        assert!(Reader::parse(b"garbage").is_err());
    }

    #[test]
    fn activation_ranges_map_to_uint8_with_zero_exact() {
        for (lo, hi) in [(-3.0f32, 5.0f32), (0.0, 7.0), (0.5, 2.0), (-4.0, -1.0)] {
            let p = ActParams::from_range(lo, hi);
            let q = |x: f32| ((x / p.scale).round() + p.zero_point as f32).clamp(0.0, 255.0);
            let dq = |q: f32| p.scale * (q - p.zero_point as f32);
            assert_eq!(dq(q(0.0)), 0.0);
            for x in [lo, hi, 0.5 * (lo + hi)] {
                assert!((dq(q(x)) - x).abs() <= 0.51 * p.scale, "{x} in [{lo}, {hi}]: {p:?}");
            }
        }
        // ReLU outputs get zero point 0, which lets ORT drop the Relu before a QuantizeLinear.
        assert_eq!(ActParams::from_range(0.0, 7.0).zero_point, 0);
    }

    #[test]
    fn int8_weights_use_per_channel_scales() {
        let w = [1.0f32, -0.5, 0.0, 0.0];
        assert_eq!(channel_scales(&w, 2), vec![1.0 / WEIGHT_MAX, 1.0]);
    }
}
