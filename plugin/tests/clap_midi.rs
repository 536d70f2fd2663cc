//! MIDI out end to end through the bundled `Genrescope.clap` with a (random-weight) model.
//!
//! Offline rendering (CLAP render extension): the CC stream is identical run to run, whatever the
//! block sizes, and equals what the offline engine (`Genrescope analyze`) predicts for the same
//! audio, block by block. Real time: CCs appear and carry sane values; silence sends nothing; a
//! broken model leaves audio untouched and sends nothing. Program change follows the top genre.
//! A model with the out-of-set class: "other" goes out as CC `base + 10` = 10 with its probability
//! on CC `base + 11`, as the offline engine predicts, and sends no program change.
//! Each instance gets its model folder through its own state, so tests run in parallel.
mod common;
mod engine_support;

use common::{InEvent, Instance, OutEvent, TestHost};
use engine_support::{
    assert_bit_exact, copy_dir, instance_with_model, music, oos_test_model, rand_block, scratch_dir, test_model,
    CC_BASE, TOP_CC,
};
use genrescope_core::audio_file::DecodedAudio;
use genrescope_engine::{Claim, OfflineEngine, OfflineSettings};
use std::time::{Duration, Instant};

/// Feeds `seconds` of music in blocks from `next_block`; returns all CC events with their
/// absolute sample positions, checking the audio passes bit-exactly.
fn render(
    inst: &mut Instance,
    rate: f64,
    seconds: f64,
    mut next_block: impl FnMut() -> usize,
) -> Vec<(usize, (u8, u8, u8))> {
    let total = (rate * seconds) as usize;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let (mut pos, mut events) = (0usize, Vec::new());
    while pos < total {
        let n = next_block().min(total - pos);
        let input = music(rate, pos, n, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, "clap_midi");
        events.extend(ev.iter().filter_map(|e| e.as_cc().map(|c| (pos + e.time() as usize, c))));
        pos += n;
    }
    events
}

fn whole_signal(rate: f64, seconds: f64) -> DecodedAudio {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let channels = music(rate, 0, (rate * seconds) as usize, &mut seed);
    DecodedAudio { sample_rate: rate as u32, channels, warnings: vec![] }
}

#[test]
fn offline_render_is_deterministic_and_matches_the_offline_engine() {
    let host = TestHost::load_default();
    for (rate, block) in [(96_000.0, 333usize), (48_000.0, 512), (44_100.0, 1024), (44_100.0, 512), (48_000.0, 1024)] {
        let run = |random_blocks: bool| {
            let mut inst = instance_with_model(&host, test_model());
            inst.set_offline(true);
            inst.activate(rate, block as u32);
            let mut rng = 0x9E37_79B9u64;
            let events =
                render(&mut inst, rate, 12.0, || if random_blocks { rand_block(&mut rng, block) } else { block });
            inst.deactivate();
            events
        };
        let a = run(false);
        assert!(!a.is_empty(), "no CC at {rate} Hz");
        assert_eq!(a, run(false), "{rate} Hz: two offline renders differ");

        // What the offline engine says, with the plugin's default settings and the same block size.
        let mut engine = OfflineEngine::new(test_model()).unwrap();
        let d = OfflineSettings::default();
        let settings = OfflineSettings { block, hop_s: Some(genrescope_engine::settings::HOP_S.default), ..d };
        let predictions = engine.analyze(&whole_signal(rate, 12.0), &settings).unwrap();
        assert!(predictions.len() > 10);
        // The plugin's top-genre CC changes where (and to what) the engine's smoothed top genre changes.
        let mut expected = Vec::new();
        let mut last = None;
        for p in &predictions {
            let top = p.top.map_or(127, |t| t as u8);
            if last != Some(top) {
                expected.push((p.block_start as usize, top));
                last = Some(top);
            }
        }
        let got: Vec<(usize, u8)> = a.iter().filter(|(_, c)| c.1 == TOP_CC).map(|&(pos, c)| (pos, c.2)).collect();
        assert_eq!(got, expected, "{rate} Hz block {block}: top-genre CCs vs the offline engine");
        // And every genre CC value is the engine's smoothed probability at that block.
        for &(pos, (_, cc, v)) in &a {
            if cc == TOP_CC {
                continue;
            }
            let p = predictions.iter().rfind(|p| p.block_start as usize <= pos).expect("a prediction before any CC");
            let want = (p.smoothed[(cc - CC_BASE) as usize].clamp(0.0, 1.0) * 127.0).round() as u8;
            assert_eq!(v, want, "{rate} Hz: CC {cc} at {pos}");
        }
        // Random block sizes: the same CC values in the same order (positions move with the blocks).
        let values = |e: &[(usize, (u8, u8, u8))]| e.iter().map(|x| x.1).collect::<Vec<_>>();
        assert_eq!(values(&run(true)), values(&a), "{rate} Hz: random blocks");
    }
}

