//! Out-of-set examples that are not music at all: noises, tones, sweeps, hum, clicks, and speech
//! from `espeak-ng` when it is installed. Written once as 30 s WAV files (22.05 kHz mono) into a
//! folder, deterministically, and returned as a corpus whose clips are all out-of-set, half in each
//! fold (every kind of signal on both sides).
use super::corpora::{Corpus, CorpusClip, Fold, OUT_OF_SET};
use super::corpus::Clip;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f32::consts::TAU;
use std::path::Path;
use std::process::Command;

const RATE: u32 = 22_050;
const SECONDS: usize = 30;

/// Sentences for the speech clips (public-domain style text, any will do).
const SENTENCES: [&str; 4] = [
    "The quick brown fox jumps over the lazy dog while the weather report continues with rain in the north \
     and sunshine in the south, temperatures rising slowly through the afternoon.",
    "Welcome to the evening news. Tonight we look at the city council meeting, the new bridge across the river, \
     and what the election means for schools and hospitals in the region.",
    "Please listen carefully, as our menu options have changed. Press one for sales, press two for support, \
     or stay on the line and an operator will be with you shortly.",
    "In this lecture we discuss the history of printing, from movable type to the rotary press, and how cheap \
     books changed the way people learned to read and write.",
];

/// One generated signal: a name and its samples.
fn signal(kind: usize, variant: usize, rng: &mut StdRng) -> (String, Vec<f32>) {
    let n = RATE as usize * SECONDS;
    let t = |i: usize| i as f32 / RATE as f32;
    let level = [0.05f32, 0.2, 0.5][variant % 3];
    match kind {
        0 => ("white-noise".into(), (0..n).map(|_| level * rng.random_range(-1.0f32..1.0)).collect()),
        1 => {
            // Pink noise: Paul Kellet's economy filter on white noise.
            let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
            let x = (0..n)
                .map(|_| {
                    let w = rng.random_range(-1.0f32..1.0);
                    b0 = 0.99765 * b0 + w * 0.0990460;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    level * 0.3 * (b0 + b1 + b2 + w * 0.1848)
                })
                .collect();
            ("pink-noise".into(), x)
        }
        2 => {
            let mut y = 0.0f32;
            let x = (0..n)
                .map(|_| {
                    y = 0.998 * y + 0.02 * rng.random_range(-1.0f32..1.0);
                    level * 4.0 * y
                })
                .collect();
            ("brown-noise".into(), x)
        }
        3 => {
            let f = [220.0f32, 440.0, 1000.0, 3000.0][variant % 4];
            ("tone".into(), (0..n).map(|i| level * (TAU * f * t(i)).sin()).collect())
        }
        4 => {
            // Exponential sweep 50 Hz → 8 kHz, repeated every 10 s.
            let (f0, f1, len) = (50.0f32, 8000.0f32, 10.0f32);
            let k = (f1 / f0).ln() / len;
            let x = (0..n)
                .map(|i| {
                    let tt = t(i) % len;
                    level * (TAU * f0 * ((k * tt).exp() - 1.0) / k).sin()
                })
                .collect();
            ("sweep".into(), x)
        }
        5 => {
            // Mains hum with harmonics, under a little noise.
            let f = if variant.is_multiple_of(2) { 50.0f32 } else { 60.0 };
            let x = (0..n)
                .map(|i| {
                    let h: f32 = (1..6).map(|k| (TAU * f * k as f32 * t(i)).sin() / k as f32).sum();
                    level * (0.5 * h + 0.05 * rng.random_range(-1.0f32..1.0))
                })
                .collect();
            ("hum".into(), x)
        }
        6 => {
            // Irregular clicks (a Geiger counter, not a beat).
            let mut x = vec![0.0f32; n];
            let mut i = 0usize;
            while i < n {
                x[i] = level * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                i += rng.random_range(200..20_000);
            }
            ("clicks".into(), x)
        }
        _ => {
            // Dual tones switching at random (a phone keypad), with silences.
            let mut x = vec![0.0f32; n];
            let rows = [697.0f32, 770.0, 852.0, 941.0];
            let cols = [1209.0f32, 1336.0, 1477.0];
            let mut i = 0usize;
            while i < n {
                let len = rng.random_range(2000..8000).min(n - i);
                let (a, b) = (rows[rng.random_range(0..4)], cols[rng.random_range(0..3)]);
                for j in 0..len {
                    x[i + j] = level * 0.5 * ((TAU * a * t(j)).sin() + (TAU * b * t(j)).sin());
                }
                i += len + rng.random_range(1000..6000);
            }
            ("keypad".into(), x)
        }
    }
}

