//! Streaming vs offline, robustness, resampling and the host-rate pipeline.

mod features_common;

use features_common::*;
use genrescope_core::features::resample::StreamResampler;
use genrescope_core::features::{
    num_frames, FeaturePipeline, FrontEndSpec, MelFilterbank, MelSpec, StreamingExtractor,
};

/// Streams `signal` in blocks; returns the mel power frames.
fn stream(cfg: &FrontEndSpec, signal: &[f32], block: usize) -> Vec<f32> {
    let mut st = StreamingExtractor::new(cfg).unwrap();
    let mut out = Vec::new();
    for b in signal.chunks(block.max(1)) {
        st.push(b, |f| {
            assert_eq!(f.len(), cfg.mel_dim());
            out.extend_from_slice(f)
        });
    }
    out
}

fn test_signal(n: usize) -> Vec<f32> {
    let c = chirp(60.0, 9000.0, SR, n, 0.2);
    let z = lcg_noise(n, 7);
    c.iter().zip(&z).map(|(a, b)| a + 0.1 * b).collect()
}

fn geometry(n_fft: usize, hop_length: usize, n_mels: usize) -> FrontEndSpec {
    let base = mfcc_spec();
    FrontEndSpec { n_fft, hop_length, mel: MelSpec { n_mels, ..base.mel.clone() }, ..base }
}

#[test]
fn gtzan_mfcc_geometry() {
    let cfg = mfcc_spec();
    assert_eq!(cfg.frame_dim(), 13);
    assert_eq!(cfg.mel_dim(), 128);
    assert!((cfg.frames_per_second() - 43.066406).abs() < 1e-4);
}

#[test]
fn num_frames_follows_librosa_center_true() {
    let cfg = mfcc_spec();
    assert_eq!(num_frames(&cfg, 0), 0);
    assert_eq!(num_frames(&cfg, 1), 1);
    assert_eq!(num_frames(&cfg, 511), 1);
    assert_eq!(num_frames(&cfg, 512), 2);
    assert_eq!(num_frames(&cfg, 22050 * 30), 1292); // a GTZAN clip
    assert_eq!(num_frames(&cfg, 130 * 512 - 1), 130);
    assert_eq!(features(&cfg, &[]).len(), 0);
    let nc = FrontEndSpec { center: false, ..cfg };
    assert_eq!(num_frames(&nc, 2047), 0);
    assert_eq!(num_frames(&nc, 2048), 1);
    assert_eq!(num_frames(&nc, 2048 + 512), 2);
}

#[test]
fn streaming_equals_offline_for_any_block_size() {
    let cfg = mfcc_spec();
    let signal = test_signal(3 * 22050 + 333);
    let offline = mel(&cfg, &signal);
    for block in [1, 7, 64, 512, 8192, 100_000] {
        let s = stream(&cfg, &signal, block);
        // Streaming lacks only the frames that need right padding (see flush).
        let emitted = s.len() / 128;
        assert_eq!(emitted, (signal.len() - 1024) / 512 + 1, "block {block}");
        assert_eq!(s[..], offline[..s.len()], "block {block}");
    }
    // Irregular block sizes, then flush: exactly the offline frames.
    let mut st = StreamingExtractor::new(&cfg).unwrap();
    let mut out = Vec::new();
    let (mut pos, mut k) = (0, 0usize);
    while pos < signal.len() {
        let n = [0, 3, 1000, 17, 4096, 1][k % 6].min(signal.len() - pos);
        st.push(&signal[pos..pos + n], |f| out.extend_from_slice(f));
        pos += n;
        k += 1;
    }
    st.flush(|f| out.extend_from_slice(f));
    assert_eq!(out, offline);
}

