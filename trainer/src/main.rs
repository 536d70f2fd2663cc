//! `genrescope-trainer`: train the shipped model, time its training, time a model folder.
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Genrescope trainer: genre heads on the pretrained musicnn trunk, GTZAN layout -> ONNX model folder"
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
        /// A corpus, given as often as there are corpora: a GTZAN-layout folder (folds from its
        /// splits/train.txt and splits/valid.txt), a folder with a tracks.csv, or a CSV file
        /// (columns file, genre and optionally split, artist). Labels other than the ten genres are
        /// out-of-set examples.
        #[arg(long = "corpus", alias = "data", required = true)]
        corpora: Vec<PathBuf>,
        /// Model folder to write (created or overwritten; `models` is the shipped one).
        #[arg(long)]
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
        /// Generated non-music clips (noises, tones, sweeps, ...; plus espeak-ng speech if
        /// installed) per fold as out-of-set examples.
        #[arg(long, default_value_t = 24)]
        synthetic_per_fold: usize,
        /// Largest share of any corpus's in-set tracks the out-of-set threshold may flag (out of fold).
        #[arg(long, default_value_t = 0.03)]
        out_of_set_budget: f32,
        /// Also evaluate through the engine and write REPORT.md and card.json into --out.
        #[arg(long)]
        report: bool,
        /// Device the heads train on: cpu, or cuda / cuda:N (needs the `cuda` feature). The trunk
        /// runs in ONNX Runtime on the CPU either way.
        #[arg(long, default_value = "cpu")]
        device: genrescope_trainer::backend::Backend,
    },
    /// Time the heads' training epochs on a device (CPU vs CUDA throughput) on synthetic trunk
    /// outputs; prints JSON.
    #[cfg(feature = "train")]
    BenchTrain {
        #[arg(long, default_value = "cpu")]
        device: genrescope_trainer::backend::Backend,
        /// Examples per epoch (4648 = fold A's training windows in the shipped run).
        #[arg(long, default_value_t = 4648)]
        windows: usize,
        /// Trunk outputs per example (910 = the widest head of the grid).
        #[arg(long, default_value_t = 910)]
        dim: usize,
        /// Hidden units of the head (0 = linear).
        #[arg(long, default_value_t = 128)]
        hidden: usize,
        /// Timed epochs, after one untimed warm-up epoch.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
    /// What augmenting the training audio does: the heads trained with and without augmented
    /// copies, 2-fold artist-disjoint CV, scored as is and on re-rendered held-out audio; writes
    /// augment-cv.md and augment-cv.json into --out.
    #[cfg(feature = "train")]
    AugmentCv {
        #[command(flatten)]
        common: ExperimentArgs,
        /// Rows: comma-separated sets of kinds joined by '+' (gain, eq, lowpass, pitch, stretch,
        /// noise, reverb; `none` = baseline, `all` = every kind).
        #[arg(long, default_value = "none,gain,eq,lowpass,pitch,stretch,noise,reverb,all")]
        rows: String,
        /// Augmented copies per clip and kind.
        #[arg(long, default_value_t = 1)]
        copies: usize,
        /// Head trainings (seeds) per row; scores are their mean.
        #[arg(long, default_value_t = 3)]
        head_seeds: usize,
        #[arg(long, value_enum, default_value = "small")]
        grid: genrescope_trainer::heads::cv::HeadGrid,
        #[arg(long, default_value_t = 5)]
        max_members: usize,
        #[arg(long, default_value = "target/augment-cv")]
        out: PathBuf,
    },
    /// Fine-tuning the trunk's back end (mid end + dense layers + a genre head; front end frozen,
    /// its outputs cached) against the frozen trunk + heads, 2-fold artist-disjoint CV; writes
    /// finetune-cv.md and finetune-cv.json into --out.
    #[cfg(feature = "train")]
    FinetuneCv {
        #[command(flatten)]
        common: ExperimentArgs,
        /// Learning rates to try (Adam), comma-separated; one fine-tuning run each.
        #[arg(long, default_value = "1e-4", value_delimiter = ',')]
        lr: Vec<f64>,
        #[arg(long, default_value_t = 1e-4)]
        weight_decay: f32,
        #[arg(long, default_value_t = 0.5)]
        dropout: f64,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Most fine-tuning epochs (early stopping on 20 % of the fold's tracks).
        #[arg(long, default_value_t = 30)]
        ft_epochs: usize,
        #[arg(long, default_value_t = 4)]
        patience: usize,
        /// Keep the mid end frozen too (train only the back end's BN, dense layer and BN, and the head).
        #[arg(long)]
        back_only: bool,
        #[arg(long, value_enum, default_value = "small")]
        grid: genrescope_trainer::heads::cv::HeadGrid,
        #[arg(long, default_value_t = 5)]
        max_members: usize,
        #[arg(long, default_value = "target/finetune-cv")]
        out: PathBuf,
        /// cpu, or cuda / cuda:N (the `cuda` feature): where fine-tuning and front ends run.
        #[arg(long, default_value = "cpu")]
        device: genrescope_trainer::backend::Backend,
    },
    /// Per-prediction latency of a model folder, 1 thread: every `manifest*.json` in it (the
    /// shipped model and its fp32 twin), streaming and whole windows, at the plugin's default hop
    /// and with windows side by side; prints a table and, with --json, JSON.
    Latency {
        /// Model folder to time (read only).
        #[arg(long, default_value = "models")]
        model: PathBuf,
        /// Windows of a single window on its own (the first numbers, for older tools).
        #[arg(long, default_value_t = 200)]
        iters: usize,
        /// An audio file to stream (default: 30 s of deterministic noise through the model's front end).
        #[arg(long)]
        audio: Option<PathBuf>,
        /// Passes over the stream (after one untimed pass).
        #[arg(long, default_value_t = 3)]
        passes: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Options every experiment shares (the `train` run's first steps).
#[cfg(feature = "train")]
#[derive(clap::Args)]
struct ExperimentArgs {
    /// A corpus, as often as there are corpora (as `train --corpus`); scores are per corpus.
    #[arg(long = "corpus", alias = "data", required = true)]
    corpora: Vec<PathBuf>,
    /// Generated non-music clips per fold as out-of-set examples (as `train`).
    #[arg(long, default_value_t = 24)]
    synthetic_per_fold: usize,
    #[arg(long, default_value = "target/musicnn-work")]
    work: PathBuf,
    #[arg(long, default_value = "target/trainer-cache")]
    cache: PathBuf,
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 62)]
    train_hop_frames: usize,
    #[arg(long, default_value_t = 200)]
    max_epochs: usize,
}

#[cfg(feature = "train")]
fn checkpoint_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("GENRESCOPE_MUSICNN_DIR").map(PathBuf::from))
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"))
}

