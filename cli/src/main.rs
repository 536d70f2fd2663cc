//! The `Genrescope` command line. `analyze FILE` runs an audio file through the plugin's engine
//! and prints a genre timeline and a whole-file verdict (text or JSON), optionally a PNG plot;
//! `analyze --jsonl` is a scan's per-file work as a map step (one library row per file).
//! `scan`, `import`, `find`, `similar`, `radio`, `tags` and `stats` keep a music library in SQLite
//! (`library.rs`).
use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use genrescope_core::audio_file::{decode_file, DecodedAudio};
use genrescope_core::labels::{GENRES, NUM_GENRES};
use genrescope_core::model::top_k;
use genrescope_engine::settings::{GATE_DB, HOP_S, SMOOTHING_S};
use genrescope_engine::{default_model_dir, Claim, OfflineEngine, OfflineSettings, Prediction};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod library;
mod plot;

#[derive(Parser)]
#[command(name = "Genrescope", version, about = "Genrescope: music genre detection")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse an audio file (wav, flac, mp3, ogg/vorbis, aac/m4a, Sun .au) with the plugin's engine;
    /// with --jsonl, many files (or a list on stdin) into library rows, one JSON line each.
    Analyze(AnalyzeArgs),
    /// Analyse every audio file under folders into the library (re-scans redo only what changed).
    Scan(library::ScanArgs),
    /// Merge rows from `analyze --jsonl` (e.g. made on a cluster) into the library.
    Import(library::ImportArgs),
    /// List library tracks by genre and/or music tags (style, mood), optionally as an M3U playlist.
    Find(library::FindArgs),
    /// List library tracks that sound like a file (cosine similarity of the model's embeddings).
    Similar(library::SimilarArgs),
    /// A playlist that walks from a seed file through similar tracks (no repeats, no folder twice in a row).
    Radio(library::RadioArgs),
    /// The music tags (style, mood, era, voice) of an audio file.
    Tags(library::TagsArgs),
    /// Library totals and its genre distribution, optionally as a PNG chart.
    Stats(library::StatsArgs),
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Audio file to analyse (with --jsonl: files; none or `-`: one path per line on stdin).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The library's per-file work as a map step: one self-contained JSON row per file on stdout,
    /// in input order (errors are rows too), for `Genrescope import`. Engine settings are the
    /// library's (the options below do not apply).
    #[arg(long, conflicts_with_all = ["json", "plot", "block", "smoothing", "hop", "gate"])]
    jsonl: bool,
    /// With --jsonl: files analysed at once, one engine each [default: 1].
    #[arg(long, value_name = "N", requires = "jsonl", value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: Option<u32>,
    /// Model folder (with manifest.json). Default: $GENRESCOPE_MODEL_DIR, else the bundled model
    /// beside this program (builds with the dev-paths feature: else the workspace's models/).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a PNG timeline of the genre probabilities.
    #[arg(long, value_name = "OUT.png")]
    plot: Option<PathBuf>,
    /// Host block size in samples.
    #[arg(long, value_name = "N", default_value_t = OfflineSettings::default().block as u32,
          value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    block: u32,
    /// Smoothing time constant in seconds (0 = none).
    #[arg(long, value_name = "S", default_value_t = SMOOTHING_S.default)]
    smoothing: f32,
    /// Seconds between predictions [default: the model's window, so windows lie side by side;
    /// the plugin's default is 0.5].
    #[arg(long, value_name = "S")]
    hop: Option<f32>,
    /// Level gate in dBFS: quieter windows claim no genre.
    #[arg(long, value_name = "DB", default_value_t = GATE_DB.default, allow_negative_numbers = true)]
    gate: f32,
}

fn main() -> ExitCode {
    // Last resort: a bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("Genrescope: internal error: {info}");
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) if args.jsonl => library::run_map(&args.files, args.model.as_deref(), args.jobs),
        Command::Analyze(args) => analyze(&args).map(|()| true),
        Command::Scan(args) => library::run_scan(&args),
        Command::Import(args) => library::run_import(&args).map(|()| true),
        Command::Find(args) => library::run_find(&args).map(|()| true),
        Command::Similar(args) => library::run_similar(&args).map(|()| true),
        Command::Radio(args) => library::run_radio(&args).map(|()| true),
        Command::Tags(args) => library::run_tags(&args).map(|()| true),
        Command::Stats(args) => library::run_stats(&args).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(library::INTERRUPTED),
        Err(e) => {
            eprintln!("Genrescope: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, `outer: inner`, leaving out a cause whose text the line
/// already holds (the engine's and library's errors print their sources in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line += ": ";
            }
            line += &text;
        }
    }
    line.replace(['\n', '\r'], " ")
}