/// Kinds of [`signal`].
const KINDS: usize = 8;

fn write_wav(path: &Path, x: &[f32]) -> anyhow::Result<()> {
    // 16-bit PCM: a plain mono WAV every tool reads (a float WAV carries a channel mask some
    // encoders refuse).
    let spec =
        hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let tmp = path.with_extension("tmp");
    let mut w = hound::WavWriter::create(&tmp, spec)?;
    for &v in x {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    w.finalize()?;
    std::fs::rename(tmp, path)?;
    Ok(())
}

/// Speech by `espeak-ng` (voice, speed), looped to 30 s; `None` when espeak-ng is missing.
fn speech(dir: &Path, sentence: &str, voice: &str, speed: u32) -> Option<Vec<f32>> {
    let out = dir.join(format!("espeak-{voice}-{speed}.raw.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "-w"])
        .arg(&out)
        .arg(sentence)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let a = genrescope_core::audio_file::decode_file(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    let mono = a.to_mono();
    if mono.is_empty() {
        return None;
    }
    // espeak-ng speaks at 22.05 kHz; anything else is resampled by the front end like any file,
    // but the loop below assumes its own rate for the length.
    let n = a.sample_rate as usize * SECONDS;
    Some((0..n).map(|i| 0.8 * mono[i % mono.len()]).collect())
}

/// Writes (or reuses) the clips under `dir` and returns them as a corpus named `synthetic`.
/// `per_fold` signal clips per fold (kinds and levels vary), plus speech clips if espeak-ng works.
pub fn synthetic_corpus(dir: &Path, per_fold: usize, seed: u64) -> anyhow::Result<Corpus> {
    std::fs::create_dir_all(dir)?;
    let mut clips = Vec::new();
    let mut push = |name: String, fold: Fold, original: &str, x: Option<Vec<f32>>| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.wav"));
        if !path.is_file() {
            match x {
                Some(x) => write_wav(&path, &x)?,
                None => return Ok(()),
            }
        }
        clips.push(CorpusClip {
            clip: Clip { path, id: format!("synthetic:{name}"), label: OUT_OF_SET },
            original_label: original.into(),
            artist: None,
            fold,
        });
        Ok(())
    };
    for i in 0..2 * per_fold {
        // Alternate folds; each kind on both sides before the next kind.
        let (kind, variant) = ((i / 2) % KINDS, i / (2 * KINDS));
        let fold = if i % 2 == 0 { Fold::A } else { Fold::B };
        let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let (name, x) = signal(kind, variant, &mut rng);
        push(format!("{name}-{i:03}"), fold, "non-music", Some(x))?;
    }
    let voices = [("en", 140), ("en-us", 175), ("de", 150), ("fr", 160)];
    for (i, s) in SENTENCES.iter().enumerate() {
        for (j, &(voice, speed)) in voices.iter().enumerate().filter(|(j, _)| (j + i) % 2 == 0) {
            let name = format!("speech-{voice}-{i}");
            let path = dir.join(format!("{name}.wav"));
            let x = if path.is_file() { None } else { speech(dir, s, voice, speed) };
            let fold = if (i + j / 2) % 2 == 0 { Fold::A } else { Fold::B };
            push(name, fold, "speech", x)?;
        }
    }
    Ok(Corpus {
        name: "synthetic".into(),
        source: format!("non-music generated by the trainer (noises, tones, sweeps, hum, clicks, keypad tones, espeak-ng speech) in {}", dir.display()),
        clips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_out_of_set_on_both_sides_and_reused() {
        let d = std::env::temp_dir().join(format!("gs-synth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let c = synthetic_corpus(&d, 8, 1).unwrap();
        assert!(c.clips.len() >= 16);
        assert!(c.clips.iter().all(|c| c.clip.label == OUT_OF_SET && c.clip.path.is_file()));
        let a = c.clips.iter().filter(|c| c.fold == Fold::A && c.original_label == "non-music").count();
        assert_eq!(a, 8);
        let bytes = std::fs::read(&c.clips[0].clip.path).unwrap();
        let again = synthetic_corpus(&d, 8, 1).unwrap();
        assert_eq!(again.clips.len(), c.clips.len());
        assert_eq!(std::fs::read(&again.clips[0].clip.path).unwrap(), bytes);
        let a = genrescope_core::audio_file::decode_file(&c.clips[0].clip.path).unwrap();
        assert_eq!(a.sample_rate, RATE);
        assert_eq!(a.num_frames(), RATE as usize * SECONDS);
        let _ = std::fs::remove_dir_all(&d);
    }
}
