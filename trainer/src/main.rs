//! `genrescope-trainer`: train the shipped ensemble, evaluate model folders, write test models.
use clap::{Parser, Subcommand};
use genrescope_core::model::MANIFEST_FILE;
use genrescope_trainer::data::{ModelInput, Segments};
use genrescope_trainer::export::FP32_MANIFEST_FILE;
use genrescope_trainer::inference::{disagreements, evaluate_model, member_probs, top1_agreement};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Genrescope trainer: genre heads on the pretrained musicnn trunk (and the from-scratch CNN baseline), GTZAN layout -> ONNX model folders"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The shipped model: musicnn trunk (pruned exactly) + genre heads chosen by artist-disjoint
    /// 2-fold CV, soft-voting ensemble; writes the model folder and, with --report, REPORT.md.
    #[cfg(feature = "train")]
    Train {
        /// Dataset root in GTZAN layout (with splits/train.txt and splits/valid.txt).
        #[arg(long)]
        data: PathBuf,
        /// Model folder to write.
        #[arg(long, default_value = "models")]
        out: PathBuf,
        /// Intermediate files (trunk variants, the train-only model, summary.json).
        #[arg(long, default_value = "target/musicnn-work")]
        work: PathBuf,
        /// Feature cache folder (mel frames).
        #[arg(long, default_value = "target/trainer-cache")]
        cache: PathBuf,
        /// The MSD_musicnn checkpoint folder (`cargo xtask musicnn`); default: $GENRESCOPE_MUSICNN_DIR
        /// or <workspace>/.musicnn/MSD_musicnn.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "small")]
        grid: genrescope_trainer::heads::cv::HeadGrid,
        /// Largest soft-voting ensemble considered.
        #[arg(long, default_value_t = 5)]
        max_members: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Worker threads (decoding, trunk runs).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Frames between training windows (62 ≈ 1 s).
        #[arg(long, default_value_t = 62)]
        train_hop_frames: usize,
        /// Feed the level as is instead of normalizing each window's mean mel power.
        #[arg(long)]
        no_level_norm: bool,
        /// Cap on head epochs.
        #[arg(long, default_value_t = 200)]
        max_epochs: usize,
        /// Also evaluate through the engine and write REPORT.md into --out.
        #[arg(long)]
        report: bool,
    },
    /// The from-scratch CNN baseline (the first models): cross-validated grid, retrained members,
    /// fp32 + int8 ONNX export.
    #[cfg(feature = "train")]
    TrainCnn {
        /// Dataset root in GTZAN layout.
        #[arg(long)]
        data: PathBuf,
        /// Model folder to write (members, manifest.json, manifest.fp32.json).
        #[arg(long, default_value = "models")]
        out: PathBuf,
        /// Checkpoints, CV runs, plots, summary.json.
        #[arg(long, default_value = "target/trainer-work")]
        work: PathBuf,
        /// Feature cache folder.
        #[arg(long, default_value = "target/trainer-cache")]
        cache: PathBuf,
        #[arg(long, value_enum, default_value = "small")]
        grid: genrescope_trainer::grid::GridSize,
        #[arg(long, default_value_t = 2)]
        folds: usize,
        /// Ensemble size (best CV candidates).
        #[arg(long, default_value_t = 3)]
        members: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Cap on epochs (smoke runs).
        #[arg(long)]
        max_epochs: Option<usize>,
        /// Decoding threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Training windows start every N frames (130 = non-overlapping, as the shipped model;
        /// 44 ≈ 1 s overlap, see models/REPORT.md). CV scores and validation always use
        /// non-overlapping segments.
        #[arg(long, default_value_t = 130)]
        train_hop_frames: usize,
        /// Weight the loss per genre by inverse training-window frequency.
        #[arg(long)]
        class_balanced: bool,
        /// Also write REPORT.md into --out (needs ONNX Runtime for latency/agreement).
        #[arg(long)]
        report: bool,
        /// Training device: cpu, or cuda / cuda:N (needs the `cuda` feature).
        #[arg(long, default_value = "cpu")]
        device: genrescope_trainer::backend::Backend,
    },
    /// Time training epochs on synthetic windows (CPU vs CUDA throughput); prints JSON.
    #[cfg(feature = "train")]
    BenchTrain {
        #[arg(long, default_value = "cpu")]
        device: genrescope_trainer::backend::Backend,
        /// Windows per epoch (534 = the shipped model's training set).
        #[arg(long, default_value_t = 534)]
        windows: usize,
        /// Timed epochs, after one untimed warm-up epoch.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
    /// Median single-window latency of a model folder (whole model and trunk), 1 thread.
    #[cfg(feature = "train")]
    Latency {
        #[arg(long, default_value = "models")]
        model: PathBuf,
        #[arg(long, default_value_t = 200)]
        iters: usize,
    },
    /// Evaluate a model folder's int8 and fp32 members with ONNX Runtime on the valid split.
    Evaluate {
        #[command(flatten)]
        args: ModelAndData,
    },
    /// Re-quantize a model folder's fp32 members (manifest.fp32.json) to int8, calibrating on
    /// the training split; no checkpoints needed. Prints int8/fp32 top-1 agreement per member
    /// on the calibration (training) segments.
    Quantize {
        #[command(flatten)]
        args: ModelAndData,
    },
    /// Write a random-weight model folder (for tests of the plugin/engine).
    ExportTestModel {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2)]
        members: usize,
        #[arg(long)]
        quantized: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// A model folder and the dataset (with its split) to run it on.