#[derive(Serialize)]
struct Report {
    file: String,
    sample_rate: u32,
    channels: usize,
    duration_s: f64,
    /// Damage the decoder noticed (truncation, skipped packets); empty for a clean file.
    warnings: Vec<String>,
    model: ModelReport,
    settings: SettingsReport,
    labels: Vec<&'static str>,
    predictions: Vec<PredictionReport>,
    verdict: VerdictReport,
}

#[derive(Serialize)]
struct ModelReport {
    name: String,
    dir: String,
    /// The trunk's file, when the members share one (run once per window).
    trunk: Option<String>,
    members: Vec<MemberReport>,
    /// Front-end frames per window, and the seconds they span.
    window_frames: usize,
    window_s: f64,
    /// The out-of-set class ("other / unsure"), if the model has one; null otherwise.
    out_of_set: Option<OutOfSetReport>,
}

#[derive(Serialize)]
struct OutOfSetReport {
    label: String,
    /// A prediction (smoothed) or a file (mean) is "other" when its out-of-set probability
    /// reaches this.
    threshold: f32,
}

#[derive(Serialize)]
struct MemberReport {
    file: String,
    quantization: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    val_accuracy: Option<f32>,
}

#[derive(Serialize)]
struct SettingsReport {
    block: usize,
    hop_s: f32,
    smoothing_s: f32,
    gate_db: f32,
}

#[derive(Serialize)]
struct PredictionReport {
    time_s: f64,
    /// Host sample at which the plugin (same block size, offline rendering) sends this
    /// prediction's MIDI: the start of the block during which its window completed.
    block_start: u64,
    /// The genre claimed: the top of the smoothed probabilities; null while gated or "other".
    top: Option<&'static str>,
    gated: bool,
    /// "Other / unsure": `smoothed_other` reached the model's threshold; no genre is claimed.
    out_of_set: bool,
    level_db: f32,
    raw: [f32; NUM_GENRES],
    smoothed: [f32; NUM_GENRES],
    /// The window's out-of-set probability (with `raw` it sums to 1), and smoothed like the
    /// genres; 0 for a model without the class.
    other: f32,
    smoothed_other: f32,
}

#[derive(Serialize)]
struct VerdictReport {
    /// Mean of the raw ensemble probabilities over the windows the gate let through.
    method: &'static str,
    windows: usize,
    gated_windows: usize,
    /// Windows whose (smoothed) claim was "other / unsure".
    other_windows: usize,
    /// The file's claim: a genre, or "other" when the mean out-of-set probability reached the
    /// model's threshold; null when every window was gated.
    claim: Option<&'static str>,
    /// null when every window was gated.
    probs: Option<[f32; NUM_GENRES]>,
    /// Mean out-of-set probability over the same windows (0 without the class); null when every
    /// window was gated.
    other: Option<f32>,
    /// The three most probable genres (even when the claim is "other").
    top: Vec<GenreScore>,
}

/// The claim's name in the JSON and the text: a genre, or "other".
const OTHER_NAME: &str = "other";

#[derive(Serialize)]
struct GenreScore {
    genre: &'static str,
    p: f32,
}

