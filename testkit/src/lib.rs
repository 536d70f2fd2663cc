//! Tiny model folders for tests (dev-only): valid manifests with random-weight ONNX graphs for any
//! front-end spec and window, with or without a trunk, so the engine, plugin and CLI tests run
//! without a trained model (and without the trainer crate).
//!
//! Members (no trunk): window `[N, frames, dim]` → mean over frames → affine → Gemm → Softmax;
//! with [`TinyModel::int8`], the Gemm in static int8 QDQ form (uint8 input, int8 weights).
//! With a trunk: window → mean over frames → Gemm → `embedding` `[N, 16]` (+ `frame_max`
//! `[N, dim]`, the max over frames, and `taggram` `[N, 50]`, Gemm → Sigmoid, like musicnn's tags);
//! heads read `embedding` → Gemm → Softmax. With
//! [`TinyModel::streaming`] the trunk also has a per-frame stage (a 7-frame conv over time, ReLU:
//! 3 frames of context each side, zero-padded at the window's ends) whose mean and max over the
//! window join the embedding's input, written whole and as a streaming split. Predictions are
//! meaningless but deterministic and depend on the input.
//!
//! With [`TinyModel::out_of_set`] the model has the out-of-set class ("other") as an 11th output,
//! and it is not random: its logit is [`OTHER_GAIN`] × (the tilt − [`OTHER_PIVOT`]), where the tilt
//! is the mean normalized feature of the window's upper half of bands minus that of its lower half
//! (with a trunk, the trunk computes it as the extra output `tilt`). For mel front ends: bright
//! audio ([`bright_tones`]) is "other", audio whose energy sits low (bass, voices below 1 kHz) is
//! not, whatever the random genre weights say. Every member has the same rule, so the vote agrees.

pub mod bad_input;
pub mod hostile;

use anyhow::Context;
use genrescope_core::features::{Compression, FrontEndSpec};
use genrescope_core::labels::{GENRES, NUM_GENRES, NUM_TAGS, TAGS_OUTPUT};
use genrescope_core::model::{
    Calibration, InputSpec, MemberEntry, ModelFile, ModelManifest, OutOfSet, Quantization, StreamingSplit, TrunkEntry,
    TrunkOutput, Vote, FORMAT_VERSION, MANIFEST_FILE,
};
use genrescope_onnx_graph::{int, ints, ActParams, Graph};
use std::path::Path;

/// What to write.
#[derive(Clone, Debug)]
pub struct TinyModel {
    pub spec: FrontEndSpec,
    pub window_frames: usize,
    pub members: usize,
    /// Members read the outputs of a shared trunk (and the model has an embedding).
    pub trunk: bool,
    /// Members without a trunk are written as int8 QDQ graphs ([`Quantization::Int8Qdq`]).
    pub int8: bool,
    /// The trunk has a per-frame stage and a streaming split (needs a frame-causal normalization).
    pub streaming: bool,
    pub seed: u64,
    /// The out-of-set class and its threshold (members output one more class, "other").
    pub out_of_set: Option<f32>,
    pub vote: Option<Vote>,
    pub calibration: Option<Calibration>,
}

/// The tiny streaming trunk's per-frame stage: channels and context (frames each side).
pub const TINY_FRAME_CHANNELS: usize = 4;
pub const TINY_CONTEXT: usize = 3;

/// Slope of the out-of-set logit per unit of tilt (see the crate docs): steep, so "other" is
/// near 0 or near 1 except close to the pivot.
pub const OTHER_GAIN: f32 = 12.0;
/// The tilt at which "other" and the genres' logits are level.
pub const OTHER_PIVOT: f32 = 0.0;

impl TinyModel {
    /// Two members on the window, for `spec` with a ~3 s window.
    pub fn new(spec: FrontEndSpec) -> Self {
        let window_frames = (3.0 * spec.frames_per_second()).round().max(1.0) as usize;
        Self {
            spec,
            window_frames,
            members: 2,
            trunk: false,
            int8: false,
            streaming: false,
            seed: 1,
            out_of_set: None,
            vote: None,
            calibration: None,
        }
    }

