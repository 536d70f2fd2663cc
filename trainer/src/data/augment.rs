//! Augmentation of decoded mono training audio, at the clip's own rate, *before* core's host-rate
//! front end (`extract_mel_at_rate`, the plugin's code): gain, low/high shelves, a codec-like
//! low-pass, pitch shift, time-stretch, additive white or pink noise, a synthetic room reverb.
//!
//! Every transform is deterministic for its parameters and a seed ([`Transform::apply`]); the
//! parameters of a clip's copy are drawn from the ranges by [`Augment::sample`], seeded by
//! (clip id, kind, copy, run seed) so that a copy does not depend on the clip list's order
//! ([`plan`]). Mel frames of augmented copies go through the features cache keyed by (clip,
//! transform parameters, seed) ([`featurize_renders`]).
//!
//! Crates: `biquad` (RBJ cookbook shelves and the Butterworth sections of the low-pass),
//! `signalsmith-stretch` (pitch shift and time-stretch), `realfft` (the reverb's convolution).
//! Hand-written: the noise generators and the reverb's impulse response (a few lines each, see
//! there), and the parallel loop (as `features::featurize`'s).
use super::corpus::Clip;
use super::features::{cache_key, read_cache, write_cache, ClipFeatures};
use super::windows::ModelInput;
use crate::audio::load_mono;
use anyhow::{ensure, Context};
use biquad::{Biquad, Coefficients, DirectForm2Transposed, ToHertz, Type};
use genrescope_core::features::extract_mel_at_rate;
use genrescope_core::sha256_hex;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Corner of the low shelf (Hz).
pub const LOW_SHELF_HZ: f64 = 250.0;
/// Corner of the high shelf (Hz).
pub const HIGH_SHELF_HZ: f64 = 4000.0;

/// Kinds of augmentation, each with the parameter range the issue asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// −20 to +10 dB.
    Gain,
    /// Low shelf (250 Hz) and high shelf (4 kHz), each −6 to +6 dB: tilts and bass/treble changes.
    Eq,
    /// 4th-order Butterworth low-pass at 11–16 kHz (what lossy codecs do at low bit rates).
    Lowpass,
    /// Pitch shift, −1 to +1 semitone, duration kept.
    Pitch,
    /// Time-stretch, duration × 0.96 to 1.04, pitch kept.
    Stretch,
    /// White or pink noise at 20–40 dB SNR.
    Noise,
    /// Exponentially decaying noise impulse response, RT60 0.2–1.2 s, wet 10–50 %.
    Reverb,
}

