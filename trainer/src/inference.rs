//! Running ONNX model graphs outside the engine: a graph over many windows at once (trunk
//! embeddings for the heads, ReLU probes for pruning) and single-window latency of a model folder.
//!
//! Bulk runs use batches of windows per `Session::run` and one single-threaded session per worker
//! thread, so the result does not depend on the thread count.
use anyhow::{ensure, Context};
use genrescope_core::model::session::{self, SessionOptions};
use genrescope_core::model::Ensemble;
use ort::value::TensorRef;
use std::path::Path;
use std::time::Instant;

/// Windows per `run` call.
const BATCH: usize = 16;

/// Runs `model` (input `input` `[N, shape...]`) on every window of `windows` (each `window_len`
/// values) and returns, per window, the listed outputs concatenated in order.
pub fn run_outputs(
    model: &Path,
    input: &str,
    shape: &[i64],
    outputs: &[(String, usize)],
    windows: &[f32],
    window_len: usize,
    threads: usize,
) -> anyhow::Result<Vec<f32>> {
    ensure!(window_len > 0 && windows.len().is_multiple_of(window_len), "windows are not whole");
    let n = windows.len() / window_len;
    let stride: usize = outputs.iter().map(|o| o.1).sum();
    let mut out = vec![0.0f32; n * stride];
    let threads = threads.clamp(1, 16);
    let per = n.div_ceil(threads).max(1);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut jobs = Vec::new();
        for (w, o) in windows.chunks(per * window_len).zip(out.chunks_mut(per * stride)) {
            jobs.push(s.spawn(move || -> anyhow::Result<()> {
                let mut sess = session::build(model, SessionOptions::default())?;
                for (wb, ob) in w.chunks(BATCH * window_len).zip(o.chunks_mut(BATCH * stride)) {
                    let b = wb.len() / window_len;
                    let mut dims = vec![b as i64];
                    dims.extend_from_slice(shape);
                    let t = TensorRef::from_array_view((dims, wb))?;
                    let res =
                        genrescope_core::model::ensemble::with_flush_to_zero(|| sess.run(ort::inputs![input => t]))?;
                    let mut off = 0;
                    for (name, dim) in outputs {
                        let (_, v) =
                            res[name.as_str()].try_extract_tensor::<f32>().with_context(|| format!("output {name}"))?;
                        ensure!(v.len() == b * dim, "output {name}: {} values for {b} x {dim}", v.len());
                        for i in 0..b {
                            ob[i * stride + off..i * stride + off + dim].copy_from_slice(&v[i * dim..(i + 1) * dim]);
                        }
                        off += dim;
                    }
                }
                Ok(())
            }));
        }
        for j in jobs {
            j.join().map_err(|_| anyhow::anyhow!("ONNX worker thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

/// Median single-window latency (µs) of the whole model and of its trunk, 1 thread, measured
/// interleaved (whole, trunk, whole, …) so that load changes hit both alike.
pub fn latency_us(model: &Path, iters: usize) -> anyhow::Result<(f64, f64)> {
    let mut e = Ensemble::load(model)?;
    let w: Vec<f32> = (0..e.window_len()).map(|i| 1.0 + ((i * 7919) % 97) as f32 / 50.0).collect();
    for _ in 0..5 {
        e.run(&w)?;
    }
    let (mut whole, mut trunk) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for _ in 0..iters {
        let s = Instant::now();
        e.run(&w)?;
        whole.push(s.elapsed().as_secs_f64() * 1e6);
        let s = Instant::now();
        e.run_trunk(&w)?;
        trunk.push(s.elapsed().as_secs_f64() * 1e6);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(whole), median(trunk)))
}

/// One trunk to time with [`trunk_latencies`].
pub struct TrunkVariant<'a> {
    pub label: String,
    pub entry: &'a genrescope_core::model::TrunkEntry,
    pub dir: &'a Path,
    /// Run the whole-window graph even if the entry has a streaming split.
    pub whole_window: bool,
}

/// Median latency (µs) of each trunk per prediction, 1 thread, on the windows of a stream of
/// model-input frames (`frames`, `frame_dim` values each) every `hop` frames, as the analysis
/// thread would see them. Measured interleaved (every variant on window 1, then on window 2, …),
/// so load changes hit all alike; `passes` passes over the stream after one untimed pass.
pub fn trunk_latencies(
    variants: &[TrunkVariant],
    input: &genrescope_core::model::InputSpec,
    frames: &[f32],
    hop: usize,
    passes: usize,
) -> anyhow::Result<Vec<(String, f64)>> {
    use genrescope_core::model::{with_flush_to_zero, TrunkRunner};
    let n = input.window_frames;
    let dim = input.shape.iter().skip(2).product::<i64>().max(1) as usize;
    ensure!(frames.len() >= n * dim, "the stream is shorter than a window");
    let mut runners = variants
        .iter()
        .map(|v| {
            let opts = SessionOptions { whole_window_trunk: v.whole_window, ..SessionOptions::default() };
            TrunkRunner::from_entry(v.entry, v.dir, input, opts)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let total = frames.len() / dim;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for pass in 0..=passes {
        runners.iter_mut().for_each(TrunkRunner::reset);
        let mut end = n;
        while end <= total {
            let w = &frames[(end - n) * dim..end * dim];
            for (r, t) in runners.iter_mut().zip(&mut times) {
                let s = Instant::now();
                with_flush_to_zero(|| r.run(w, Some(end as u64)))?;
                if pass > 0 {
                    t.push(s.elapsed().as_secs_f64() * 1e6);
                }
            }
            end += hop;
        }
    }
    Ok(variants
        .iter()
        .zip(times)
        .map(|(v, mut t)| {
            t.sort_by(f64::total_cmp);
            (v.label.clone(), t.get(t.len() / 2).copied().unwrap_or(f64::NAN))
        })
        .collect())
}

/// Median latency (µs) of a whole model (trunk, members, vote) per prediction on the windows of a
/// stream of model-input frames every `hop` frames, as the analysis thread runs it
/// ([`Ensemble::run_at`]: a streaming trunk shares frames between windows); `passes` passes after
/// one untimed pass. `whole_window`: run the whole-window trunk instead.
pub fn model_latency_on_stream(
    model: &Path,
    frames: &[f32],
    hop: usize,
    passes: usize,
    whole_window: bool,
) -> anyhow::Result<f64> {
    let (manifest, dir) = genrescope_core::model::ModelManifest::load(model)?;
    let opts = SessionOptions { whole_window_trunk: whole_window, ..SessionOptions::default() };
    let mut e = Ensemble::from_manifest(manifest, dir, opts)?;
    let n = e.manifest().input.window_frames;
    let dim = e.manifest().front_end.frame_dim();
    let total = frames.len() / dim;
    ensure!(total >= n, "the stream is shorter than a window");
    let mut t = Vec::new();
    for pass in 0..=passes {
        e.reset_stream();
        let mut end = n;
        while end <= total {
            let s = Instant::now();
            e.run_at(&frames[(end - n) * dim..end * dim], end as u64)?;
            if pass > 0 {
                t.push(s.elapsed().as_secs_f64() * 1e6);
            }
            end += hop;
        }
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// This machine's CPU for reports: `/proc/cpuinfo`'s model name and the SIMD features that decide
/// ONNX Runtime's kernels, as this process sees them (through CPUID, so a CPUID mask shows).
pub fn cpu_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".to_string(), |v| v.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    #[cfg(target_arch = "x86_64")]
    let flags: Vec<&str> = [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
        ("avx512_vnni", std::arch::is_x86_feature_detected!("avx512vnni")),
        ("avx_vnni", std::arch::is_x86_feature_detected!("avxvnni")),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    #[cfg(not(target_arch = "x86_64"))]
    let flags: Vec<&str> = Vec::new();
    format!("{model}, {cores} logical CPUs, {}", if flags.is_empty() { "no AVX2".into() } else { flags.join(" ") })
}

/// One row of [`latency_table`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct LatencyRow {
    /// The manifest timed (its file name).
    pub manifest: String,
    /// `fp32` / `int8-qdq`, `streaming` or `whole windows`.
    pub trunk: String,
    pub hop_frames: usize,
    pub hop_s: f64,
    /// Median per prediction (trunk, members, vote), µs.
    pub us: f64,
    /// Share of one core at that hop: time per prediction / time between predictions.
    pub core_share: f64,
}

/// Per-prediction latency of every manifest in a model folder (`manifest*.json`: the shipped one
/// and e.g. its fp32 twin), with its streaming trunk (if any) and with whole windows, at each hop
/// (seconds; windows side by side when `None`), on `frames` (model-input frames of a stream) or,
/// without them, on 30 s of deterministic noise through the model's own front end transform.
pub fn latency_table(
    model_dir: &Path,
    audio: Option<&Path>,
    hops_s: &[Option<f64>],
    passes: usize,
) -> anyhow::Result<Vec<LatencyRow>> {
    use genrescope_core::features::{extract_mel_at_rate, FeatureTransform};
    use genrescope_core::model::ModelManifest;
    let mut manifests: Vec<std::path::PathBuf> = std::fs::read_dir(model_dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("manifest") && n.ends_with(".json"))
        })
        .collect();
    manifests.sort();
    ensure!(!manifests.is_empty(), "no manifest*.json in {}", model_dir.display());
    let mut rows = Vec::new();
    for m in &manifests {
        let (manifest, _) = ModelManifest::load(m)?;
        let spec = &manifest.front_end;
        let mel = match audio {
            Some(a) => {
                let d = genrescope_core::audio_file::decode_file(a)?;
                extract_mel_at_rate(spec, &d.to_mono(), d.sample_rate as f32)?.0
            }
            None => {
                // 30 s of frames: a spectral slope times deterministic noise, like music's power.
                let n = (30.0 * spec.frames_per_second()) as usize;
                let mut s = 0x2545_f491u32;
                (0..n * spec.mel_dim())
                    .map(|i| {
                        s ^= s << 13;
                        s ^= s >> 17;
                        s ^= s << 5;
                        let band = (i % spec.mel_dim()) as f32;
                        0.3 * (s as f32 / u32::MAX as f32) / (1.0 + band / 8.0).powi(2)
                    })
                    .collect()
            }
        };
        let mut frames = vec![0.0; mel.len() / spec.mel_dim() * spec.frame_dim()];
        FeatureTransform::new(spec)?.apply(&mel, &mut frames);
        let streams = manifest.trunk.as_ref().is_some_and(|t| t.streaming.is_some());
        let q = manifest.trunk.as_ref().map_or("no trunk".into(), |t| {
            serde_json::to_value(t.quantization).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        });
        for hop_s in hops_s {
            let hop = hop_s.map_or(manifest.input.window_frames, |h| (h * spec.frames_per_second()).round() as usize);
            let hop = hop.max(1);
            for whole in if streams { vec![false, true] } else { vec![true] } {
                let us = model_latency_on_stream(m, &frames, hop, passes, whole)?;
                let hop_s = hop as f64 / spec.frames_per_second();
                rows.push(LatencyRow {
                    manifest: m.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                    trunk: format!("{q}, {}", if whole { "whole windows" } else { "streaming" }),
                    hop_frames: hop,
                    hop_s,
                    us,
                    core_share: us / 1e6 / hop_s,
                });
            }
        }
    }
    Ok(rows)
}