    /// A trunk + `heads` heads, like the musicnn models.
    pub fn with_trunk(mut self, heads: usize) -> Self {
        self.trunk = true;
        self.members = heads;
        self
    }

    /// A trunk (+ `heads` heads) with a per-frame stage, written whole and as a streaming split.
    pub fn streaming(mut self, heads: usize) -> Self {
        self.streaming = true;
        self.with_trunk(heads)
    }

    /// Members as int8 QDQ graphs (same weights as the fp32 model of the same seed, rounded),
    /// the form ONNX Runtime runs as QGemm.
    pub fn int8(mut self) -> Self {
        self.int8 = true;
        self
    }

    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    pub fn window_frames(mut self, n: usize) -> Self {
        self.window_frames = n;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// With the out-of-set class "other" and this threshold (see the crate docs for what it
    /// calls other). The genre weights are those of the model without it (same seed).
    pub fn out_of_set(mut self, threshold: f32) -> Self {
        self.out_of_set = Some(threshold);
        self
    }

    /// A `vote` for the manifest (weights `[members][classes]`).
    pub fn vote(mut self, vote: Vote) -> Self {
        self.vote = Some(vote);
        self
    }

    pub fn calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = Some(calibration);
        self
    }

    /// Writes the ONNX files and `manifest.json` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> anyhow::Result<ModelManifest> {
        anyhow::ensure!(!(self.int8 && self.trunk), "int8 members are written for models without a trunk");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dim = self.spec.frame_dim();
        let frames = self.window_frames;
        let mut rng = Lcg(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (offset, scale) = match self.spec.compression {
            Compression::PowerToDb { .. } => (-40.0, 1.0 / 40.0),
            Compression::Log10OnePlus { .. } => (1.0, 1.0),
        };
        let write = |name: &str, bytes: Vec<u8>| -> anyhow::Result<String> {
            std::fs::write(dir.join(name), &bytes).with_context(|| format!("writing {name}"))?;
            Ok(genrescope_core::sha256_hex(&bytes))
        };
        let input = "features";
        let mut trunk = None;
        let mut members = Vec::new();
        const EMB: usize = 16;
        let oos = self.out_of_set.is_some();
        // Members output the genres, then "other" if the model has it.
        let classes = NUM_GENRES + usize::from(oos);
        if self.trunk {
            let c = if self.streaming { TINY_FRAME_CHANNELS } else { 0 };
            let emb_in = dim + 2 * c;
            let w_emb = rng.weights(EMB * emb_in, 1.0 / (emb_in as f32).sqrt());
            let b_emb = rng.weights(EMB, 0.1);
            // Music-tag scores like musicnn's taggram, from their own generator so that the
            // members' weights are what they were before the trunk had tags.
            let mut tag_rng = Lcg(self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let w_tags = tag_rng.weights(NUM_TAGS * dim, 3.0 / (dim as f32).sqrt());
            let b_tags = tag_rng.weights(NUM_TAGS, 1.0);
            let k = 2 * TINY_CONTEXT + 1;
            let w_frames = rng.weights(c * k * dim, 1.0 / ((k * dim) as f32).sqrt());
            let b_frames = rng.weights(c, 0.3);
            // window [N, T, dim] → per-frame features [N, T, c] (conv over time, 'same' padding).
            let frame_stage = |g: &mut Graph, x: &str| -> String {
                let norm = affine(g, x, offset, scale);
                let axis = g.init_i64("frames.axis1", &[1], &[1]);
                let x4 = g.node("Unsqueeze", "frames.unsqueeze", &[&norm, &axis], vec![]);
                let w = g.init_f32("frames.w", &[c as i64, 1, k as i64, dim as i64], &w_frames);
                let b = g.init_f32("frames.b", &[c as i64], &b_frames);
                let p = TINY_CONTEXT as i64;
                let z = g.node("Conv", "frames.conv", &[&x4, &w, &b], vec![ints("pads", &[p, 0, p, 0])]);
                let axis3 = g.init_i64("frames.axis3", &[1], &[3]);
                let z = g.node("Squeeze", "frames.squeeze", &[&z, &axis3], vec![]);
                let r = g.node("Relu", "frames.relu", &[&z], vec![]);
                g.node("Transpose", "frames.transpose", &[&r], vec![ints("perm", &[0, 2, 1])])
            };
            // window + per-frame features → embedding, frame_max (+ tilt with the out-of-set class).
            let window_stage = |g: &mut Graph, x: &str, f: Option<&str>| -> Vec<TrunkOutput> {
                let mean = g.node("ReduceMean", "mean", &[x], vec![ints("axes", &[1]), int("keepdims", 0)]);
                let norm = affine(g, &mean, offset, scale);
                let mut feats = norm.clone();
                if let Some(f) = f {
                    let fm = g.node("ReduceMean", "frames.mean", &[f], vec![ints("axes", &[1]), int("keepdims", 0)]);
                    let fx = g.node("ReduceMax", "frames.max", &[f], vec![ints("axes", &[1]), int("keepdims", 0)]);
                    feats = g.node("Concat", "emb.concat", &[&feats, &fm, &fx], vec![int("axis", 1)]);
                }
                let w = g.init_f32("emb.w", &[EMB as i64, emb_in as i64], &w_emb);
                let b = g.init_f32("emb.b", &[EMB as i64], &b_emb);
                g.node_named_out("Gemm", "emb", &[&feats, &w, &b], "embedding", vec![int("transB", 1)]);
                g.node_named_out("ReduceMax", "max", &[x], "frame_max", vec![ints("axes", &[1]), int("keepdims", 0)]);
                let tw = g.init_f32("tags.w", &[NUM_TAGS as i64, dim as i64], &w_tags);
                let tb = g.init_f32("tags.b", &[NUM_TAGS as i64], &b_tags);
                let tag_logits = g.node("Gemm", "tags", &[&norm, &tw, &tb], vec![int("transB", 1)]);
                g.node_named_out("Sigmoid", "tags.sigmoid", &[&tag_logits], TAGS_OUTPUT, vec![]);
                g.output("embedding", &[None, Some(EMB as i64)]);
                g.output("frame_max", &[None, Some(dim as i64)]);
                g.output(TAGS_OUTPUT, &[None, Some(NUM_TAGS as i64)]);
                let mut outputs = vec![
                    TrunkOutput { name: "embedding".into(), dim: EMB },
                    TrunkOutput { name: "frame_max".into(), dim },
                    TrunkOutput { name: TAGS_OUTPUT.into(), dim: NUM_TAGS },
                ];
                if oos {
                    let v = g.init_f32("tilt.w", &[1, dim as i64], &tilt_weights(dim));
                    let zero = g.init_f32("tilt.b", &[1], &[0.0]);
                    g.node_named_out("Gemm", "tilt", &[&norm, &v, &zero], "tilt", vec![int("transB", 1)]);
                    g.output("tilt", &[None, Some(1)]);
                    outputs.push(TrunkOutput { name: "tilt".into(), dim: 1 });
                }
                outputs
            };
            let mut g = Graph::new();
            let x = g.input(input, &[None, Some(frames as i64), Some(dim as i64)]);
            let f = self.streaming.then(|| frame_stage(&mut g, &x));
            let outputs = window_stage(&mut g, &x, f.as_deref());
            let sha = write("trunk.onnx", g.finish("tiny_trunk")?)?;
            let mut streaming = None;
            if self.streaming {
                const FRAME_OUT: &str = "frame_features";
                let mut g = Graph::new();
                let x = g.input_sym(input, &[Err("N"), Err("L"), Ok(dim as i64)]);
                let f = frame_stage(&mut g, &x);
                g.rename(&f, FRAME_OUT);
                g.output_sym(FRAME_OUT, &[Err("N"), Err("L"), Ok(c as i64)]);
                let frames_sha = write("trunk_frames.onnx", g.finish("tiny_trunk_frames")?)?;
                let mut g = Graph::new();
                let x = g.input(input, &[None, Some(frames as i64), Some(dim as i64)]);
                let f = g.input(FRAME_OUT, &[None, Some(frames as i64), Some(c as i64)]);
                window_stage(&mut g, &x, Some(&f));
                let window_sha = write("trunk_window.onnx", g.finish("tiny_trunk_window")?)?;
                streaming = Some(StreamingSplit {
                    frames: ModelFile { file: "trunk_frames.onnx".into(), sha256: frames_sha },
                    window: ModelFile { file: "trunk_window.onnx".into(), sha256: window_sha },
                    frame_output: FRAME_OUT.into(),
                    channels: c,
                    context: TINY_CONTEXT,
                });
            }
            trunk = Some(TrunkEntry {
                file: "trunk.onnx".into(),
                sha256: sha,
                quantization: Quantization::Fp32,
                outputs,
                origin: Some("genrescope-testkit: random weights".into()),
                quantized_layers: Vec::new(),
                streaming,
            });
        }
        for m in 0..self.members {
            let mut g = Graph::new();
            let (x, d_in) = if self.trunk {
                (g.input("embedding", &[None, Some(EMB as i64)]), EMB)
            } else {
                let x = g.input(input, &[None, Some(frames as i64), Some(dim as i64)]);
                let mean = g.node("ReduceMean", "mean", &[&x], vec![ints("axes", &[1]), int("keepdims", 0)]);
                (affine(&mut g, &mean, offset, scale), dim)
            };
            let mut w = rng.weights(NUM_GENRES * d_in, 2.0 / (d_in as f32).sqrt());
            let mut b = rng.weights(NUM_GENRES, 0.5);
            // Without a trunk the "other" row sits in the same Gemm: the tilt is linear in the features.
            let rows = if self.trunk { NUM_GENRES } else { classes };
            if oos && !self.trunk {
                w.extend(tilt_weights(d_in).iter().map(|v| v * OTHER_GAIN));
                b.push(-OTHER_GAIN * OTHER_PIVOT);
            }
            let dims = [rows as i64, d_in as i64];
            let (x, w, b) = if self.int8 {
                // The normalized features stay within a few units; wider values saturate.
                let p = ActParams::from_range(-4.0, 4.0);
                let x = g.qdq(&x, p.scale, p.zero_point, "fc.in");
                let bq = g.bias_int32("fc.b", &b, p.scale, &w, rows);
                (x, g.weight_int8("fc.w", &w, &dims, rows), bq)
            } else {
                (x, g.init_f32("fc.w", &dims, &w), g.init_f32("fc.b", &[rows as i64], &b))
            };
            let mut logits = g.node("Gemm", "fc", &[&x, &w, &b], vec![int("transB", 1)]);
            if oos && self.trunk {
                let tilt = g.input("tilt", &[None, Some(1)]);
                let gain = g.init_f32("other.gain", &[], &[OTHER_GAIN]);
                let bias = g.init_f32("other.bias", &[], &[-OTHER_GAIN * OTHER_PIVOT]);
                let scaled = g.node("Mul", "other.mul", &[&tilt, &gain], vec![]);
                let other = g.node("Add", "other.add", &[&scaled, &bias], vec![]);
                logits = g.node("Concat", "logits", &[&logits, &other], vec![int("axis", 1)]);
            }
            g.node_named_out("Softmax", "softmax", &[&logits], "probs", vec![int("axis", 1)]);
            g.output("probs", &[None, Some(classes as i64)]);
            let file = format!("member_{m}.onnx");
            let sha = write(&file, g.finish("tiny_member")?)?;
            members.push(MemberEntry {
                file,
                sha256: sha,
                quantization: if self.int8 { Quantization::Int8Qdq } else { Quantization::Fp32 },
                inputs: match (self.trunk, oos) {
                    (true, true) => vec!["embedding".into(), "tilt".into()],
                    (true, false) => vec!["embedding".into()],
                    (false, _) => vec![input.into()],
                },
                output: "probs".into(),
                val_accuracy: None,
                hyperparams: Some(serde_json::json!({"testkit": true, "seed": self.seed, "member": m})),
            });
        }
        let manifest = ModelManifest {
            format_version: FORMAT_VERSION,
            name: "testkit-tiny-model".into(),
            labels: GENRES.iter().map(|s| s.to_string()).collect(),
            front_end_hash: self.spec.hash(),
            front_end: self.spec.clone(),
            input: InputSpec { name: input.into(), shape: vec![-1, frames as i64, dim as i64], window_frames: frames },
            embedding: trunk.as_ref().map(|_| "embedding".to_string()),
            trunk,
            members,
            out_of_set: self.out_of_set.map(|threshold| OutOfSet { label: "other".into(), threshold }),
            vote: self.vote.clone(),
            calibration: self.calibration.clone(),
            notes: Some("Random weights for tests; predictions are meaningless.".into()),
        };
        manifest.write(dir, MANIFEST_FILE)?;
        Ok(manifest)
    }
}

/// Weights whose dot product with a frame is the mean of its upper half of values minus the mean
/// of its lower half (the middle value of an odd count goes to the upper half).
fn tilt_weights(dim: usize) -> Vec<f32> {
    let lo = dim / 2;
    let hi = dim - lo;
    (0..dim).map(|i| if i < lo { -1.0 / lo.max(1) as f32 } else { 1.0 / hi as f32 }).collect()
}

/// `(x - offset) * scale` (nodes named after `x`, so a graph can hold several).
fn affine(g: &mut Graph, x: &str, offset: f32, scale: f32) -> String {
    let o = g.init_f32(&format!("{x}.norm.offset"), &[], &[offset]);
    let s = g.init_f32(&format!("{x}.norm.scale"), &[], &[scale]);
    let c = g.node("Sub", &format!("{x}.norm.sub"), &[x, &o], vec![]);
    g.node("Mul", &format!("{x}.norm.mul"), &[&c, &s], vec![])
}

/// Deterministic weights without a rand dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn weights(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// A fresh, empty directory under the system temp dir, unique to this process and `name`.
/// Directories left by earlier test processes that have exited are removed on first use.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let pid = n.strip_prefix("genrescope-test-").and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    let dir = std::env::temp_dir().join(format!("genrescope-test-{}", std::process::id())).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A 16-bit PCM WAV file's bytes for `channels` (one Vec per channel, equal lengths), clamped to ±1.
pub fn wav_bytes(rate: u32, channels: &[Vec<f32>]) -> Vec<u8> {
    let n_ch = channels.len() as u16;
    let frames = channels[0].len();
    let data_len = (frames * channels.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&n_ch.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * n_ch as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(n_ch * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        for ch in channels {
            let s = (ch[i].clamp(-1.0, 1.0) * 32767.0).round() as i16;
            b.extend_from_slice(&s.to_le_bytes());
        }
    }
    b
}

/// `seconds` of bright tones (a chord between 2.6 and 6.1 kHz with a slow tremolo, about
/// −18 dBFS) on `channels` channels: audio a [`TinyModel::out_of_set`] model with a mel front end
/// calls "other". Music whose energy sits below ~1 kHz is on the other side of its rule.
pub fn bright_tones(rate: u32, seconds: f32, channels: usize) -> Vec<Vec<f32>> {
    let n = (rate as f32 * seconds) as usize;
    (0..channels)
        .map(|c| {
            (0..n)
                .map(|i| {
                    let t = i as f32 / rate as f32;
                    let chord: f32 = [2637.0f32, 3520.0, 4699.0, 6087.0 + c as f32 * 5.0]
                        .iter()
                        .map(|f| (std::f32::consts::TAU * f * t).sin())
                        .sum();
                    let tremolo = 0.7 + 0.3 * (std::f32::consts::TAU * 1.5 * t).sin();
                    0.045 * chord * tremolo
                })
                .collect()
        })
        .collect()
}
