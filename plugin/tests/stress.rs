//! Stress through the bundled CLAP plugin with a random-weight model: 16 instances in one process
//! (threads, CPU, memory), hostile sample values, sample-rate changes, minutes of silence.
//!
//! The tests count this process's threads, so they run one at a time (`SERIAL`).
mod common;
mod engine_support;

use common::{Instance, OutEvent, TestHost};
use engine_support::*;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn host() -> TestHost {
    TestHost::load_default()
}

fn top_ccs(events: &[OutEvent]) -> Vec<u8> {
    events.iter().filter_map(OutEvent::as_cc).filter(|c| c.1 == TOP_CC).map(|c| c.2).collect()
}

/// Feeds music from `pos` in blocks of `block` until a top-genre CC (0..10) appears; returns the
/// events and the new position. Past the first window it paces by audio time (real time), so the
/// analysis thread, not offline rendering, does the work. Fails after `limit` (a hang guard).
fn music_until_genre(
    inst: &mut Instance,
    rate: f64,
    block: usize,
    mut pos: usize,
    limit: Duration,
) -> (Vec<OutEvent>, usize) {
    let start = Instant::now();
    let mut paced: Option<(Instant, usize)> = None;
    let mut seed = 0xDEAD_BEEFu64 ^ pos as u64;
    let mut events = Vec::new();
    loop {
        let input = music(rate, pos, block, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, "music");
        events.extend(ev);
        pos += block;
        if top_ccs(&events).iter().any(|&v| v < 10) {
            return (events, pos);
        }
        assert!(start.elapsed() < limit, "no genre CC within {limit:?} ({} s of music)", pos as f64 / rate);
        if pos as f64 / rate > 2.5 {
            let (t0, p0) = *paced.get_or_insert((Instant::now(), pos));
            let ahead = (pos - p0) as f64 / rate - t0.elapsed().as_secs_f64();
            if ahead > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(ahead));
            }
        }
    }
}