#[test]
fn streaming_handles_non_default_geometry() {
    // hop > n_fft and center=false exercise the skip path and the no-padding path.
    for cfg in [
        geometry(512, 700, 40),
        FrontEndSpec { center: false, ..mfcc_spec() },
        geometry(1024, 256, 64),
        FrontEndSpec::musicnn(),
    ] {
        let signal = test_signal(22050);
        let offline = mel(&cfg, &signal);
        let mut st = StreamingExtractor::new(&cfg).unwrap();
        let mut out = Vec::new();
        for b in signal.chunks(97) {
            st.push(b, |f| out.extend_from_slice(f));
        }
        st.flush(|f| out.extend_from_slice(f));
        assert_eq!(out, offline, "{cfg:?}");
    }
}

#[test]
fn reset_restarts_the_stream() {
    let cfg = mfcc_spec();
    let signal = test_signal(22050);
    let first = stream(&cfg, &signal, 300);
    let mut st = StreamingExtractor::new(&cfg).unwrap();
    st.push(&lcg_noise(5000, 99), |_| {});
    st.reset();
    assert_eq!(st.frames_emitted(), 0);
    let mut out = Vec::new();
    for b in signal.chunks(300) {
        st.push(b, |f| out.extend_from_slice(f));
    }
    assert_eq!(out, first);
}

#[test]
fn silence_and_denormals_give_finite_floor_features() {
    let cfg = mfcc_spec();
    let silence = vec![0.0f32; 22050];
    let logmel = features(&as_logmel(&cfg), &silence);
    // amin = 1e-10 -> -100 dB floor in every band.
    assert!(logmel.iter().all(|&v| v == -100.0));
    let sil = features(&cfg, &silence);
    assert!(sil.iter().all(|v| v.is_finite()));
    // Denormal input: flushed like silence, so the same (finite) features.
    let denorm: Vec<f32> = (0..22050).map(|i| if i % 2 == 0 { 1e-40 } else { -3e-42 }).collect();
    assert!(denorm.iter().all(|v| v.is_subnormal()));
    assert_eq!(stream(&cfg, &denorm, 64), stream(&cfg, &silence, 64));
    assert_eq!(features(&cfg, &denorm), sil);
    let mut p = FeaturePipeline::new(&cfg, 48000.0).unwrap();
    let mut n = 0;
    for b in denorm.chunks(512).chain(denorm.chunks(512)).chain(denorm.chunks(512)) {
        p.push(b, |f| {
            n += 1;
            assert!(f.iter().all(|v| v.is_finite()));
        });
    }
    assert!(n > 0);
}

#[test]
fn nan_and_inf_are_replaced_by_zero_and_huge_values_clamped() {
    let cfg = mfcc_spec();
    let clean = test_signal(22050);
    let mut dirty = clean.clone();
    let mut zeroed = clean.clone();
    for i in (100..22050).step_by(997) {
        dirty[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
        zeroed[i] = 0.0;
    }
    let a = features(&cfg, &dirty);
    assert!(a.iter().all(|v| v.is_finite()));
    assert_eq!(a, features(&cfg, &zeroed));
    assert_eq!(stream(&cfg, &dirty, 7), stream(&cfg, &zeroed, 7));
    // 1e30 behaves exactly like the clamp value.
    let mut huge = clean.clone();
    let mut clamped = clean.clone();
    huge[5000] = 1e30;
    clamped[5000] = genrescope_core::features::SAMPLE_CLAMP;
    assert_eq!(features(&cfg, &huge), features(&cfg, &clamped));
    let mut p = FeaturePipeline::new(&cfg, 44100.0).unwrap();
    let mut n = 0;
    let dirty44 = sine(1000.0, 44100.0, 44100, 0.5)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if i % 101 == 0 {
                f32::NAN
            } else if i % 103 == 0 {
                f32::INFINITY
            } else {
                v
            }
        })
        .collect::<Vec<_>>();
    p.push(&dirty44, |f| {
        n += 1;
        assert!(f.iter().all(|v| v.is_finite()));
    });
    assert!(n > 30);
}