impl Augment {
    pub const ALL: [Augment; 7] = [
        Augment::Gain,
        Augment::Eq,
        Augment::Lowpass,
        Augment::Pitch,
        Augment::Stretch,
        Augment::Noise,
        Augment::Reverb,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Augment::Gain => "gain",
            Augment::Eq => "eq",
            Augment::Lowpass => "lowpass",
            Augment::Pitch => "pitch",
            Augment::Stretch => "stretch",
            Augment::Noise => "noise",
            Augment::Reverb => "reverb",
        }
    }

    /// Parameters drawn uniformly from the kind's range.
    pub fn sample(self, rng: &mut impl Rng) -> Transform {
        match self {
            Augment::Gain => Transform::Gain { db: rng.random_range(-20.0..=10.0) },
            Augment::Eq => {
                Transform::Shelves { low_db: rng.random_range(-6.0..=6.0), high_db: rng.random_range(-6.0..=6.0) }
            }
            Augment::Lowpass => Transform::LowPass { cutoff_hz: rng.random_range(11_000.0..=16_000.0) },
            Augment::Pitch => Transform::Pitch { semitones: rng.random_range(-1.0..=1.0) },
            Augment::Stretch => Transform::Stretch { factor: rng.random_range(0.96..=1.04) },
            Augment::Noise => Transform::Noise {
                snr_db: rng.random_range(20.0..=40.0),
                color: if rng.random_bool(0.5) { NoiseColor::White } else { NoiseColor::Pink },
            },
            Augment::Reverb => {
                Transform::Reverb { rt60_s: rng.random_range(0.2..=1.2), wet: rng.random_range(0.1..=0.5) }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseColor {
    White,
    /// −3 dB per octave (equal energy per octave).
    Pink,
}

/// One transform with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transform {
    Gain {
        db: f32,
    },
    /// RBJ low shelf at [`LOW_SHELF_HZ`] and high shelf at [`HIGH_SHELF_HZ`] (slope 1).
    Shelves {
        low_db: f32,
        high_db: f32,
    },
    /// 4th-order Butterworth; a cutoff at or above the clip's Nyquist frequency leaves it as is.
    LowPass {
        cutoff_hz: f32,
    },
    /// Frequencies × 2^(semitones/12), same length.
    Pitch {
        semitones: f32,
    },
    /// Length × `factor`, same pitch.
    Stretch {
        factor: f32,
    },
    Noise {
        snr_db: f32,
        color: NoiseColor,
    },
    /// `(1 − wet)·x + wet·(x ∗ h)`, `h` white noise under an envelope that falls 60 dB in
    /// `rt60_s`, scaled to unit energy.
    Reverb {
        rt60_s: f32,
        wet: f32,
    },
}

impl Transform {
    /// Canonical text of the parameters (cache keys, logs).
    pub fn key(&self) -> String {
        serde_json::to_string(self).expect("plain data")
    }

    /// `x` (mono at `rate` Hz) transformed; `seed` drives the noise of `Noise` and `Reverb`.
    pub fn apply(&self, x: &[f32], rate: f32, seed: u64) -> anyhow::Result<Vec<f32>> {
        ensure!(rate > 0.0 && !x.is_empty(), "augment: empty audio or rate");
        let fs = rate as f64;
        Ok(match *self {
            Transform::Gain { db } => {
                let g = 10f32.powf(db / 20.0);
                x.iter().map(|v| v * g).collect()
            }
            Transform::Shelves { low_db, high_db } => {
                let low = section(Type::LowShelf(low_db as f64), fs, LOW_SHELF_HZ, biquad::Q_BUTTERWORTH_F64)?;
                let high = section(Type::HighShelf(high_db as f64), fs, HIGH_SHELF_HZ, biquad::Q_BUTTERWORTH_F64)?;
                filter(x, &[low, high])
            }
            Transform::LowPass { cutoff_hz } => {
                if cutoff_hz as f64 >= 0.5 * fs {
                    // Nothing above the cutoff to remove (GTZAN's 22.05 kHz clips end at 11.025 kHz).
                    return Ok(x.to_vec());
                }
                // Butterworth 4th order = two biquads with these Qs (1 / (2 cos(π/8)), 1 / (2 cos(3π/8))).
                let qs = [0.541_196_1, 1.306_563];
                let s: anyhow::Result<Vec<_>> =
                    qs.iter().map(|&q| section(Type::LowPass, fs, cutoff_hz as f64, q)).collect();
                filter(x, &s?)
            }
            Transform::Pitch { semitones } => {
                let mut st = signalsmith_stretch::Stretch::preset_default(1, rate.round() as u32);
                st.set_transpose_factor_semitones(semitones, None);
                let mut out = vec![0.0; x.len()];
                ensure!(st.exact(x, &mut out), "pitch shift: clip too short ({} samples)", x.len());
                out
            }
            Transform::Stretch { factor } => {
                ensure!(factor > 0.0, "stretch factor {factor}");
                let n = (x.len() as f64 * factor as f64).round() as usize;
                let mut st = signalsmith_stretch::Stretch::preset_default(1, rate.round() as u32);
                let mut out = vec![0.0; n];
                ensure!(st.exact(x, &mut out), "time-stretch: clip too short ({} samples)", x.len());
                out
            }
            Transform::Noise { snr_db, color } => {
                let p = power(x);
                if p == 0.0 {
                    return Ok(x.to_vec());
                }
                let mut n = noise(x.len(), color, seed);
                let scale = (p / power(&n) / 10f64.powf(snr_db as f64 / 10.0)).sqrt() as f32;
                n.iter_mut().zip(x).for_each(|(n, &v)| *n = v + *n * scale);
                n
            }
            Transform::Reverb { rt60_s, wet } => {
                ensure!(rt60_s > 0.0 && (0.0..=1.0).contains(&wet), "reverb rt60 {rt60_s} s, wet {wet}");
                let h = room_impulse(rt60_s, rate, seed);
                let y = convolve(x, &h);
                x.iter().zip(&y).map(|(&d, &w)| (1.0 - wet) * d + wet * w).collect()
            }
        })
    }
}

fn section(t: Type<f64>, fs: f64, f0: f64, q: f64) -> anyhow::Result<Coefficients<f64>> {
    Coefficients::<f64>::from_params(t, fs.hz(), f0.hz(), q)
        .map_err(|e| anyhow::anyhow!("biquad {t:?} at {f0} Hz: {e:?}"))
}

/// Runs `x` through the cascade (f64 state: 250 Hz shelves at 44.1 kHz sit close to the unit circle).
fn filter(x: &[f32], sections: &[Coefficients<f64>]) -> Vec<f32> {
    let mut fs: Vec<DirectForm2Transposed<f64>> = sections.iter().map(|&c| DirectForm2Transposed::new(c)).collect();
    x.iter().map(|&v| fs.iter_mut().fold(v as f64, |s, f| f.run(s)) as f32).collect()
}

/// Mean square.
pub fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64
}

/// `n` samples of seeded noise (unscaled). Hand-written: uniform white noise is one line, and pink
/// noise is Paul Kellet's "refined" filter (accurate to ±0.05 dB above 9.2 Hz at 44.1 kHz), a few
/// lines; no crate was worth the dependency.
pub fn noise(n: usize, color: NoiseColor, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x006e_6f69_7365);
    let white = (0..n).map(|_| rng.random_range(-1.0f64..1.0));
    match color {
        NoiseColor::White => white.map(|v| v as f32).collect(),
        NoiseColor::Pink => {
            let mut b = [0.0f64; 7];
            white
                .map(|w| {
                    b[0] = 0.99886 * b[0] + w * 0.0555179;
                    b[1] = 0.99332 * b[1] + w * 0.0750759;
                    b[2] = 0.96900 * b[2] + w * 0.1538520;
                    b[3] = 0.86650 * b[3] + w * 0.3104856;
                    b[4] = 0.55000 * b[4] + w * 0.5329522;
                    b[5] = -0.7616 * b[5] - w * 0.0168980;
                    let p = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
                    b[6] = w * 0.115926;
                    p as f32
                })
                .collect()
        }
    }
}

