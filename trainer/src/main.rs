//! `genrescope-trainer`: train the shipped ensemble, evaluate model folders, write test models.
use clap::{Parser, Subcommand};
use genrescope_core::features::FeatureConfig;
use genrescope_trainer::inference::{evaluate_model, top1_agreement};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Genrescope trainer: CNN ensemble on GTZAN -> ONNX (fp32 + int8)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cross-validated grid, retrain chosen members, evaluate, export fp32 + int8 ONNX.
    #[cfg(feature = "train")]
    Train {
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
    },
    /// Evaluate a model folder's int8 and fp32 members with ONNX Runtime on the valid split.
    Evaluate {
        #[arg(long, default_value = "models")]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "target/trainer-cache")]
        cache: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = FeatureConfig::default();
    match cli.cmd {
        #[cfg(feature = "train")]
        Cmd::Train {
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
        } => {
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
                let (int8, p8) = evaluate_model(&opts.out.join("manifest.json"), &cfg, &valid)?;
                let (fp32, p32) =
                    evaluate_model(&opts.out.join("manifest.fp32.json"), &cfg, &valid)?;
                let agreement: Vec<f32> = p8
                    .iter()
                    .zip(&p32)
                    .map(|(a, b)| top1_agreement(a, b))
                    .collect();
                let text = genrescope_trainer::report::markdown(&summary, &fp32, &int8, &agreement);
                std::fs::write(opts.out.join("REPORT.md"), text)?;
                std::fs::write(
                    opts.work.join("onnx_eval.json"),
                    serde_json::to_string_pretty(&(fp32, int8, agreement))?,
                )?;
            }
        }
        Cmd::Evaluate {
            model,
            data,
            cache,
            seed,
        } => {
            let d = genrescope_trainer::data::scan(&data)?;
            let sp = genrescope_trainer::data::split(&data, &d, 0.2, seed)?;
            let clips: Vec<_> = sp.valid.iter().map(|&i| d[i].clone()).collect();
            let feats = genrescope_trainer::data::featurize(&clips, &cfg, Some(&cache), 2);
            let valid = genrescope_trainer::data::Segments::build(
                &clips,
                &feats,
                &(0..clips.len()).collect::<Vec<_>>(),
                &cfg,
            );
            let (int8, p8) = evaluate_model(&model.join("manifest.json"), &cfg, &valid)?;
            let fp32 = model.join("manifest.fp32.json");
            let mut agreement = vec![];
            let mut fp = None;
            if fp32.is_file() {
                let (e, p32) = evaluate_model(&fp32, &cfg, &valid)?;
                agreement = p8
                    .iter()
                    .zip(&p32)
                    .map(|(a, b)| top1_agreement(a, b))
                    .collect();
                fp = Some(e);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "valid_tracks": valid.num_tracks(), "valid_segments": valid.len(),
                    "int8": int8, "fp32": fp, "int8_fp32_top1_agreement": agreement,
                }))?
            );
        }
        Cmd::ExportTestModel {
            out,
            members,
            quantized,
            seed,
        } => {
            genrescope_trainer::random_test_model(&out, &cfg, members, quantized, seed)?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