#[test]
fn top_db_is_a_causal_per_frame_clamp() {
    let cfg = FrontEndSpec {
        compression: genrescope_core::features::Compression::PowerToDb {
            amin: 1e-10,
            ref_power: 1.0,
            top_db: Some(40.0),
        },
        ..mfcc_spec()
    };
    let signal = sine(440.0, SR, 22050, 0.5);
    let logmel = features(&as_logmel(&cfg), &signal);
    for frame in logmel.chunks(128) {
        let max = frame.iter().cloned().fold(f32::MIN, f32::max);
        let min = frame.iter().cloned().fold(f32::MAX, f32::min);
        assert!(max - min <= 40.0 + 1e-3, "range {}", max - min);
        assert!(max - min >= 39.9, "a pure sine must reach the floor");
    }
    // The clamp is part of the per-window transform: the streamed frames are unchanged.
    let offline = features(&cfg, &signal);
    assert_eq!(stream(&cfg, &signal, 333)[..], mel(&mfcc_spec(), &signal)[..stream(&cfg, &signal, 333).len()]);
    assert_ne!(offline, features(&mfcc_spec(), &signal));
}

#[test]
fn mel_filterbank_is_slaney_normalised() {
    let cfg = mfcc_spec();
    let fb = MelFilterbank::new(&cfg);
    assert_eq!(fb.n_mels(), 128);
    // Slaney norm: each triangle has area ~= 1 in Hz * (2/width) terms -> peak = 2/(f2-f0).
    // Check instead that every band is non-empty and bands are ordered by centre.
    let mut last_peak = 0;
    for m in 0..128 {
        let w = fb.dense_band(m, 1025);
        let peak = (0..1025).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap();
        assert!(w[peak] > 0.0, "band {m} empty");
        assert!(peak >= last_peak);
        last_peak = peak;
    }
}

fn peak_band(mel: &[f32], n_mels: usize) -> usize {
    // Mean log-mel per band over the frames, skipping edge frames.
    let frames: Vec<&[f32]> = mel.chunks(n_mels).collect();
    let mid = &frames[4..frames.len() - 4];
    (0..n_mels)
        .max_by(|&a, &b| {
            let sa: f32 = mid.iter().map(|f| f[a]).sum();
            let sb: f32 = mid.iter().map(|f| f[b]).sum();
            sa.total_cmp(&sb)
        })
        .unwrap()
}

#[test]
fn resampled_sine_keeps_its_mel_peak() {
    let cfg = mfcc_spec();
    for rate in [44100.0, 48000.0, 88200.0, 96000.0, 192000.0, 11025.0, 37800.0, 44100.5] {
        for freq in [220.0, 1000.0, 3000.0, 5000.0] {
            if freq > 0.45 * rate {
                continue;
            }
            let host = sine(freq, rate, rate as usize, 0.5);
            let mut r = StreamResampler::new(rate, SR).unwrap();
            let mut out = Vec::new();
            for b in host.chunks(333) {
                r.process(b, |x| out.extend_from_slice(x));
            }
            // Length: input * ratio, less what sits in the FIFO and the removed filter delay.
            let ratio = SR / rate;
            let slack = (genrescope_core::features::resample::CHUNK + 128) as f64 * ratio.max(1.0) + 2.0;
            let expect = host.len() as f64 * ratio;
            assert!((out.len() as f64 - expect).abs() < slack, "{rate}: {} samples", out.len());
            let want = peak_band(&features(&as_logmel(&cfg), &sine(freq, SR, 22050, 0.5)), 128);
            let got = peak_band(&features(&as_logmel(&cfg), &out), 128);
            assert_eq!(got, want, "{freq} Hz at {rate} Hz");
        }
    }
}

/// Tone bursts with sharp (5 ms) edges: frame energies near the edges reveal any
/// misalignment between host-rate input and model-rate frames.
fn bursts(rate: f64, n: usize) -> Vec<f32> {
    let a = sine(330.0, rate, n, 0.3);
    let b = sine(2500.0, rate, n, 0.1);
    let ramp = 0.005 * rate;
    (0..n)
        .map(|i| {
            let t = i as f64 % (0.25 * rate);
            let g = (t / ramp).min(1.0) * ((0.125 * rate - t) / ramp).clamp(0.0, 1.0);
            (g * (a[i] + b[i]) as f64) as f32
        })
        .collect()
}