/// A synthetic room: white noise under `exp(−ln(1000)·t / rt60)` (−60 dB at `rt60`), `rt60` long,
/// unit energy. Hand-written: this is the textbook model of a diffuse tail, not worth a crate.
pub fn room_impulse(rt60_s: f32, rate: f32, seed: u64) -> Vec<f32> {
    let n = ((rt60_s * rate).ceil() as usize).max(1);
    let mut h = noise(n, NoiseColor::White, seed ^ 0x7265_7662);
    let k = (1000f64).ln() / (rt60_s as f64 * rate as f64);
    h.iter_mut().enumerate().for_each(|(i, v)| *v *= (-k * i as f64).exp() as f32);
    let e = power(&h).sqrt() * (n as f64).sqrt();
    h.iter_mut().for_each(|v| *v = (*v as f64 / e) as f32);
    h
}

/// The first `x.len()` samples of `x ∗ h`, by one real FFT of the padded length.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |v: &[f32]| {
        let mut buf = vec![0.0f32; n];
        buf[..v.len()].copy_from_slice(v);
        let mut out = fwd.make_output_vec();
        fwd.process(&mut buf, &mut out).expect("sizes from the plan");
        out
    };
    let (a, b) = (spectrum(x), spectrum(h));
    let mut prod: Vec<_> = a.iter().zip(&b).map(|(a, b)| a * b).collect();
    let mut y = inv.make_output_vec();
    inv.process(&mut prod, &mut y).expect("sizes from the plan");
    y.truncate(x.len());
    let scale = 1.0 / n as f32;
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

/// A seed from text (clip ids), independent of platform and of the order clips are listed in.
pub fn text_seed(parts: &[&str]) -> u64 {
    let h = sha256_hex(parts.join("\u{1f}").as_bytes());
    u64::from_str_radix(&h[..16], 16).expect("hex")
}

/// One augmented copy of a clip.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AugmentedClip {
    /// Index into the clip list.
    pub clip: usize,
    pub kind: Augment,
    pub transform: Transform,
    /// Seed of the transform's own randomness.
    pub seed: u64,
}