fn analyze(args: &AnalyzeArgs) -> Result<()> {
    let file = match args.files.as_slice() {
        [f] => f,
        [] => return Err(anyhow!("no FILE given: `Genrescope analyze FILE` (or --jsonl with a list on stdin)")),
        _ => return Err(anyhow!("analyze takes one FILE; for many, add --jsonl (one JSON row per file)")),
    };
    if !file.is_file() {
        return Err(anyhow!("{}: no such file", file.display()));
    }
    // The engine would clamp these silently; on the command line an error is clearer.
    for (flag, v, setting) in [
        ("--hop", args.hop, HOP_S),
        ("--smoothing", Some(args.smoothing), SMOOTHING_S),
        ("--gate", Some(args.gate), GATE_DB),
    ] {
        if let Some(v) = v {
            setting.check(v).map_err(|e| anyhow!("{flag} {e}"))?;
        }
    }
    let model_dir = resolve_model(args.model.as_deref())?;
    // Decode first: a bad file should not wait for the model to load.
    let audio = decode_file(file)?;
    // Analysed anyway: what did decode is valid audio, but the user should know it is partial.
    for w in &audio.warnings {
        eprintln!("warning: {}: {w}", file.display());
    }
    let mut engine = OfflineEngine::new(&model_dir)?;
    let settings = OfflineSettings {
        block: args.block as usize,
        smoothing_s: args.smoothing,
        hop_s: args.hop,
        gate_db: args.gate,
    };
    let predictions = engine.analyze(&audio, &settings)?;
    let report = build_report(file, &audio, &engine, &model_dir, &settings, &predictions);
    let mut out = if args.json { serde_json::to_string_pretty(&report)? + "\n" } else { text_report(&report) };
    if let Some(png) = &args.plot {
        if !args.json {
            out += &format!("plot: {}\n", png.display());
        }
    }
    if let Some(png) = &args.plot {
        let title = format!(
            "{} - {}",
            file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into()),
            report.model.name
        );
        let other = report
            .model
            .out_of_set
            .as_ref()
            .map(|o| plot::OtherBand { threshold: o.threshold, verdict: report.verdict.other });
        plot::draw_timeline(png, &title, audio.duration_s(), &predictions, report.verdict.probs.as_ref(), other)
            .with_context(|| format!("cannot write plot {}", png.display()))?;
    }
    write_stdout(&out)
}

fn build_report(
    file: &Path,
    audio: &DecodedAudio,
    engine: &OfflineEngine,
    model_dir: &Path,
    settings: &OfflineSettings,
    predictions: &[Prediction],
) -> Report {
    let manifest = engine.manifest();
    let verdict = engine.verdict(predictions);
    let gated = predictions.iter().filter(|p| p.gated).count();
    let other_windows = predictions.iter().filter(|p| p.out_of_set).count();
    Report {
        file: file.display().to_string(),
        sample_rate: audio.sample_rate,
        channels: audio.channels.len(),
        duration_s: audio.duration_s(),
        warnings: audio.warnings.clone(),
        model: ModelReport {
            name: manifest.name.clone(),
            dir: model_dir.display().to_string(),
            trunk: manifest.trunk.as_ref().map(|t| t.file.clone()),
            window_frames: manifest.input.window_frames,
            window_s: manifest.window_seconds(),
            out_of_set: manifest
                .out_of_set
                .as_ref()
                .map(|o| OutOfSetReport { label: o.label.clone(), threshold: o.threshold }),
            members: manifest
                .members
                .iter()
                .map(|m| MemberReport {
                    file: m.file.clone(),
                    quantization: serde_json::to_value(m.quantization)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    val_accuracy: m.val_accuracy,
                })
                .collect(),
        },
        settings: SettingsReport {
            block: settings.block,
            hop_s: engine.hop_s(settings),
            smoothing_s: settings.smoothing_s,
            gate_db: settings.gate_db,
        },
        labels: GENRES.to_vec(),
        predictions: predictions
            .iter()
            .map(|p| PredictionReport {
                time_s: p.time_s,
                block_start: p.block_start,
                top: p.top.map(|i| GENRES[i]),
                gated: p.gated,
                out_of_set: p.out_of_set,
                level_db: p.level_db,
                raw: p.raw,
                smoothed: p.smoothed,
                other: p.other,
                smoothed_other: p.smoothed_other,
            })
            .collect(),
        verdict: VerdictReport {
            method: "mean of raw ensemble probabilities over non-gated windows",
            windows: predictions.len(),
            gated_windows: gated,
            other_windows,
            claim: verdict.map(|v| claim_name(v.claim)).unwrap_or_default(),
            probs: verdict.map(|v| v.probs),
            other: verdict.map(|v| v.other),
            top: verdict
                .map(|v| top_k(&v.probs, 3).into_iter().map(|(i, p)| GenreScore { genre: GENRES[i], p }).collect())
                .unwrap_or_default(),
        },
    }
}

fn claim_name(claim: Claim) -> Option<&'static str> {
    match claim {
        Claim::Genre(g) => GENRES.get(g).copied(),
        Claim::Other => Some(OTHER_NAME),
        Claim::Nothing => None,
    }
}

/// `--model DIR`, else the default model folder (`dev-paths` builds: also the workspace's), else an
/// error saying how to name one.
fn resolve_model(model: Option<&Path>) -> Result<PathBuf> {
    match model {
        Some(d) => Ok(d.to_path_buf()),
        None => {
            default_model_dir().ok_or_else(|| anyhow!("no model found: pass --model DIR or set GENRESCOPE_MODEL_DIR"))
        }
    }
}

