//! A model folder through the engine (`Genrescope analyze`'s code) on held-out clips, as they are
//! and as a DAW or a library would hand them over: other levels, rates, channel counts, lossy
//! codecs. Track verdict as the engine gives it: the mean over non-gated windows of the calibrated
//! probabilities; "other" when the out-of-set probability reaches the model's threshold, else the
//! most probable genre. Scored per corpus.
use crate::data::Clip;
use crate::data::{NUM_CLASSES, OUT_OF_SET};
use crate::metrics::{evaluate, evaluate_verdicts, Evaluation, Probs};
use genrescope_core::audio_file::{decode_file, DecodedAudio};
use genrescope_core::labels::NUM_GENRES;
use genrescope_engine::{OfflineEngine, OfflineSettings};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a clip is changed before the engine sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Variant {
    /// The decoded clip (22050 Hz mono for GTZAN).
    AsIs,
    /// Scaled by this many dB (samples past ±1 are left as they are, as a float mix bus would).
    Gain(f32),
    /// Resampled by ffmpeg (soxr) to this rate, two identical channels.
    StereoAt(u32),
    /// Through an ffmpeg codec and back (`libmp3lame` 128k, `aac` 128k).
    Codec(String),
}

impl Variant {
    pub fn label(&self) -> String {
        match self {
            Variant::AsIs => "as is".into(),
            Variant::Gain(db) => format!("{db:+} dB"),
            Variant::StereoAt(r) => format!("{:.1} kHz stereo", *r as f32 / 1000.0),
            Variant::Codec(c) => c.clone(),
        }
    }
}

/// `ffmpeg -version`'s first line, if ffmpeg is installed (needed for rates and codecs).
pub fn ffmpeg_version() -> Option<String> {
    let out = Command::new("ffmpeg").arg("-version").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string())
}

fn ffmpeg(input: &Path, args: &[&str], output: &Path) -> anyhow::Result<()> {
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(args)
        .arg(output)
        .status()?;
    anyhow::ensure!(st.success(), "ffmpeg failed on {}", input.display());
    Ok(())
}

/// The clip's audio under `variant` (temporary files in `tmp`).
pub fn variant_audio(clip: &Path, variant: &Variant, tmp: &Path) -> anyhow::Result<DecodedAudio> {
    match variant {
        Variant::AsIs => Ok(decode_file(clip)?),
        Variant::Gain(db) => {
            let mut a = decode_file(clip)?;
            let g = 10f32.powf(db / 20.0);
            a.channels.iter_mut().flatten().for_each(|x| *x *= g);
            Ok(a)
        }
        Variant::StereoAt(rate) => {
            let out = tmp.join(format!("variant-{rate}.wav"));
            ffmpeg(
                clip,
                &["-ac", "2", "-ar", &rate.to_string(), "-af", "aresample=resampler=soxr", "-c:a", "pcm_f32le"],
                &out,
            )?;
            Ok(decode_file(&out)?)
        }
        Variant::Codec(codec) => {
            let ext = if codec.contains("mp3") { "mp3" } else { "m4a" };
            let enc = tmp.join(format!("variant.{ext}"));
            ffmpeg(clip, &["-c:a", codec, "-b:a", "128k"], &enc)?;
            Ok(decode_file(&enc)?)
        }
    }
}

/// One clip as the engine judged it.
#[derive(Clone, Debug, Serialize)]
pub struct ClipResult {
    pub id: String,
    pub corpus: usize,
    pub label: usize,
    /// Mean over the non-gated windows of the calibrated class probabilities (genres, then
    /// out-of-set); `None` when every window was gated.
    pub probs: Option<Probs>,
    /// The engine's verdict: a genre, or `OUT_OF_SET` ("other"); `None` when all was gated.
    pub verdict: Option<usize>,
    pub windows: usize,
    pub gated: usize,
}

/// One corpus's clips under one variant, summed up.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusResult {
    pub corpus: String,
    /// The engine's verdicts on the in-set clips (an "other" verdict is a miss).
    pub track: Evaluation,
    /// Genre only (the most probable genre, ignoring the out-of-set flag).
    pub genre_only: Evaluation,
    /// In-set clips flagged out-of-set, of in-set clips.
    pub false_flags: (usize, usize),
    /// Out-of-set clips flagged, of out-of-set clips.
    pub flagged: (usize, usize),
    /// Expected calibration error of the engine's windows (top class incl. out-of-set).
    pub ece: f32,
    pub windows: usize,
    pub gated: usize,
}

/// One variant's results over the clips.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub per_corpus: Vec<CorpusResult>,
    pub clips: Vec<ClipResult>,
}