/// `copies` augmented copies of every clip for every kind, parameters and seeds drawn from
/// (clip id, kind, copy, `seed`): the same clip gets the same copies in any clip list.
pub fn plan(clips: &[Clip], kinds: &[Augment], copies: usize, seed: u64) -> Vec<AugmentedClip> {
    let mut out = Vec::new();
    for (i, c) in clips.iter().enumerate() {
        for &kind in kinds {
            for copy in 0..copies {
                let s = text_seed(&[&c.id, kind.name(), &copy.to_string(), &seed.to_string()]);
                let mut rng = StdRng::seed_from_u64(s);
                out.push(AugmentedClip { clip: i, kind, transform: kind.sample(&mut rng), seed: rng.random() });
            }
        }
    }
    out
}

/// A decoded clip after `t` (mono samples and their rate).
pub fn render(clip: &Clip, t: &Transform, seed: u64) -> anyhow::Result<(Vec<f32>, u32)> {
    let (x, rate) = load_mono(&clip.path)?;
    let y = t.apply(&x, rate as f32, seed).with_context(|| format!("{}: {}", clip.path.display(), t.key()))?;
    Ok((y, rate))
}

/// Mel frames of renders of clips: item `i` is clip `items[i].0` rendered by `render(i)`, cached in
/// `cache` under (the clip's own cache key, `items[i].1`). `items[i].1` must name everything the
/// render depends on (transform parameters and seed). Failures are recorded, not fatal; frames
/// shorter than one window count as failures, as in `featurize`.
pub fn featurize_renders<F>(
    clips: &[Clip],
    items: &[(usize, String)],
    render: F,
    input: &ModelInput,
    cache: Option<&Path>,
    threads: usize,
) -> ClipFeatures
where
    F: Fn(usize) -> anyhow::Result<(Vec<f32>, u32)> + Sync,
{
    if let Some(dir) = cache {
        let _ = std::fs::create_dir_all(dir);
    }
    let spec = &input.spec;
    let one = |i: usize| -> anyhow::Result<Vec<f32>> {
        let (c, what) = &items[i];
        let file = match cache {
            Some(dir) => {
                let base = cache_key(&clips[*c].path, spec)?;
                Some(dir.join(format!("{}.f32", sha256_hex(format!("augmented-v1\n{base}\n{what}").as_bytes()))))
            }
            None => None,
        };
        if let Some(v) = file.as_deref().and_then(|f| read_cache(f, spec.mel_dim())) {
            return Ok(v);
        }
        let (x, rate) = render(i)?;
        let (mel, _) = extract_mel_at_rate(spec, &x, rate as f32)?;
        if let Some(f) = file {
            // A failed cache write only costs time on the next run.
            let _ = write_cache(&f, &mel);
        }
        Ok(mel)
    };
    let pb = ProgressBar::new(items.len() as u64);
    pb.set_style(ProgressStyle::with_template("augmented features {bar:30} {pos}/{len} [{elapsed}<{eta}]").unwrap());
    let mut results: Vec<Option<anyhow::Result<Vec<f32>>>> = (0..items.len()).map(|_| None).collect();
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (t, chunk) in results.chunks_mut(per).enumerate() {
            let (pb, one) = (&pb, &one);
            s.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(one(t * per + j));
                    pb.inc(1);
                }
            });
        }
    });
    pb.finish_and_clear();
    let window = input.window_frames * spec.mel_dim();
    let mut skipped = Vec::new();
    let frames = results
        .into_iter()
        .zip(items)
        .map(|(r, (c, what))| match r.expect("every item processed") {
            Ok(v) if v.len() >= window => Some(v),
            Ok(v) => {
                skipped.push((clips[*c].path.clone(), format!("{what}: too short ({} values)", v.len())));
                None
            }
            Err(e) => {
                skipped.push((clips[*c].path.clone(), format!("{what}: {e:#}")));
                None
            }
        })
        .collect();
    ClipFeatures { frames, skipped }
}