#[test]
fn sixteen_instances_threads_cpu_memory() {
    let _guard = serial();
    // GENRESCOPE_STRESS_INSTANCES: another count, for BENCHMARKS.md's per-instance CPU.
    let n: usize = std::env::var("GENRESCOPE_STRESS_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    const RATE: f64 = 48_000.0;
    const BLOCK: usize = 512;
    let host = host();
    // GENRESCOPE_STRESS_MODEL=models measures the shipped model instead (BENCHMARKS.md).
    let chosen = std::env::var_os("GENRESCOPE_STRESS_MODEL").map(std::path::PathBuf::from);
    let model = chosen.as_deref().unwrap_or(test_model());
    eprintln!("model: {}", model.display());
    let threads_before = thread_count();
    let rss_before = rss_kib();

    // The first instance pays for ONNX Runtime (library + the process-wide environment).
    let mut insts = vec![instance_with_model(&host, model)];
    insts[0].activate(RATE, BLOCK as u32);
    music_until_genre(&mut insts[0], RATE, BLOCK, 0, Duration::from_secs(30));
    let threads_one = thread_count();
    let rss_one = rss_kib();

    for _ in 1..n {
        let mut inst = instance_with_model(&host, model);
        inst.activate(RATE, BLOCK as u32);
        insts.push(inst);
    }
    let cpu0 = process_cpu_s();
    let analysis_cpu0 = threads_cpu_s("genrescope-anal");
    let audio_cpu0 = threads_cpu_s("test-host-audio");
    let wall0 = Instant::now();
    // Round robin, 6 s of audio per instance, until every instance has claimed a genre.
    let mut seeds: Vec<u64> = (1..=n as u64).collect();
    let mut claimed = vec![false; n];
    let mut pos = 0usize;
    while pos < (RATE * 6.0) as usize || claimed.iter().any(|c| !c) {
        for (i, inst) in insts.iter_mut().enumerate() {
            let input = music(RATE, pos, BLOCK, &mut seeds[i]);
            let (out, ev) = inst.process(&input);
            assert_bit_exact(&input, &out, &format!("instance {i}"));
            claimed[i] |= top_ccs(&ev).iter().any(|&v| v < 10);
        }
        pos += BLOCK;
        assert!(wall0.elapsed() < Duration::from_secs(50), "instances without a genre after 50 s: {claimed:?}");
        // Real time, as a host's audio thread would run them.
        let ahead = pos as f64 / RATE - wall0.elapsed().as_secs_f64();
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead));
        }
    }
    let audio_s = pos as f64 / RATE;
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = process_cpu_s() - cpu0;
    let analysis_cpu = threads_cpu_s("genrescope-anal") - analysis_cpu0;
    let audio_cpu = threads_cpu_s("test-host-audio") - audio_cpu0;
    let threads_all = thread_count();
    let rss_all = rss_kib();
    let names = thread_names();
    let analysis_threads = names.iter().filter(|n| n.starts_with("genrescope-anal")).count();
    let host_audio_threads = names.iter().filter(|n| n.starts_with("test-host-audio")).count();

    let per_extra_kib = rss_all.saturating_sub(rss_one) as f64 / (n - 1).max(1) as f64;
    eprintln!("threads: before {threads_before}, 1 instance {threads_one}, {n} instances {threads_all} ({analysis_threads} analysis, {host_audio_threads} host audio)");
    eprintln!(
        "RSS: before {rss_before} KiB, first instance +{} KiB, each further instance +{per_extra_kib:.0} KiB",
        rss_one.saturating_sub(rss_before)
    );
    eprintln!(
        "CPU over {audio_s:.1} s of audio x {n} instances in {wall:.1} s wall: process {cpu:.2} s; \
         per instance: analysis thread {:.1} ms/s of audio, audio thread {:.1} ms/s of audio",
        analysis_cpu / n as f64 / audio_s * 1e3,
        audio_cpu / n as f64 / audio_s * 1e3,
    );

    // One analysis thread per instance, plus the host's own audio threads; besides those only a
    // small constant: ORT's environment thread (created from the first analysis thread, so it
    // inherits the name "genrescope-anal") and nice-plug's shared "bg-worker".
    assert!((n..=n + 1).contains(&analysis_threads), "{names:?}");
    assert_eq!(host_audio_threads, n);
    let plugin_growth = threads_all - threads_before - host_audio_threads;
    assert!(plugin_growth <= n + 3, "plugin threads grew by {plugin_growth} for {n} instances: {names:?}");
    // Each extra instance is one more analysis thread, nothing more.
    assert_eq!(threads_all - threads_one, 2 * (n - 1), "{names:?}");
    // A seed-size model must cost far less than real time, per instance, on either thread.
    assert!(
        analysis_cpu / n as f64 / audio_s < 0.2,
        "analysis thread uses {:.0}% of real time",
        analysis_cpu / n as f64 / audio_s * 100.0
    );
    assert!(
        audio_cpu / n as f64 / audio_s < 0.2,
        "audio thread uses {:.0}% of real time",
        audio_cpu / n as f64 / audio_s * 100.0
    );
    assert!(per_extra_kib < 64.0 * 1024.0, "{per_extra_kib} KiB per instance");

    drop(insts);
    let after = thread_names();
    let left = after.iter().filter(|n| n.starts_with("genrescope-anal")).count();
    assert!(left <= 1, "analysis threads left (only ORT's environment thread may stay): {after:?}");
    assert!(thread_count() <= threads_one - 2, "threads left after dropping all instances: {after:?}");
}