#[cfg(feature = "train")]
impl ExperimentArgs {
    fn options(self) -> genrescope_trainer::experiments::CommonOptions {
        genrescope_trainer::experiments::CommonOptions {
            corpora: self.corpora,
            synthetic_per_fold: self.synthetic_per_fold,
            work: self.work,
            cache: self.cache,
            checkpoint: checkpoint_dir(self.checkpoint),
            seed: self.seed,
            threads: self.threads,
            train_hop: self.train_hop_frames,
            max_epochs: self.max_epochs,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        #[cfg(feature = "train")]
        Cmd::Train {
            corpora,
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
            synthetic_per_fold,
            out_of_set_budget,
            report,
            device,
        } => {
            genrescope_trainer::backend::select(device)?;
            let checkpoint = checkpoint
                .or_else(|| std::env::var_os("GENRESCOPE_MUSICNN_DIR").map(PathBuf::from))
                .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.musicnn/MSD_musicnn"));
            let opts = genrescope_trainer::heads::run::MusicnnOptions {
                corpora,
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
                synthetic_per_fold,
                out_of_set_budget,
            };
            let outcome = genrescope_trainer::heads::run::run(&opts)?;
            if report {
                genrescope_trainer::heads::report::write(&opts, &outcome)?;
            }
        }
        #[cfg(feature = "train")]
        Cmd::BenchTrain { device, windows, epochs, dim, hidden } => {
            genrescope_trainer::backend::select(device)?;
            let o = genrescope_trainer::bench::BenchOptions { windows, dim, hidden, epochs };
            let t = genrescope_trainer::bench::train_throughput(&o)?;
            println!("{}", serde_json::to_string_pretty(&t)?);
        }
        #[cfg(feature = "train")]
        Cmd::AugmentCv { common, rows, copies, head_seeds, grid, max_members, out } => {
            let o = genrescope_trainer::experiments::augment_cv::AugmentCvOptions {
                common: common.options(),
                rows: genrescope_trainer::experiments::augment_cv::parse_rows(&rows)?,
                copies,
                head_seeds,
                grid,
                max_members,
                out,
            };
            let r = genrescope_trainer::experiments::augment_cv::run(&o)?;
            print!("{}", genrescope_trainer::experiments::augment_cv::markdown(&r));
        }
        #[cfg(feature = "train")]
        Cmd::FinetuneCv {
            common,
            lr,
            weight_decay,
            dropout,
            batch_size,
            ft_epochs,
            patience,
            back_only,
            grid,
            max_members,
            out,
            device,
        } => {
            genrescope_trainer::backend::select(device)?;
            let common = common.options();
            let configs = lr
                .iter()
                .map(|&lr| genrescope_trainer::musicnn::finetune::FineTuneConfig {
                    lr,
                    weight_decay,
                    batch_size,
                    max_epochs: ft_epochs,
                    patience,
                    dropout,
                    train_mid: !back_only,
                    seed: common.seed,
                })
                .collect();
            let o = genrescope_trainer::experiments::finetune_cv::FinetuneCvOptions {
                common,
                configs,
                grid,
                max_members,
                out,
            };
            let r = genrescope_trainer::experiments::finetune_cv::run(&o)?;
            print!("{}", genrescope_trainer::experiments::finetune_cv::markdown(&r));
        }
        Cmd::Latency { model, iters, audio, passes, json } => {
            use genrescope_trainer::inference::{cpu_description, latency_table, latency_us};
            let (whole, trunk) = latency_us(&model, iters)?;
            let rows = latency_table(&model, audio.as_deref(), &[Some(0.5), None], passes)?;
            if json {
                let v = serde_json::json!({
                    "cpu": cpu_description(), "model_us": whole.round(), "trunk_us": trunk.round(), "rows": rows,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{} — {}", model.display(), cpu_description());
                println!("one window on its own: model {:.2} ms, trunk {:.2} ms", whole / 1e3, trunk / 1e3);
                println!("| manifest | trunk | hop | per prediction | share of a core |\n|---|---|---|---|---|");
                for r in rows {
                    println!(
                        "| {} | {} | {:.2} s | {:.2} ms | {:.2} % |",
                        r.manifest,
                        r.trunk,
                        r.hop_s,
                        r.us / 1e3,
                        100.0 * r.core_share
                    );
                }
            }
        }
    }
    Ok(())
}
