//! The trunk's part of REPORT.md: what ships (int8, streaming, the fp32 twin), the MaxPool
//! rewrite against the ReduceMax graph, int8 vs fp32 agreement through the engine per corpus,
//! and per-prediction latency of every trunk variant on this machine. `report` calls these.
use super::evaluate::{variant_audio, Variant};
use super::run::{input_spec, Outcome, FP32_MANIFEST_FILE};
use crate::data::{Clip, NUM_CLASSES, OUT_OF_SET};
use crate::inference::{cpu_description, model_latency_on_stream, trunk_latencies, TrunkVariant};
use crate::metrics::{vote, Probs};
use genrescope_core::features::{extract_mel_at_rate, FeatureTransform};
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::{Quantization, TrunkEntry, MANIFEST_FILE};
use genrescope_engine::{OfflineEngine, OfflineSettings};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;

/// int8 vs fp32 trunk, the same heads, through the engine, on one corpus's held-out clips.
#[derive(Clone, Debug, Serialize)]
pub struct Agreement {
    pub corpus: String,
    /// Windows both judged (not gated) and those whose top class (genres + out-of-set) agrees.
    pub windows: (usize, usize),
    /// Tracks with a verdict and those whose verdicts agree.
    pub tracks: (usize, usize),
    /// Largest change of any calibrated class probability of a window.
    pub max_prob_change: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrunkReport {
    pub cpu: String,
    pub agreement: Vec<Agreement>,
    /// `(variant, hop frames, µs per prediction)`: trunk alone.
    pub trunk_us: Vec<(String, usize, f64)>,
    /// `(what, hop frames, µs per prediction)`: the shipped model (trunk, members, vote).
    pub model_us: Vec<(String, usize, f64)>,
    /// The clip the latencies ran on.
    pub latency_clip: String,
}

/// Frames of the default plugin hop (0.5 s) and of windows side by side.
const HOP_PLUGIN: usize = 31;

/// Agreement on `clips` (`(clip, corpus index)`, named by `names`) and latency on the first of
/// them; `shipped`: the model folder that ships (the latency of the whole model).
pub fn measure(
    r: &Outcome,
    clips: &[(Clip, usize)],
    names: &[String],
    work: &Path,
    shipped: &Path,
) -> anyhow::Result<TrunkReport> {
    let tmp = work.join("variants");
    std::fs::create_dir_all(&tmp)?;
    let dir = &r.train_only_dir;
    let mut int8 = OfflineEngine::new(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut fp32 = OfflineEngine::new(&dir.join(FP32_MANIFEST_FILE)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let threshold = int8.manifest().out_of_set.as_ref().map_or(f32::INFINITY, |o| o.threshold);
    let settings = OfflineSettings::default();
    let mut per: Vec<Agreement> = names
        .iter()
        .map(|n| Agreement { corpus: n.clone(), windows: (0, 0), tracks: (0, 0), max_prob_change: 0.0 })
        .collect();
    for (c, k) in clips {
        let audio = variant_audio(&c.path, &Variant::AsIs, &tmp)?;
        let err = |e: genrescope_engine::EngineError| anyhow::anyhow!("{}: {e}", c.path.display());
        let a = int8.analyze(&audio, &settings).map_err(err)?;
        let b = fp32.analyze(&audio, &settings).map_err(err)?;
        let probs = |p: &genrescope_engine::Prediction| {
            let mut q = [0.0f32; NUM_CLASSES];
            q[..NUM_GENRES].copy_from_slice(&p.raw);
            q[OUT_OF_SET] = p.other;
            q
        };
        let top = |q: &Probs| (0..NUM_CLASSES).max_by(|&i, &j| q[i].total_cmp(&q[j])).unwrap_or(0);
        let row = &mut per[*k];
        let (mut ja, mut jb) = (Vec::new(), Vec::new());
        for (p, q) in a.iter().zip(&b).filter(|(p, q)| !p.gated && !q.gated) {
            let (p, q) = (probs(p), probs(q));
            row.windows.0 += 1;
            row.windows.1 += usize::from(top(&p) == top(&q));
            let d = p.iter().zip(&q).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            row.max_prob_change = row.max_prob_change.max(d);
            ja.push(p);
            jb.push(q);
        }
        if let (Some(va), Some(vb)) = (vote(&ja), vote(&jb)) {
            row.tracks.0 += 1;
            let verdict = |v: &Probs| super::calibrate::verdict(v, threshold);
            row.tracks.1 += usize::from(verdict(&va) == verdict(&vb));
        }
    }
    per.retain(|a| a.windows.0 > 0);
    for a in &per {
        eprintln!(
            "int8 vs fp32, {}: windows {}/{}, tracks {}/{}, max |Δp| {:.3}",
            a.corpus, a.windows.1, a.windows.0, a.tracks.1, a.tracks.0, a.max_prob_change
        );
    }

    // Latency on the first held-out clip, as a stream of model-input frames.
    let (clip, _) = clips.first().ok_or_else(|| anyhow::anyhow!("no held-out clip for the latency"))?;
    let audio = variant_audio(&clip.path, &Variant::AsIs, &tmp)?;
    let spec = &r.spec;
    let (mel, _) = extract_mel_at_rate(spec, &audio.to_mono(), audio.sample_rate as f32)?;
    let mut stream = vec![0.0; mel.len() / spec.mel_dim() * spec.frame_dim()];
    FeatureTransform::new(spec)?.apply(&mel, &mut stream);
    let t = &r.trunk;
    let reducemax = TrunkEntry {
        file: "trunk_reducemax.onnx".into(),
        streaming: None,
        quantized_layers: Vec::new(),
        quantization: Quantization::Fp32,
        ..t.fp32_entry.clone()
    };
    let reducemax_dir = t.dir.parent().unwrap_or(&t.dir).to_path_buf();
    let v = |label: &str, entry, dir, whole_window| TrunkVariant { label: label.into(), entry, dir, whole_window };
    let mut variants = vec![
        v("fp32, ReduceMax (before)", &reducemax, reducemax_dir.as_path(), true),
        v("fp32, MaxPool rewrite", &t.fp32_entry, t.dir.as_path(), true),
        v("int8 timbral + rewrite", &t.entry, t.dir.as_path(), true),
    ];
    if t.streaming {
        variants.push(v("fp32 streaming", &t.fp32_entry, t.dir.as_path(), false));
        variants.push(v("int8 streaming (shipped)", &t.entry, t.dir.as_path(), false));
    }
    let input = input_spec();
    let mut trunk_us = Vec::new();
    let mut model_us = Vec::new();
    let shipped = shipped.join(MANIFEST_FILE);
    for hop in [HOP_PLUGIN, r.shipped.input.window_frames] {
        for (label, us) in trunk_latencies(&variants, &input, &stream, hop, 3)? {
            eprintln!("latency, hop {hop} frames: {label} {:.2} ms", us / 1e3);
            trunk_us.push((label, hop, us));
        }
        for (label, whole) in [("whole windows", true), ("as shipped", false)] {
            let us = model_latency_on_stream(&shipped, &stream, hop, 3, whole)?;
            model_us.push((label.to_string(), hop, us));
        }
    }
    Ok(TrunkReport { cpu: cpu_description(), agreement: per, trunk_us, model_us, latency_clip: clip.id.clone() })
}

/// "What ships": the trunk files.
pub fn what_ships(r: &Outcome) -> String {
    let t = &r.trunk;
    let outs = t.outputs.iter().map(|(n, d)| format!("`{n}` ({d})")).collect::<Vec<_>>().join(", ");
    let q = &t.int8;
    format!(
        "- `trunk.onnx`: musicnn's MSD_musicnn (Pons & Serra, MTG-UPF; ISC licence, `LICENSE-musicnn.md`), read from its \
         TensorFlow checkpoint, dead front-end filters pruned exactly (below), the **two timbral convs in int8** (static \
         QDQ: u8 activations, the input on 7 bits, s8 per-channel weights; calibrated on fold A, see \"Trunk: int8 and \
         streaming\"), everything else fp32. Outputs: {outs}.{}\n- `manifest-fp32.json`: the same model on the fp32 \
         trunk (`trunk_fp32*.onnx`), for CPUs where int8 is not faster: `Genrescope analyze --model \
         <folder>/manifest-fp32.json`; its heads are the int8 trunk's (agreement below). Weight max {}, input top {}.",
        if t.streaming {
            " Also split for streaming (`trunk_frames.onnx`: input BN + timbral convs per frame, `trunk_window.onnx`: the \
             rest per window): the engine computes each frame's timbral outputs once and shares them between \
             overlapping windows."
        } else {
            ""
        },
        q.weight_max,
        q.input_top
    )
}

fn frac(n: (usize, usize)) -> String {
    if n.0 == 0 {
        "–".into()
    } else {
        format!("{:.1}% ({}/{})", 100.0 * n.1 as f32 / n.0 as f32, n.1, n.0)
    }
}

/// The section "Trunk: int8 and streaming".
pub fn markdown(r: &Outcome, t: &TrunkReport) -> String {
    let mut s = String::new();
    macro_rules! w { ($($a:tt)*) => {{ let _ = writeln!(s, $($a)*); }}; }
    let tr = &r.trunk;
    w!("## Trunk: int8 and streaming\n");
    w!("**MaxPool rewrite.** Each front-end conv's max over frequency is a `MaxPool [1, W]` on filters zero-padded to a multiple of 16 (then Slice + Squeeze) instead of `ReduceMax`, so ONNX Runtime keeps the conv's output in its blocked layout (16 channels on AVX-512, 8 on AVX2). On fold B's {} segments against the ReduceMax graph: {} (largest difference per output: {}).\n",
        tr.rewrite.windows,
        if tr.rewrite.bit_identical { "**bit-identical**" } else { "not bit-identical" },
        tr.rewrite.max_abs_diff.iter().map(|(n, d)| format!("{n} {d:.1e}")).collect::<Vec<_>>().join(", "));
    let q = &tr.int8;
    w!("**int8.** The two timbral convs (81 % of the unpruned MACs) run as QLinearConv: input scale {:.4} (zero point {}, 7 bits: values 0–{}), outputs {} (u8), weights s8 per output channel (±{}). The output range keeps only what the max over frequency can pick that changes a result (see `musicnn/export.rs`). Temporal convs, mid end and dense layers stay fp32 and read fp32 tensors. The heads were trained on this trunk's outputs.\n",
        q.input.scale, q.input.zero_point, q.input_top,
        q.outputs.iter().map(|p| format!("scale {:.4} / zero point {}", p.scale, p.zero_point)).collect::<Vec<_>>().join(", "),
        q.weight_max);
    w!("int8 vs fp32 trunk with the same heads (the train-only model and its `manifest-fp32.json` twin), through the engine on each corpus's fold B, windows side by side; top class of the eleven (genres + other) per window, engine verdict per track:\n");
    w!("| corpus | windows agreeing | tracks agreeing | largest probability change |\n|---|---|---|---|");
    for a in &t.agreement {
        w!("| {} | {} | {} | {:.3} |", a.corpus, frac(a.windows), frac(a.tracks), a.max_prob_change);
    }
    w!("\n**Streaming.** The level normalization is per frame and causal (a running level, τ = {} s), so a frame's model input does not depend on its window, and the trunk is split: `trunk_frames.onnx` (input BN, timbral convs, their max over frequency, ReLU, BN: {} channels per frame, {} frames of context each side) and `trunk_window.onnx` (temporal convs, mid end, pooling, dense layers). The engine keeps each frame's per-frame output in a ring once its {} frames of look-ahead are in, and per prediction computes only the new frames plus the window's first and last {} frames (which see the window's zero padding; the last ones come with the new frames, the first ones from a 6-frame run). Exact up to float rounding: the trainer computes the heads' embeddings through the same code (`core::model::trunk`).\n",
        super::run::LEVEL_TAU_S, tr.shipped.channels, tr.shipped.context, tr.shipped.context, tr.shipped.context);
    w!("**Latency** on this machine ({}), ONNX Runtime, 1 thread, median per prediction over the windows of `{}` (interleaved):\n", t.cpu, t.latency_clip);
    w!("| trunk | every 0.5 s (31 frames, the plugin's default) | windows side by side (`analyze`) |\n|---|---|---|");
    let labels: Vec<&String> = t.trunk_us.iter().filter(|x| x.1 == HOP_PLUGIN).map(|x| &x.0).collect();
    let cell = |rows: &[(String, usize, f64)], l: &str, plugin: bool| {
        rows.iter()
            .find(|x| x.0 == l && (x.1 == HOP_PLUGIN) == plugin)
            .map_or("–".into(), |x| format!("{:.2} ms", x.2 / 1e3))
    };
    for l in labels {
        w!("| {l} | {} | {} |", cell(&t.trunk_us, l, true), cell(&t.trunk_us, l, false));
    }
    for l in ["whole windows", "as shipped"] {
        w!(
            "| whole model (trunk + heads + vote), {l} | {} | {} |",
            cell(&t.model_us, l, true),
            cell(&t.model_us, l, false)
        );
    }
    w!("");
    s
}