#[test]
fn hostile_samples_pass_unchanged_and_music_still_detected() {
    let _guard = serial();
    let host = host();
    let mut inst = instance_with_model(&host, test_model());
    inst.activate(48_000.0, 512);
    // Get the analysis going on music first, so garbage hits a live model and smoother.
    let (_, mut pos) = music_until_genre(&mut inst, 48_000.0, 512, 0, Duration::from_secs(30));

    let nan_payload = f32::from_bits(0x7FC0_1234);
    let neg_nan = f32::from_bits(0xFFC0_0001);
    let signalling_nan = f32::from_bits(0x7F80_0001);
    type Pattern = Box<dyn Fn(usize) -> f32>;
    let patterns: Vec<(&str, Pattern)> = vec![
        ("NaN", Box::new(|_| f32::NAN)),
        ("NaN payloads", Box::new(move |i| [nan_payload, neg_nan, signalling_nan][i % 3])),
        ("+Inf/-Inf", Box::new(|i| if i % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY })),
        ("1e30", Box::new(|i| if i % 2 == 0 { 1e30 } else { -1e30 })),
        ("f32::MAX", Box::new(|_| f32::MAX)),
        ("denormals", Box::new(|i| f32::from_bits(1 + (i as u32 % 0x7F_FFFF)))),
        ("mixed", Box::new(move |i| [0.5, f32::NAN, 1e30, -0.0, f32::INFINITY, 1e-42][i % 6])),
    ];
    let mut events = Vec::new();
    for (name, f) in &patterns {
        // 2 s of each, in odd-sized blocks; one channel garbage, the other music, then both.
        let mut seed = 77u64;
        for b in 0..190 {
            let mut input = music(48_000.0, pos, 505, &mut seed);
            for ch in if b % 2 == 0 { 0..1 } else { 0..2 } {
                for (i, x) in input[ch].iter_mut().enumerate() {
                    *x = f(i + b);
                }
            }
            let (out, ev) = inst.process(&input);
            assert_bit_exact(&input, &out, name);
            for (_, cc, v) in ev.iter().filter_map(OutEvent::as_cc) {
                assert!(v <= 127 && (CC_BASE..=TOP_CC).contains(&cc), "{name}: cc {cc} = {v}");
            }
            events.extend(ev);
            pos += 505;
        }
    }
    // Back to music: a genre is claimed again and the genre CCs are valid probabilities again.
    let start = Instant::now();
    let pos_music = pos;
    let mut latest = [None::<u8>; 11];
    let mut seed = 5u64;
    loop {
        let input = music(48_000.0, pos, 512, &mut seed);
        let (out, ev) = inst.process(&input);
        assert_bit_exact(&input, &out, "music after garbage");
        for (_, cc, v) in ev.iter().filter_map(OutEvent::as_cc) {
            latest[(cc - CC_BASE) as usize] = Some(v);
        }
        pos += 512;
        let sum: u32 = latest[..10].iter().map(|v| v.unwrap_or(0) as u32).sum();
        // 8 s of music lets the 2 s smoothing forget the garbage (fed as fast as the host can:
        // offline rendering, so audio time, not wall time, decides).
        if pos - pos_music > 48_000 * 8 && latest[10].is_some_and(|t| t < 10) && (117..=137).contains(&sum) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "no valid genre CCs after garbage: {latest:?}");
    }
    inst.deactivate();
}

#[test]
fn rate_change_then_minutes_of_silence_then_music() {
    let _guard = serial();
    let host = host();
    let mut inst = instance_with_model(&host, test_model());
    inst.activate(44_100.0, 1024);
    music_until_genre(&mut inst, 44_100.0, 1024, 0, Duration::from_secs(30));
    inst.deactivate();

    // New rate: the analysis starts over and finds a genre again.
    inst.activate(96_000.0, 2048);
    let (_, pos) = music_until_genre(&mut inst, 96_000.0, 2048, 0, Duration::from_secs(30));
    inst.deactivate();
    let _ = pos;

    // 3 minutes of silence, as fast as the host can push it.
    inst.activate(48_000.0, 4096);
    let t0 = Instant::now();
    let silence = vec![vec![0.0f32; 4096]; 2];
    let mut silent_events = Vec::new();
    for _ in 0..(48_000 * 180 / 4096) {
        let (out, ev) = inst.process(&silence);
        assert_bit_exact(&silence, &out, "silence");
        silent_events.extend(ev);
    }
    eprintln!("3 min of silence in {:.2} s", t0.elapsed().as_secs_f64());
    assert!(top_ccs(&silent_events).iter().all(|&v| v == 127), "a genre claimed on silence: {silent_events:?}");
    // Then music: the gate opens.
    let (events, _) = music_until_genre(&mut inst, 48_000.0, 4096, 0, Duration::from_secs(30));
    assert!(top_ccs(&events).iter().any(|&v| v < 10));
    inst.deactivate();
    assert!(t0.elapsed() < Duration::from_secs(50));
}