/// Real time: the analysis thread keeps pace with audio fed at about real-time speed.
fn run_realtime(inst: &mut Instance, rate: f64, max_block: usize, silent: bool, audio_s: f64) -> Vec<OutEvent> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rng = 0x9E37_79B9u64;
    let (mut pos, mut events) = (0usize, Vec::new());
    let start = Instant::now();
    while (pos as f64) < audio_s * rate {
        let n = rand_block(&mut rng, max_block);
        let input = if silent { vec![vec![0.0; n]; 2] } else { music(rate, pos, n, &mut seed) };
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, "clap_midi realtime");
        events.extend(ev);
        pos += n;
        // Pace by audio time: never run ahead of the clock.
        let ahead = pos as f64 / rate - start.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
    events
}

fn ccs(events: &[OutEvent]) -> Vec<(u8, u8, u8)> {
    events.iter().filter_map(OutEvent::as_cc).collect()
}

#[test]
fn realtime_ccs_appear_and_are_sane() {
    let host = TestHost::load_default();
    for (rate, max_block) in [(44_100.0, 512usize), (96_000.0, 333)] {
        let mut inst = instance_with_model(&host, test_model());
        inst.activate(rate, max_block as u32);
        let events = run_realtime(&mut inst, rate, max_block, false, 6.0);
        let ccs = ccs(&events);
        assert!(ccs.iter().any(|c| c.1 == TOP_CC), "no top-genre CC at {rate} Hz after 6 s of music");
        for &(ch, cc, v) in &ccs {
            assert_eq!(ch, 0, "default channel 1");
            assert!((CC_BASE..=TOP_CC).contains(&cc), "cc {cc}");
            if cc == TOP_CC {
                assert!(v < 10, "top genre index {v} while music plays");
            }
        }
        // The genre CCs of the first full update sum to ~127 (probabilities sum to 1).
        let first: u32 = (CC_BASE..TOP_CC).map(|cc| ccs.iter().find(|c| c.1 == cc).map_or(0, |c| c.2 as u32)).sum();
        assert!((117..=137).contains(&first), "genre CCs sum to {first}");
        inst.deactivate();
    }
    // Silence from the start: the gate stays closed and nothing is sent.
    let mut inst = instance_with_model(&host, test_model());
    inst.activate(48_000.0, 512);
    assert!(ccs(&run_realtime(&mut inst, 48_000.0, 512, true, 5.0)).is_empty(), "CCs on silence");
    inst.deactivate();
}

#[test]
fn broken_or_missing_models_pass_audio_and_send_nothing() {
    let host = TestHost::load_default();
    let tmp = scratch_dir("clap-midi-broken");
    let corrupt = tmp.join("corrupt");
    copy_dir(test_model(), &corrupt);
    let trunk = corrupt.join("trunk.onnx");
    let bytes = std::fs::read(&trunk).unwrap();
    std::fs::write(&trunk, &bytes[..bytes.len() / 2]).unwrap();
    for dir in [corrupt, tmp.join("missing")] {
        for offline in [false, true] {
            let mut inst = instance_with_model(&host, &dir);
            inst.set_offline(offline);
            inst.activate(44_100.0, 512);
            let events = if offline {
                render(&mut inst, 44_100.0, 8.0, || 512).into_iter().map(|e| e.1).collect()
            } else {
                ccs(&run_realtime(&mut inst, 44_100.0, 512, false, 4.0))
            };
            assert!(events.is_empty(), "{}: CCs without a usable model", dir.display());
            inst.deactivate();
        }
    }
}