/// A bar of `width` cells for p in [0, 1], with eighth-block resolution.
fn bar(p: f32, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (p.clamp(0.0, 1.0) * (width * 8) as f32).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    let rem = eighths % 8;
    if rem > 0 {
        s.push(PARTS[rem]);
    }
    format!("{s:<width$}")
}

fn fmt_time(t: f64) -> String {
    let t = t.max(0.0);
    format!("{}:{:04.1}", (t / 60.0).floor() as u64, t % 60.0)
}

/// A closed pipe (`| head`) ends the output quietly instead of failing.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn text_report(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    // Writing to a String cannot fail.
    macro_rules! out {
        ($($arg:tt)*) => {{ let _ = writeln!(o, $($arg)*); }};
    }
    out!("{}  ({:.1} s, {} Hz, {} ch)", r.file, r.duration_s, r.sample_rate, r.channels);
    let quant: Vec<&str> = r.model.members.iter().map(|m| m.quantization.as_str()).collect();
    out!(
        "model: {} ({}{} members: {}) from {}",
        r.model.name,
        if r.model.trunk.is_some() { "trunk + " } else { "" },
        r.model.members.len(),
        r.model.members.iter().map(|m| m.file.as_str()).collect::<Vec<_>>().join(", "),
        r.model.dir
    );
    if !quant.is_empty() {
        let mut q = quant.clone();
        q.dedup();
        out!("       quantization: {}", q.join(", "));
    }
    if let Some(o) = &r.model.out_of_set {
        out!("       out-of-set class \"{}\": other / unsure at {:.0}% or more", o.label, o.threshold * 100.0);
    }
    let has_other = r.model.out_of_set.is_some();
    out!(
        "settings: hop {} s, smoothing {} s, gate {} dBFS, block {}",
        r.settings.hop_s,
        r.settings.smoothing_s,
        r.settings.gate_db,
        r.settings.block
    );
    out!();
    if has_other {
        // "other" above its column: the rows' genre cells start 2 further right than this header, and
        // take 3 × 20 + 2 × 2, then 2 spaces.
        out!("   time  genre        %   {:<68}{OTHER_NAME}", "top 3 (smoothed)");
    } else {
        out!("   time  genre        %   top 3 (smoothed)");
    }
    for p in &r.predictions {
        if p.gated {
            out!("{:>7}  {:<9}  {:>5}   (level {:.1} dBFS)", fmt_time(p.time_s), "-", "", p.level_db);
            continue;
        }
        let s = p.smoothed;
        let top3: Vec<String> =
            top_k(&s, 3).into_iter().map(|(i, v)| format!("{:<9} {}", GENRES[i], bar(v, 10))).collect();
        // "Other" claims no genre: its row names it, with the out-of-set probability.
        let (name, pct) = match p.top {
            Some(top) => (top, s[GENRES.iter().position(|g| *g == top).unwrap_or(0)] * 100.0),
            None => (OTHER_NAME, p.smoothed_other * 100.0),
        };
        let other =
            if has_other { format!("  {:<9} {}", OTHER_NAME, bar(p.smoothed_other, 10)) } else { String::new() };
        out!("{:>7}  {:<9}  {:>5.1}   {}{other}", fmt_time(p.time_s), name, pct, top3.join("  "));
    }
    out!();
    let v = &r.verdict;
    if r.predictions.is_empty() {
        out!("verdict: none (the file is shorter than one analysis window)");
    } else if v.probs.is_none() {
        out!("verdict: none (all {} windows below the {} dBFS gate: silence)", v.windows, r.settings.gate_db);
    } else {
        let tops: Vec<String> = v.top.iter().map(|g| format!("{} {:.1}%", g.genre, g.p * 100.0)).collect();
        let other = v.other.unwrap_or(0.0) * 100.0;
        let (claim, counts) = match (&r.model.out_of_set, v.claim) {
            (Some(o), Some(OTHER_NAME)) => (
                format!(
                    "other / unsure (out of set {other:.1}%, threshold {:.0}%); genres: {}",
                    o.threshold * 100.0,
                    tops.join(", ")
                ),
                format!(", {} other", v.other_windows),
            ),
            (Some(_), _) => (format!("{}; other {other:.1}%", tops.join(", ")), format!(", {} other", v.other_windows)),
            (None, _) => (tops.join(", "), String::new()),
        };
        out!(
            "verdict: {claim}   ({} windows, {} gated{counts}; mean of raw ensemble probabilities)",
            v.windows,
            v.gated_windows
        );
    }
    o
}