/// Mean |log-mel difference| over frames 2..n-2 and bands where the reference is above
/// -50 dB (empty bands only show the resampler's noise floor).
fn mel_distance(cfg: &FrontEndSpec, got: &[f32], want: &[f32]) -> f32 {
    let (g, w) = (features(&as_logmel(cfg), got), features(&as_logmel(cfg), want));
    let n = g.len().min(w.len()) / 128;
    let (mut sum, mut cnt) = (0.0, 0);
    for f in 2..n - 2 {
        for m in 0..128 {
            let r = w[f * 128 + m];
            if r > -50.0 {
                sum += (g[f * 128 + m] - r).abs();
                cnt += 1;
            }
        }
    }
    sum / cnt as f32
}

#[test]
fn resampler_removes_its_delay() {
    let cfg = mfcc_spec();
    let want = bursts(SR, 2 * 22050);
    for rate in [44100.0, 48000.0, 37800.0, 96000.0] {
        let host = bursts(rate, 2 * rate as usize);
        let mut r = StreamResampler::new(rate, SR).unwrap();
        let mut out = Vec::new();
        for b in host.chunks(512) {
            r.process(b, |x| out.extend_from_slice(x));
        }
        // Try shifting the output by s samples: the best match must be at s = 0.
        let dist = |s: i64| {
            let shifted: Vec<f32> = if s >= 0 {
                out[s as usize..].to_vec()
            } else {
                std::iter::repeat_n(0.0, (-s) as usize).chain(out.iter().cloned()).collect()
            };
            mel_distance(&cfg, &shifted, &want)
        };
        let d0 = dist(0);
        for s in [-64, -16, -4, 4, 16, 64] {
            assert!(dist(s) > d0, "{rate}: shift {s} matches better ({} vs {d0})", dist(s));
        }
        assert!(d0 < 0.5, "{rate}: mean log-mel diff {d0} dB");
    }
}

#[test]
fn pipeline_is_resampler_then_streaming_extractor() {
    let cfg = mfcc_spec();
    for rate in [44100.0f32, 48000.0, 11025.0] {
        let host = test_signal(2 * rate as usize);
        let mut r = StreamResampler::new(rate as f64, SR).unwrap();
        let mut resampled = Vec::new();
        r.process(&host, |x| resampled.extend_from_slice(x));
        let want = mel(&cfg, &resampled);
        let mut p = FeaturePipeline::new(&cfg, rate).unwrap();
        let mut out = Vec::new();
        for b in host.chunks(512) {
            p.push(b, |f| out.extend_from_slice(f));
        }
        assert!(out.len() >= 128 * 80, "{rate}: {} frames", out.len() / 128);
        assert_eq!(out[..], want[..out.len()], "{rate}");
    }
    // Equal rates: pass-through, identical to offline; latency = the n_fft/2 look-ahead.
    let mut p = FeaturePipeline::new(&cfg, 22050.0).unwrap();
    assert_eq!(p.latency_samples(), 1024);
    let sig = test_signal(22050);
    let mut out = Vec::new();
    p.push(&sig, |f| out.extend_from_slice(f));
    assert_eq!(out[..], mel(&cfg, &sig)[..out.len()]);
}

#[test]
fn pipeline_output_does_not_depend_on_block_size() {
    let cfg = mfcc_spec();
    for rate in [44100.0f32, 48000.0] {
        let host = test_signal(rate as usize);
        let run = |block: usize| {
            let mut p = FeaturePipeline::new(&cfg, rate).unwrap();
            let mut out = Vec::new();
            for b in host.chunks(block) {
                p.push(b, |f| out.extend_from_slice(f));
            }
            out
        };
        let base = run(512);
        assert!(base.len() >= 128 * 40);
        for block in [1, 7, 64, 8192, 100_000] {
            assert_eq!(run(block), base, "{rate} Hz, block {block}");
        }
        let mut p = FeaturePipeline::new(&cfg, rate).unwrap();
        p.push(&lcg_noise(3000, 5), |_| {});
        p.reset();
        let mut out = Vec::new();
        for b in host.chunks(512) {
            p.push(b, |f| out.extend_from_slice(f));
        }
        assert_eq!(out, base, "reset");
        let lat = p.latency_samples();
        assert!(lat > 1024 && lat < 4000, "{rate}: latency {lat}");
    }
}