/// Mel frames of the augmented copies in `plan` (frames `i` for `plan[i]`), through the cache.
pub fn featurize_augmented(
    clips: &[Clip],
    plan: &[AugmentedClip],
    input: &ModelInput,
    cache: Option<&Path>,
    threads: usize,
) -> ClipFeatures {
    let items: Vec<(usize, String)> =
        plan.iter().map(|a| (a.clip, format!("{}\nseed {}", a.transform.key(), a.seed))).collect();
    featurize_renders(
        clips,
        &items,
        |i| render(&clips[plan[i].clip], &plan[i].transform, plan[i].seed),
        input,
        cache,
        threads,
    )
}

/// The clip list a plan's features line up with (`plan[i]`'s clip at `i`): same ids and labels
/// as the originals, so windows of a copy belong to its original's track.
pub fn plan_clips(clips: &[Clip], plan: &[AugmentedClip]) -> Vec<Clip> {
    plan.iter().map(|a| clips[a.clip].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use genrescope_core::features::FrontEndSpec;

    const FS: f32 = 22_050.0;

    fn db(p: f64) -> f64 {
        10.0 * p.log10()
    }

    /// Power spectrum (|X|², bins of `rate / n` Hz) of `x` under a Hann window.
    fn spectrum(x: &[f32]) -> Vec<f64> {
        let n = x.len();
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n);
        let mut buf: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()))
            .collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut buf, &mut out).unwrap();
        out.iter().map(|c| c.norm_sqr()).collect()
    }

    fn band(spec: &[f64], n: usize, rate: f32, lo: f64, hi: f64) -> f64 {
        let bin = rate as f64 / n as f64;
        spec.iter().enumerate().filter(|(k, _)| (*k as f64 * bin) >= lo && (*k as f64 * bin) < hi).map(|x| x.1).sum()
    }

    fn tone(freq: f32, secs: f32, rate: f32) -> Vec<f32> {
        (0..(secs * rate) as usize).map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin()).collect()
    }

    /// Frequency of the spectral peak, refined by parabolic interpolation of log magnitudes.
    fn peak_hz(x: &[f32], rate: f32) -> f64 {
        let s = spectrum(x);
        let k = (1..s.len() - 1).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        let (a, b, c) = (s[k - 1].ln(), s[k].ln(), s[k + 1].ln());
        let d = 0.5 * (a - c) / (a - 2.0 * b + c);
        (k as f64 + d) * rate as f64 / x.len() as f64
    }

    fn white(secs: f32, rate: f32, seed: u64) -> Vec<f32> {
        noise((secs * rate) as usize, NoiseColor::White, seed).iter().map(|v| 0.1 * v).collect()
    }

    #[test]
    fn gain_scales_rms_by_its_db() {
        let x = white(1.0, FS, 1);
        for g in [-20.0f32, -3.5, 10.0] {
            let y = Transform::Gain { db: g }.apply(&x, FS, 0).unwrap();
            let change = db(power(&y) / power(&x));
            assert!((change - g as f64).abs() < 1e-3, "{g} dB: measured {change}");
        }
    }

    #[test]
    fn shelves_move_their_bands_by_their_gain_and_leave_the_middle() {
        let x = white(8.0, FS, 2);
        let n = x.len();
        let sx = spectrum(&x);
        for (lo, hi) in [(6.0f32, -6.0f32), (-6.0, 6.0), (3.0, 0.0)] {
            let y = Transform::Shelves { low_db: lo, high_db: hi }.apply(&x, FS, 0).unwrap();
            let sy = spectrum(&y);
            let change = |a: f64, b: f64| db(band(&sy, n, FS, a, b) / band(&sx, n, FS, a, b));
            // Well below / above the corners the shelves reach their gain.
            let (bass, treble, mid) = (change(30.0, 80.0), change(9000.0, 10_500.0), change(900.0, 1100.0));
            assert!((bass - lo as f64).abs() < 0.5, "low shelf {lo}: bass {bass:.2} dB");
            assert!((treble - hi as f64).abs() < 0.5, "high shelf {hi}: treble {treble:.2} dB");
            assert!(mid.abs() < 1.0, "shelves {lo}/{hi}: 1 kHz moved {mid:.2} dB");
        }
    }

    #[test]
    fn lowpass_attenuates_above_its_cutoff_and_is_identity_past_nyquist() {
        let rate = 48_000.0;
        let x = white(4.0, rate, 3);
        let n = x.len();
        let y = Transform::LowPass { cutoff_hz: 12_000.0 }.apply(&x, rate, 0).unwrap();
        let (sx, sy) = (spectrum(&x), spectrum(&y));
        let change = |a: f64, b: f64| db(band(&sy, n, rate, a, b) / band(&sx, n, rate, a, b));
        // 4th-order Butterworth: −10.3 dB at 16 kHz, −17.8 dB at 20 kHz, flat well below.
        assert!(change(16_000.0, 23_000.0) < -12.0, "stop band {:.1} dB", change(16_000.0, 23_000.0));
        assert!(change(19_000.0, 21_000.0) < -16.0, "20 kHz {:.1} dB", change(19_000.0, 21_000.0));
        assert!(change(100.0, 6000.0).abs() < 0.2, "pass band {:.2} dB", change(100.0, 6000.0));
        // A 22.05 kHz clip has nothing above 11.025 kHz: any cutoff in 11–16 kHz leaves it as is.
        let g = white(0.5, FS, 4);
        assert_eq!(Transform::LowPass { cutoff_hz: 11_100.0 }.apply(&g, FS, 0).unwrap(), g);
    }

    /// What the low-pass does to the model's input: musicnn's front end runs at 16 kHz (mel bands
    /// up to 8 kHz), so a cutoff at 11 kHz or above only touches the top bands, by a fraction of a dB (measured: 0.11 dB at 11 kHz, 0.01 dB at 16 kHz).
    #[test]
    fn lowpass_barely_reaches_the_model_front_end() {
        let rate = 44_100.0;
        let x = white(6.0, rate, 5);
        let spec = FrontEndSpec::musicnn();
        let dim = spec.mel_dim();
        let (mx, _) = extract_mel_at_rate(&spec, &x, rate).unwrap();
        for cutoff in [11_000.0f32, 16_000.0] {
            let y = Transform::LowPass { cutoff_hz: cutoff }.apply(&x, rate, 0).unwrap();
            let (my, _) = extract_mel_at_rate(&spec, &y, rate).unwrap();
            let per_band = |m: &[f32], b: usize| m.chunks_exact(dim).map(|f| f[b] as f64).sum::<f64>();
            let changes: Vec<f64> = (0..dim).map(|b| db(per_band(&my, b) / per_band(&mx, b))).collect();
            let worst = changes.iter().fold(0f64, |a, c| a.max(c.abs()));
            let below_4k = changes[..70].iter().fold(0f64, |a, c| a.max(c.abs()));
            eprintln!(
                "low-pass {cutoff} Hz: largest mel band change {worst:.2} dB (top band), below ~4 kHz {below_4k:.3} dB"
            );
            assert!(worst < 0.5, "cutoff {cutoff}: a mel band moved {worst:.2} dB");
            assert!(below_4k < 0.05, "cutoff {cutoff}: bands below 4 kHz moved {below_4k:.3} dB");
        }
    }

    #[test]
    fn pitch_shift_moves_a_tone_by_its_semitones_and_keeps_the_length() {
        let x = tone(440.0, 3.0, FS);
        for s in [1.0f32, -1.0, 0.5] {
            let y = Transform::Pitch { semitones: s }.apply(&x, FS, 0).unwrap();
            assert_eq!(y.len(), x.len());
            let want = 440.0 * 2f64.powf(s as f64 / 12.0);
            let got = peak_hz(&y[x.len() / 4..3 * x.len() / 4], FS);
            assert!((got - want).abs() < 2.0, "{s} semitones: peak {got:.1} Hz, want {want:.1}");
        }
    }

    #[test]
    fn time_stretch_changes_the_duration_not_the_pitch() {
        let x = tone(440.0, 3.0, FS);
        for f in [0.96f32, 1.04] {
            let y = Transform::Stretch { factor: f }.apply(&x, FS, 0).unwrap();
            assert_eq!(y.len(), (x.len() as f64 * f as f64).round() as usize);
            let got = peak_hz(&y[y.len() / 4..3 * y.len() / 4], FS);
            assert!((got - 440.0).abs() < 2.0, "stretch {f}: peak {got:.1} Hz");
            // The tone keeps its level: not silence, not a click track.
            let level = db(power(&y[y.len() / 4..3 * y.len() / 4]) / power(&x));
            assert!(level.abs() < 1.5, "stretch {f}: level {level:.2} dB");
        }
    }

    #[test]
    fn noise_is_added_at_its_snr_with_its_colour() {
        let x = tone(440.0, 4.0, FS);
        for (snr, color) in [(20.0f32, NoiseColor::White), (40.0, NoiseColor::Pink)] {
            let t = Transform::Noise { snr_db: snr, color };
            let y = t.apply(&x, FS, 7).unwrap();
            let n: Vec<f32> = y.iter().zip(&x).map(|(a, b)| a - b).collect();
            let measured = db(power(&x) / power(&n));
            assert!((measured - snr as f64).abs() < 0.01, "{color:?}: SNR {measured:.3}");
            assert_eq!(y, t.apply(&x, FS, 7).unwrap(), "same seed, same noise");
            assert_ne!(y, t.apply(&x, FS, 8).unwrap(), "another seed, other noise");
        }
        // Colour: white has twice the energy in an octave twice as wide; pink the same.
        let octaves = |c: NoiseColor| {
            let v = noise(1 << 18, c, 9);
            let s = spectrum(&v);
            db(band(&s, v.len(), FS, 4000.0, 8000.0) / band(&s, v.len(), FS, 500.0, 1000.0))
        };
        let (w, p) = (octaves(NoiseColor::White), octaves(NoiseColor::Pink));
        assert!((w - 9.03).abs() < 0.5, "white: 4–8 kHz vs 0.5–1 kHz {w:.2} dB (8× the bandwidth)");
        assert!(p.abs() < 1.0, "pink: 4–8 kHz vs 0.5–1 kHz {p:.2} dB");
    }

    /// RT60 from the Schroeder backward integral, extrapolated from its −5 to −25 dB slope (T20).
    fn rt60(h: &[f32], rate: f32) -> f64 {
        let mut tail: Vec<f64> = h.iter().map(|&v| (v as f64) * (v as f64)).collect();
        for i in (0..tail.len() - 1).rev() {
            tail[i] += tail[i + 1];
        }
        let total = tail[0];
        let at = |level: f64| tail.iter().position(|&e| db(e / total) <= level).unwrap() as f64 / rate as f64;
        3.0 * (at(-25.0) - at(-5.0))
    }

    #[test]
    fn reverb_decays_in_its_rt60_and_mixes_wet_and_dry() {
        for rt in [0.2f32, 0.6, 1.2] {
            let mut x = vec![0.0f32; (3.0 * FS) as usize];
            x[100] = 1.0;
            let y = Transform::Reverb { rt60_s: rt, wet: 1.0 }.apply(&x, FS, 11).unwrap();
            let measured = rt60(&y[100..], FS);
            assert!((measured - rt as f64).abs() < 0.1 * rt as f64, "RT60 {rt}: measured {measured:.3} s");
            // Unit-energy response: the wet signal keeps the dry one's energy.
            assert!((power(&y) / power(&x) - 1.0).abs() < 0.01);
        }
        let mut x = vec![0.0f32; FS as usize];
        x[10] = 1.0;
        let h = room_impulse(0.5, FS, 3);
        let y = Transform::Reverb { rt60_s: 0.5, wet: 0.25 }.apply(&x, FS, 3).unwrap();
        assert!((y[10] - (0.75 + 0.25 * h[0])).abs() < 1e-5, "dry part at the impulse");
        assert!((y[1010] - 0.25 * h[1000]).abs() < 1e-5, "wet tail");
    }

    #[test]
    fn convolution_matches_the_direct_sum() {
        let x = white(0.01, FS, 12);
        let h = [0.5f32, -0.25, 0.125, 1.0];
        let y = convolve(&x, &h);
        for i in 0..x.len() {
            let want: f32 = (0..h.len()).filter(|&k| k <= i).map(|k| h[k] * x[i - k]).sum();
            assert!((y[i] - want).abs() < 1e-5, "{i}: {} vs {want}", y[i]);
        }
    }

    /// Copies go through the front end (a gain scales the mel power, which is linear in power) and
    /// the cache, keyed by transform and seed.
    #[test]
    fn augmented_frames_come_from_the_front_end_and_the_cache() {
        let dir = genrescope_testkit::scratch_dir("augment-cache");
        let path = dir.join("blues.00000.wav");
        let x: Vec<f32> = tone(300.0, 4.0, FS).iter().zip(white(4.0, FS, 1)).map(|(a, b)| a + b).collect();
        std::fs::write(&path, genrescope_testkit::wav_bytes(FS as u32, &[x])).unwrap();
        let clips = vec![Clip { path, id: "blues/blues.00000".into(), label: 0 }];
        let input = ModelInput::musicnn();
        let cache = dir.join("cache");
        let orig = crate::data::featurize(&clips, &input, None, 1).frames[0].clone().unwrap();
        let aug = |db: f32, seed: u64| AugmentedClip {
            clip: 0,
            kind: Augment::Gain,
            transform: Transform::Gain { db },
            seed,
        };
        let p = vec![aug(-6.0, 1), aug(3.0, 1), aug(-6.0, 2)];
        let f = featurize_augmented(&clips, &p, &input, Some(&cache), 2);
        assert!(f.skipped.is_empty(), "{:?}", f.skipped);
        let f: Vec<Vec<f32>> = f.frames.into_iter().map(Option::unwrap).collect();
        for (v, db) in [(&f[0], -6.0f32), (&f[1], 3.0)] {
            let g = 10f32.powf(db / 10.0);
            assert_eq!(v.len(), orig.len());
            let err = v.iter().zip(&orig).map(|(a, b)| (a - g * b).abs()).fold(0f32, f32::max);
            let top = orig.iter().fold(0f32, |a, &b| a.max(b));
            assert!(err < 1e-4 * top * g, "{db} dB: max error {err} of {top}");
        }
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3, "one entry per (transform, seed)");
        // Second run: from the cache (a render that fails proves it is not called).
        let items: Vec<(usize, String)> =
            p.iter().map(|a| (a.clip, format!("{}\nseed {}", a.transform.key(), a.seed))).collect();
        let again = featurize_renders(&clips, &items, |_| anyhow::bail!("not cached"), &input, Some(&cache), 1);
        assert!(again.skipped.is_empty());
        assert_eq!(again.frames.into_iter().map(Option::unwrap).collect::<Vec<_>>(), f);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn plans_are_seeded_per_clip_and_independent_of_order() {
        let clips = crate::data::corpus::test_clips(2);
        let a = plan(&clips, &Augment::ALL, 2, 42);
        assert_eq!(a.len(), clips.len() * 7 * 2);
        let mut rev = clips.clone();
        rev.reverse();
        let b = plan(&rev, &Augment::ALL, 2, 42);
        let find = |p: &[AugmentedClip], cl: &[Clip], id: &str, k: Augment| {
            p.iter().filter(|x| cl[x.clip].id == id && x.kind == k).map(|x| x.transform.key()).collect::<Vec<_>>()
        };
        for k in Augment::ALL {
            let id = &clips[3].id;
            assert_eq!(find(&a, &clips, id, k), find(&b, &rev, id, k), "{k:?}");
            let copies = find(&a, &clips, id, k);
            assert_ne!(copies[0], copies[1], "{k:?}: two copies, two draws");
        }
        assert_ne!(plan(&clips, &[Augment::Noise], 1, 43)[0], plan(&clips, &[Augment::Noise], 1, 42)[0]);
        // Every draw lies in its kind's range.
        for x in &a {
            match x.transform {
                Transform::Gain { db } => assert!((-20.0..=10.0).contains(&db)),
                Transform::Shelves { low_db, high_db } => assert!(low_db.abs() <= 6.0 && high_db.abs() <= 6.0),
                Transform::LowPass { cutoff_hz } => assert!((11_000.0..=16_000.0).contains(&cutoff_hz)),
                Transform::Pitch { semitones } => assert!(semitones.abs() <= 1.0),
                Transform::Stretch { factor } => assert!((0.96..=1.04).contains(&factor)),
                Transform::Noise { snr_db, .. } => assert!((20.0..=40.0).contains(&snr_db)),
                Transform::Reverb { rt60_s, wet } => {
                    assert!((0.2..=1.2).contains(&rt60_s) && (0.1..=0.5).contains(&wet))
                }
            }
        }
    }
}
