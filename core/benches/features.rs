//! Audio-thread cost of the feature front ends (the first models' MFCC and musicnn's log-mel):
//! `cargo bench -p genrescope-core --bench features`.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use genrescope_core::features::{
    extract_features, FeaturePipeline, FeatureTransform, FrontEndSpec, StreamingExtractor,
};

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
    for (tag, spec) in [("mfcc22k", FrontEndSpec::gtzan_mfcc()), ("musicnn16k", FrontEndSpec::musicnn())] {
        // One 512-sample host block (resampling + whatever frames complete).
        for rate in [44100.0f32, 48000.0, 96000.0] {
            let input = noise(rate as usize * 4, 1);
            let mut p = FeaturePipeline::new(&spec, rate).unwrap();
            let mut pos = 0;
            c.bench_function(&format!("{tag}/pipeline_block512_{}k", rate / 1000.0), |b| {
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

        // Exactly one frame per iteration: push hop_length samples at the model rate once primed.
        let input = noise(spec.sample_rate as usize * 4, 2);
        let mut s = StreamingExtractor::new(&spec).unwrap();
        s.push(&input[..spec.n_fft], |_| {});
        let mut pos = spec.n_fft;
        c.bench_function(&format!("{tag}/streaming_one_frame"), |b| {
            b.iter(|| {
                if pos + spec.hop_length > input.len() {
                    pos = spec.n_fft;
                }
                let mut n = 0;
                s.push(black_box(&input[pos..pos + spec.hop_length]), |_| n += 1);
                pos += spec.hop_length;
                black_box(n)
            })
        });

        // The per-window transform on the analysis thread (187 frames ≈ musicnn's window).
        let window = noise(187 * spec.mel_dim(), 4).iter().map(|x| x * x).collect::<Vec<_>>();
        let mut out = vec![0.0; 187 * spec.frame_dim()];
        let mut t = FeatureTransform::new(&spec).unwrap();
        c.bench_function(&format!("{tag}/transform_187_frames"), |b| b.iter(|| t.apply(black_box(&window), &mut out)));

        let clip = noise(spec.sample_rate as usize * 30, 3);
        let mut g = c.benchmark_group(format!("{tag}/offline"));
        g.sample_size(10);
        g.bench_function("extract_features_30s", |b| {
            b.iter(|| black_box(extract_features(&spec, black_box(&clip)).unwrap()))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