#[test]
fn resampler_is_aligned_and_meets_its_latency() {
    for rate in [44100.0, 48000.0, 37800.0, 96000.0, 192000.0, 11025.0] {
        let ratio = SR / rate;
        let pos = 10_000usize;
        let mut x = vec![0.0f32; rate as usize];
        x[pos] = 1.0;
        let mut r = StreamResampler::new(rate, SR).unwrap();
        let lat = r.latency_input_samples();
        let target = (pos as f64 * ratio).ceil() as usize + 1;
        let mut out = Vec::new();
        let mut ready_after = None;
        for (i, s) in x.chunks(1).enumerate() {
            r.process(s, |o| out.extend_from_slice(o));
            if ready_after.is_none() && out.len() > target {
                ready_after = Some(i + 1);
            }
        }
        // Energy centroid of the impulse response = where input sample `pos` lands.
        let pk = (0..out.len()).max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs())).unwrap();
        let (mut s, mut w) = (0.0, 0.0);
        let lo = pk.saturating_sub(40);
        for (i, &v) in out.iter().enumerate().take(pk + 40).skip(lo) {
            let v = v as f64;
            s += v * v * i as f64;
            w += v * v;
        }
        let centroid = s / w;
        assert!((centroid - pos as f64 * ratio).abs() < 1.0, "{rate}: impulse at {centroid}");
        let ready = ready_after.unwrap() - pos;
        assert!(ready <= lat, "{rate}: output needed {ready} > {lat} samples");
    }
}

/// Frame levels: the RMS of the samples each frame was computed from, the same whatever the
/// block size, at the expected value for a steady sine, and the -200 dBFS floor for silence.
#[test]
fn frame_levels_are_block_size_independent_and_calibrated() {
    let cfg = mfcc_spec();
    // 0.5 s silence, then a 0.25-amplitude sine (RMS 0.25 / sqrt 2 = -15.05 dBFS).
    let at_22k: Vec<f32> = std::iter::repeat_n(0.0, 11025).chain(sine(440.0, SR, 22050, 0.25)).collect();
    let mut st = StreamingExtractor::new(&cfg).unwrap();
    let mut levels = Vec::new();
    st.push_with_level(&at_22k, |_, l| levels.push(l));
    // Frame 3's 2048 samples lie inside the silence, frame 40's inside the sine.
    assert_eq!(levels[3], -200.0);
    assert!((levels[40] - (-15.05)).abs() < 0.05, "{}", levels[40]);

    for rate in [22050.0f32, 48000.0] {
        let host = if rate == 22050.0 {
            at_22k.clone()
        } else {
            std::iter::repeat_n(0.0, 24000).chain(sine(440.0, rate as f64, 48000, 0.25)).collect()
        };
        let run = |block: usize| {
            let mut p = FeaturePipeline::new(&cfg, rate).unwrap();
            let mut out = Vec::new();
            for b in host.chunks(block) {
                p.push_with_level(b, |f, l| {
                    out.extend_from_slice(f);
                    out.push(l);
                });
            }
            out
        };
        let base = run(512);
        for block in [1, 37, 4096] {
            assert_eq!(run(block), base, "{rate} Hz, block {block}");
        }
        let stride = cfg.mel_dim() + 1;
        let level = |i: usize| base[i * stride + cfg.mel_dim()];
        assert!((level(60) - (-15.05)).abs() < 0.1, "{rate} Hz: {}", level(60));
    }
}
