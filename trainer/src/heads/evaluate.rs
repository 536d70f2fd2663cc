//! A model folder through the engine (`Genrescope analyze`'s code) on held-out clips, as they are
//! and as a DAW or a library would hand them over: other levels, rates, channel counts, lossy
//! codecs. Track verdict = the engine's file verdict (soft vote over non-gated windows).
use crate::data::Clip;
use crate::metrics::{evaluate, Evaluation, Probs};
use genrescope_core::audio_file::{decode_file, DecodedAudio};
use genrescope_engine::{file_verdict, OfflineEngine, OfflineSettings};
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

/// One variant's results over the clips.
#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub track: Evaluation,
    /// Windows the engine judged, and how many of them the gate closed.
    pub windows: usize,
    pub gated: usize,
    /// Per clip: the engine's top genre (None when every window was gated).
    pub verdicts: Vec<(String, Option<usize>)>,
}

/// Runs `model` on every clip under every variant; variants that need ffmpeg are skipped (with a
/// note) when it is missing.
pub fn engine_results(
    model: &Path,
    clips: &[Clip],
    variants: &[Variant],
    tmp: &Path,
) -> anyhow::Result<Vec<VariantResult>> {
    std::fs::create_dir_all(tmp)?;
    let mut engine = OfflineEngine::new(model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = OfflineSettings::default();
    let have_ffmpeg = ffmpeg_version().is_some();
    let mut out = Vec::new();
    for v in variants {
        if matches!(v, Variant::StereoAt(_) | Variant::Codec(_)) && !have_ffmpeg {
            eprintln!("evaluate: ffmpeg not installed, skipping {}", v.label());
            continue;
        }
        let (mut probs, mut labels, mut verdicts) = (Vec::<Probs>::new(), Vec::new(), Vec::new());
        let (mut windows, mut gated) = (0, 0);
        for c in clips {
            let audio = variant_audio(&c.path, v, tmp)?;
            let p = engine.analyze(&audio, &settings).map_err(|e| anyhow::anyhow!("{}: {e}", c.path.display()))?;
            windows += p.len();
            gated += p.iter().filter(|p| p.top.is_none()).count();
            let verdict = file_verdict(&p);
            // All windows gated: no verdict, scored as wrong (uniform probabilities).
            probs.push(verdict.unwrap_or([0.1; 10]));
            labels.push(c.label);
            verdicts.push((c.id.clone(), verdict.map(|v| crate::metrics::argmax(&v))));
        }
        let track = evaluate(&probs, &labels);
        eprintln!(
            "engine on {} clips, {}: track {:.3} (balanced {:.3})",
            clips.len(),
            v.label(),
            track.accuracy,
            track.balanced_accuracy
        );
        out.push(VariantResult { variant: v.clone(), track, windows, gated, verdicts });
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