#[test]
fn program_change_follows_the_top_genre_after_the_hold_time() {
    let host = TestHost::load_default();
    let mut inst = instance_with_model(&host, test_model());
    let ids: std::collections::HashMap<String, u32> = inst.params().into_iter().map(|p| (p.name, p.id)).collect();
    inst.set_offline(true);
    inst.activate(48_000.0, 1024);
    let set = vec![
        InEvent::ParamValue { time: 0, param_id: ids["Program change"], value: 1.0 },
        // nice-plug's CLAP float values are normalized: 1 s of the 0..30 s range.
        InEvent::ParamValue { time: 0, param_id: ids["Program hold"], value: 1.0 / 30.0 },
        InEvent::ParamValue { time: 0, param_id: ids["CC output"], value: 0.0 },
    ];
    let mut seed = 7u64;
    let mut programs = Vec::new();
    let mut others = 0;
    for k in 0..(48_000 * 14 / 1024) {
        let input = music(48_000.0, k * 1024, 1024, &mut seed);
        let (_, ev) = inst.process_with_events(&input, if k == 0 { &set } else { &[] });
        for e in ev {
            match e {
                OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0xC0 => programs.push((k * 1024, data[1])),
                OutEvent::Midi { .. } => others += 1,
                _ => {}
            }
        }
    }
    assert_eq!(others, 0, "CC output was switched off");
    assert!(!programs.is_empty(), "no program change in 14 s of music");
    assert!(programs.iter().all(|&(_, p)| p < 10));
    // Nothing before a full window plus the 1 s hold, and never the same program twice in a row.
    assert!(programs[0].0 as f64 / 48_000.0 >= 3.9, "first program change at {} samples", programs[0].0);
    assert!(programs.windows(2).all(|w| w[0].1 != w[1].1), "{programs:?}");
    inst.deactivate();
}

#[test]
fn instances_read_their_own_model_folders() {
    use engine_support::mfcc_test_model;
    let host = TestHost::load_default();
    let mut a = instance_with_model(&host, test_model());
    let mut b = instance_with_model(&host, mfcc_test_model());
    for inst in [&mut a, &mut b] {
        inst.set_offline(true);
        inst.activate(48_000.0, 512);
    }
    let (mut sa, mut sb) = (1u64, 1u64);
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for k in 0..(48_000 * 8 / 512) {
        ea.extend(a.process(&music(48_000.0, k * 512, 512, &mut sa)).1);
        eb.extend(b.process(&music(48_000.0, k * 512, 512, &mut sb)).1);
    }
    let (ca, cb) = (ccs(&ea), ccs(&eb));
    assert!(ca.iter().any(|c| c.1 == TOP_CC) && cb.iter().any(|c| c.1 == TOP_CC));
    // Same audio, different models (front ends, windows, weights): different CC streams.
    assert_ne!(ca, cb);
    // The musicnn-style model's window is 187 frames at 62.5 fps, the MFCC one's 130 at 43 fps:
    // their first predictions come at different times.
    let first = |e: &[OutEvent]| e.iter().position(|x| x.as_cc().is_some());
    assert!(first(&ea).is_some() && first(&eb).is_some());
}

/// Music, bright tones (out of set for [`oos_test_model`]), music again: `seconds` each, stereo.
fn music_other_music(rate: f64, seconds: f64) -> Vec<Vec<f32>> {
    let n = (rate * seconds) as usize;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut out = music(rate, 0, n, &mut seed);
    let tones = genrescope_testkit::bright_tones(rate as u32, seconds as f32, 2);
    let again = music(rate, 2 * n, n, &mut seed);
    for (ch, o) in out.iter_mut().enumerate() {
        o.extend_from_slice(&tones[ch][..n]);
        o.extend_from_slice(&again[ch]);
    }
    out
}