#[derive(clap::Args)]
struct ModelAndData {
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Dataset root in GTZAN layout.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "target/trainer-cache")]
    cache: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Decoding threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Train,
    Valid,
}

impl ModelAndData {
    /// Non-overlapping segments of one part of the dataset's split (cached features).
    fn segments(&self, input: &ModelInput, part: Part) -> anyhow::Result<Segments> {
        let d = genrescope_trainer::data::scan(&self.data)?;
        let sp = genrescope_trainer::data::split(&self.data, &d, 0.2, self.seed)?;
        let idx = if part == Part::Train { &sp.train } else { &sp.valid };
        let clips: Vec<_> = idx.iter().map(|&i| d[i].clone()).collect();
        let feats = genrescope_trainer::data::featurize(&clips, input, Some(&self.cache), self.threads);
        for (p, why) in &feats.skipped {
            eprintln!("skipped {}: {why}", p.display());
        }
        let all: Vec<usize> = (0..clips.len()).collect();
        Ok(Segments::build(&clips, &feats, &all, input))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The from-scratch CNN reads the first models' MFCC windows.
    let cfg = ModelInput::gtzan_mfcc();
    match cli.cmd {
        #[cfg(feature = "train")]
        Cmd::Train {
            data,
            out,
            work,
            cache,
            checkpoint,
            grid,
            max_members,
            seed,
            threads,
            train_hop_frames,
            no_level_norm,
            max_epochs,
            report,
        } => {
            let checkpoint = checkpoint
                .or_else(|| std::env::var_os("GENRESCOPE_MUSICNN_DIR").map(PathBuf::from))
                .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
            let opts = genrescope_trainer::heads::run::MusicnnOptions {
                data,
                out,
                work,
                cache,
                checkpoint,
                grid,
                max_members,
                seed,
                threads,
                train_hop: train_hop_frames,
                normalize_level: !no_level_norm,
                max_epochs,
            };
            let outcome = genrescope_trainer::heads::run::run(&opts)?;
            if report {
                genrescope_trainer::heads::report::write(&opts, &outcome)?;
            }
        }
        #[cfg(feature = "train")]
        Cmd::TrainCnn {
            data,
            out,
            work,
            cache,
            grid,
            folds,
            members,
            seed,
            max_epochs,
            threads,
            train_hop_frames,
            class_balanced,
            report,
            device,
        } => {
            genrescope_trainer::backend::select(device)?;
            let opts = genrescope_trainer::ensemble::TrainOptions {
                data,
                out,
                work,
                cache: Some(cache),
                grid,
                folds,
                members,
                seed,
                max_epochs,
                threads,
                train_hop_frames: Some(train_hop_frames),
                class_balanced,
            };
            let summary = genrescope_trainer::ensemble::run(&opts, &cfg)?;
            if report {
                let valid = genrescope_trainer::ensemble::load_data(
                    &opts.data,
                    &cfg,
                    opts.cache.as_deref(),
                    seed,
                    threads,
                    None,
                )?
                .valid;
                let (int8, p8) = evaluate_model(&opts.out.join("manifest.json"), &valid)?;
                let (fp32, p32) = evaluate_model(&opts.out.join(FP32_MANIFEST_FILE), &valid)?;
                let agreement: Vec<f32> = p8.iter().zip(&p32).map(|(a, b)| top1_agreement(a, b)).collect();
                let flips = disagreements(&p8, &p32, &valid);
                let text = genrescope_trainer::report::markdown(&summary, &fp32, &int8, &agreement, &flips);
                std::fs::write(opts.out.join("REPORT.md"), text)?;
                std::fs::write(
                    opts.work.join("onnx_eval.json"),
                    serde_json::to_string_pretty(&(fp32, int8, agreement))?,
                )?;
            }
        }
        #[cfg(feature = "train")]
        Cmd::BenchTrain { device, windows, epochs } => {
            genrescope_trainer::backend::select(device)?;
            let t = genrescope_trainer::bench::train_throughput(windows, epochs, cfg.window_frames, cfg.frame_dim())?;
            println!("{}", serde_json::to_string_pretty(&t)?);
        }
        #[cfg(feature = "train")]
        Cmd::Latency { model, iters } => {
            let (whole, trunk) = genrescope_trainer::heads::report::latency_us(&model, iters)?;
            println!("{{\"model_us\": {whole:.0}, \"trunk_us\": {trunk:.0}}}");
        }
        Cmd::Evaluate { args } => {
            let model = &args.model;
            let valid = args.segments(&cfg, Part::Valid)?;
            let (int8, p8) = evaluate_model(&model.join(MANIFEST_FILE), &valid)?;
            let fp32 = model.join(FP32_MANIFEST_FILE);
            let mut agreement = vec![];
            let mut flips = vec![];
            let mut fp = None;
            if fp32.is_file() {
                let (e, p32) = evaluate_model(&fp32, &valid)?;
                agreement = p8.iter().zip(&p32).map(|(a, b)| top1_agreement(a, b)).collect();
                flips = disagreements(&p8, &p32, &valid);
                fp = Some(e);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "valid_tracks": valid.num_tracks(), "valid_segments": valid.len(),
                    "int8": int8, "fp32": fp, "int8_fp32_top1_agreement": agreement,
                    "int8_fp32_disagreements": flips,
                }))?
            );
        }
        Cmd::Quantize { args } => {
            let model = &args.model;
            let train = args.segments(&cfg, Part::Train)?;
            let windows: Vec<&[f32]> = (0..train.len()).map(|i| train.window(i)).collect();
            genrescope_trainer::export::quantize_model_dir(model, &windows)?;
            let p8 = member_probs(&model.join(MANIFEST_FILE), &train)?;
            let p32 = member_probs(&model.join(FP32_MANIFEST_FILE), &train)?;
            for (m, (a, b)) in p8.iter().zip(&p32).enumerate() {
                println!(
                    "member {m}: int8/fp32 top-1 agreement on {} calibration segments: {:.1}%",
                    train.len(),
                    100.0 * top1_agreement(a, b)
                );
            }
            println!("wrote {}", model.join(MANIFEST_FILE).display());
        }
        Cmd::ExportTestModel { out, members, quantized, seed } => {
            genrescope_trainer::random_test_model(&out, &cfg, members, quantized, seed)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