/// Runs `model` on every clip (`(clip, corpus index)`) under every variant; variants that need
/// ffmpeg are skipped (with a note) when it is missing. `names` names the corpora.
pub fn engine_results(
    model: &Path,
    clips: &[(Clip, usize)],
    names: &[String],
    variants: &[Variant],
    tmp: &Path,
) -> anyhow::Result<Vec<VariantResult>> {
    std::fs::create_dir_all(tmp)?;
    let mut engine = OfflineEngine::new(model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let threshold = engine.manifest().out_of_set.as_ref().map_or(f32::INFINITY, |o| o.threshold);
    let settings = OfflineSettings::default();
    let have_ffmpeg = ffmpeg_version().is_some();
    let mut out = Vec::new();
    for v in variants {
        if matches!(v, Variant::StereoAt(_) | Variant::Codec(_)) && !have_ffmpeg {
            eprintln!("evaluate: ffmpeg not installed, skipping {}", v.label());
            continue;
        }
        let mut results = Vec::new();
        let (mut win_probs, mut win_labels, mut win_corpus) = (Vec::<Probs>::new(), Vec::new(), Vec::new());
        for (c, corpus) in clips {
            let audio = variant_audio(&c.path, v, tmp)?;
            let p = engine.analyze(&audio, &settings).map_err(|e| anyhow::anyhow!("{}: {e}", c.path.display()))?;
            let judged: Vec<Probs> = p
                .iter()
                .filter(|p| !p.gated)
                .map(|p| {
                    let mut q = [0.0f32; NUM_CLASSES];
                    q[..NUM_GENRES].copy_from_slice(&p.raw);
                    q[OUT_OF_SET] = p.other;
                    q
                })
                .collect();
            win_labels.extend(std::iter::repeat_n(c.label, judged.len()));
            win_corpus.extend(std::iter::repeat_n(*corpus, judged.len()));
            let probs = crate::metrics::vote(&judged);
            win_probs.extend(judged);
            results.push(ClipResult {
                id: c.id.clone(),
                corpus: *corpus,
                label: c.label,
                probs,
                verdict: probs.map(|p| super::calibrate::verdict(&p, threshold)),
                windows: p.len(),
                gated: p.iter().filter(|p| p.gated).count(),
            });
        }
        let mut per_corpus = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let rs: Vec<&ClipResult> = results.iter().filter(|r| r.corpus == k).collect();
            if rs.is_empty() {
                continue;
            }
            let labels: Vec<usize> = rs.iter().map(|r| r.label).collect();
            // All windows gated: no verdict, scored as wrong ("other").
            let verdicts: Vec<usize> = rs.iter().map(|r| r.verdict.unwrap_or(OUT_OF_SET)).collect();
            let probs: Vec<Probs> = rs.iter().map(|r| r.probs.unwrap_or([0.0; NUM_CLASSES])).collect();
            let count = |oos: bool| rs.iter().filter(|r| (r.label == OUT_OF_SET) == oos).count();
            let flagged = |oos: bool| {
                rs.iter().filter(|r| (r.label == OUT_OF_SET) == oos && r.verdict == Some(OUT_OF_SET)).count()
            };
            let wi: Vec<usize> = (0..win_probs.len()).filter(|&i| win_corpus[i] == k).collect();
            let wp: Vec<Probs> = wi.iter().map(|&i| win_probs[i]).collect();
            let wl: Vec<usize> = wi.iter().map(|&i| win_labels[i]).collect();
            let r = CorpusResult {
                corpus: name.clone(),
                track: evaluate_verdicts(&verdicts, &labels),
                genre_only: evaluate(&probs, &labels),
                false_flags: (flagged(false), count(false)),
                flagged: (flagged(true), count(true)),
                ece: super::calibrate::ece(&wp, &wl),
                windows: rs.iter().map(|r| r.windows).sum(),
                gated: rs.iter().map(|r| r.gated).sum(),
            };
            eprintln!(
                "engine, {} clips of {name}, {}: track {:.3} (balanced {:.3}), flagged {}/{} out-of-set, {}/{} in-set, ECE {:.3}",
                rs.len(),
                v.label(),
                r.track.accuracy,
                r.track.balanced_accuracy,
                r.flagged.0,
                r.flagged.1,
                r.false_flags.0,
                r.false_flags.1,
                r.ece
            );
            per_corpus.push(r);
        }
        out.push(VariantResult { variant: v.clone(), per_corpus, clips: results });
    }
    Ok(out)
}

/// The variants the report measures.
pub fn report_variants() -> Vec<Variant> {
    let mut v = vec![Variant::AsIs];
    v.extend([-30.0, -20.0, -10.0, 10.0].map(Variant::Gain));
    v.extend([44_100, 48_000, 96_000].map(Variant::StereoAt));
    v.extend(["libmp3lame", "aac"].map(|c| Variant::Codec(c.into())));
    v
}

/// Scratch folder for variant files.
pub fn scratch(work: &Path) -> PathBuf {
    work.join("variants")
}