#[test]
fn other_goes_out_as_cc_10_with_its_probability_and_no_program_change() {
    let host = TestHost::load_default();
    let (rate, block) = (48_000.0, 1024usize);
    let signal = music_other_music(rate, 12.0);
    let render = || {
        let mut inst = instance_with_model(&host, oos_test_model());
        let ids: std::collections::HashMap<String, u32> = inst.params().into_iter().map(|p| (p.name, p.id)).collect();
        inst.set_offline(true);
        inst.activate(rate, block as u32);
        // Program change on, hold 1 s of the 0..30 s range (normalized).
        let set = vec![
            InEvent::ParamValue { time: 0, param_id: ids["Program change"], value: 1.0 },
            InEvent::ParamValue { time: 0, param_id: ids["Program hold"], value: 1.0 / 30.0 },
        ];
        let mut events = Vec::new();
        for (k, start) in (0..signal[0].len()).step_by(block).enumerate() {
            let end = (start + block).min(signal[0].len());
            let input: Vec<Vec<f32>> = signal.iter().map(|c| c[start..end].to_vec()).collect();
            let (out, ev) = inst.process_with_events(&input, if k == 0 { &set } else { &[] });
            assert_bit_exact(&input, &out, "other");
            events.extend(ev.into_iter().map(|e| (start + e.time() as usize, e)));
        }
        inst.deactivate();
        events
    };
    let events = render();
    assert_eq!(events, render(), "two offline renders differ");

    let mut engine = OfflineEngine::new(oos_test_model()).unwrap();
    let settings =
        OfflineSettings { block, hop_s: Some(genrescope_engine::settings::HOP_S.default), ..Default::default() };
    let audio = DecodedAudio { sample_rate: rate as u32, channels: signal.clone(), warnings: vec![] };
    let predictions = engine.analyze(&audio, &settings).unwrap();
    let claims: Vec<Claim> = predictions.iter().map(|p| p.claim()).collect();
    assert!(claims.contains(&Claim::Other) && claims.iter().any(|c| matches!(c, Claim::Genre(_))), "{claims:?}");
    let at = |pos: usize| predictions.iter().rfind(|p| p.block_start as usize <= pos).expect("a prediction first");
    let ccs: Vec<(usize, u8, u8)> =
        events.iter().filter_map(|(pos, e)| e.as_cc().map(|(_, cc, v)| (*pos, cc, v))).collect();
    // The top CC changes where the engine's claim changes: a genre's index, 10 for other.
    let mut expected = Vec::new();
    let mut last = None;
    for p in &predictions {
        let v = match p.claim() {
            Claim::Genre(g) => g as u8,
            Claim::Other => 10,
            Claim::Nothing => 127,
        };
        if last != Some(v) {
            expected.push((p.block_start as usize, v));
            last = Some(v);
        }
    }
    let got: Vec<(usize, u8)> = ccs.iter().filter(|c| c.1 == TOP_CC).map(|c| (c.0, c.2)).collect();
    assert_eq!(got, expected, "top CC vs the offline engine");
    assert!(got.iter().any(|&(_, v)| v == 10));
    // CC base+11 is the smoothed out-of-set probability; the genre CCs the smoothed genres.
    let other_cc = TOP_CC + 1;
    assert!(ccs.iter().any(|c| c.1 == other_cc && c.2 > 100), "out-of-set CC never high");
    for &(pos, cc, v) in &ccs {
        let p = at(pos);
        let want = match cc {
            c if c == TOP_CC => continue,
            c if c == other_cc => p.smoothed_other,
            c => p.smoothed[(c - CC_BASE) as usize],
        };
        assert_eq!(v, (want.clamp(0.0, 1.0) * 127.0).round() as u8, "CC {cc} at {pos}");
    }
    // Program changes: some for the music, none while "other" is claimed, and the program held
    // through the other stretch is not sent again when the same genre comes back.
    let programs: Vec<(usize, u8)> = events
        .iter()
        .filter_map(|(pos, e)| match e {
            OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0xC0 => Some((*pos, data[1])),
            _ => None,
        })
        .collect();
    assert!(!programs.is_empty(), "no program change for the music");
    for &(pos, program) in &programs {
        assert!(program < 10, "program {program}");
        assert_ne!(at(pos).claim(), Claim::Other, "program change {program} at {pos} while other is claimed");
        assert_eq!(at(pos).claim(), Claim::Genre(program as usize));
    }
    assert!(programs.windows(2).all(|w| w[0].1 != w[1].1), "{programs:?}");
}

#[test]
fn a_model_without_the_class_never_sends_the_other_ccs() {
    let host = TestHost::load_default();
    let mut inst = instance_with_model(&host, test_model());
    inst.set_offline(true);
    inst.activate(48_000.0, 512);
    let signal = music_other_music(48_000.0, 6.0);
    let (out, events) = inst.process_signal(&signal, 512);
    assert_bit_exact(&signal, &out, "plain model");
    inst.deactivate();
    let ccs: Vec<(u8, u8, u8)> = events.iter().filter_map(|(_, e)| e.as_cc()).collect();
    assert!(ccs.iter().any(|c| c.1 == TOP_CC), "no CCs at all");
    assert!(ccs.iter().all(|&(_, cc, v)| (CC_BASE..=TOP_CC).contains(&cc) && (cc != TOP_CC || v < 10)), "{ccs:?}");
}
