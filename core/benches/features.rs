//! Audio-thread cost of the feature front end. Run: `cargo bench -p genrescope-core --bench features`.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use genrescope_core::features::{extract_offline, FeatureConfig, FeaturePipeline, StreamingExtractor};

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = FeatureConfig::default();

    // One 512-sample host block at 48 kHz (resampling + whatever frames complete).
    for rate in [48000.0f32, 44100.0] {
        let input = noise(rate as usize * 4, 1);
        let mut p = FeaturePipeline::new(&cfg, rate, 512);
        let mut pos = 0;
        c.bench_function(&format!("pipeline_block512_{}k", rate / 1000.0), |b| {
            b.iter(|| {
                if pos + 512 > input.len() {
                    pos = 0;
                }
                let mut acc = 0.0f32;
                p.push(black_box(&input[pos..pos + 512]), |f| acc += f[0]);
                pos += 512;
                black_box(acc)
            })
        });
    }

    // Exactly one frame per iteration: push hop_length samples at 22050 Hz once primed.
    let input = noise(22050 * 4, 2);
    let mut s = StreamingExtractor::new(&cfg);
    s.push(&input[..cfg.n_fft], |_| {});
    let mut pos = cfg.n_fft;
    c.bench_function("streaming_one_frame_22k", |b| {
        b.iter(|| {
            if pos + cfg.hop_length > input.len() {
                pos = cfg.n_fft;
            }
            let mut n = 0;
            s.push(black_box(&input[pos..pos + cfg.hop_length]), |_| n += 1);
            pos += cfg.hop_length;
            black_box(n)
        })
    });

    let clip = noise(22050 * 30, 3);
    let mut g = c.benchmark_group("offline");
    g.sample_size(10);
    g.bench_function("extract_offline_30s", |b| b.iter(|| black_box(extract_offline(&cfg, black_box(&clip)))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
