//! `scan`, `find`, `similar` and `stats`: the command-line face of `genrescope-library`.
use anyhow::{anyhow, Context, Result};
use genrescope_library::{default_db_path, parse_genre, scan_with, Library, ScanEvent, ScanOptions, ScanSummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{plot, resolve_model, write_stdout};

/// Rows `find` prints when neither --limit nor --m3u is given.
const DEFAULT_FIND_LIMIT: usize = 50;

#[derive(clap::Args)]
pub struct DbArg {
    /// Library database [default: <user data dir>/genrescope/library.sqlite].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
}

impl DbArg {
    fn path(&self) -> Result<PathBuf> {
        match &self.db {
            Some(p) => Ok(p.clone()),
            None => default_db_path().ok_or_else(|| anyhow!("no user data folder (is $HOME set?): pass --db PATH")),
        }
    }
}

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Folders (searched recursively) or files to add to the library.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    db: DbArg,
    /// Model folder (with manifest.json). Default: $GENRESCOPE_MODEL_DIR, else the bundled model
    /// beside this program (builds with the dev-paths feature: else the workspace's models/).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Files analysed at once, one engine each [default: the number of CPU cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: Option<u32>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Delete the rows of files that are gone (by default they are kept, marked missing).
    #[arg(long)]
    prune: bool,
    /// Try again the files whose analysis failed, even if they have not changed.
    #[arg(long)]
    retry_errors: bool,
    /// If another scan or import is writing the library, wait for it instead of refusing.
    #[arg(long)]
    wait: bool,
}

#[derive(clap::Args)]
pub struct FindArgs {
    /// Genre: blues, classical, country, disco, hiphop, jazz, metal, pop, reggae or rock.
    #[arg(long, value_name = "G", required_unless_present = "other", conflicts_with = "other")]
    genre: Option<String>,
    /// Instead of a genre: the tracks judged "other / unsure" (none of the genres), by their
    /// out-of-set probability (needs a model with an out-of-set class).
    #[arg(long)]
    other: bool,
    /// Lowest whole-file probability of the genre (or, with --other, the out-of-set one), 0 to 1.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    min: f32,
    /// Most tracks to list [default: 50, or all with --m3u].
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
    /// Also write the tracks as an extended M3U playlist.
    #[arg(long, value_name = "OUT")]
    m3u: Option<PathBuf>,
    #[command(flatten)]
    db: DbArg,
}

#[derive(clap::Args)]
pub struct SimilarArgs {
    /// Audio file to compare with the library (it need not be in it).
    file: PathBuf,
    /// How many tracks to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArg,
    /// Model folder: the one the library was scanned with [default: as for scan].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Also write a PNG bar chart of the genre distribution.
    #[arg(long, value_name = "OUT.png")]
    plot: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArg,
}

/// Exit code of a scan stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

pub fn run_scan(args: &ScanArgs) -> Result<bool> {
    let db = args.db.path()?;
    let model = resolve_model(args.model.as_deref())?;
    let cancel = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (cancel, presses) = (cancel.clone(), presses.clone());
        // Every file is its own transaction, so even the second Ctrl-C leaves a consistent library.
        ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                cancel.store(true, Ordering::SeqCst);
                eprintln!("\nstopping after the files in progress (Ctrl-C again to quit at once)");
            } else {
                std::process::exit(INTERRUPTED as i32);
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let mut opts = ScanOptions {
        prune: args.prune,
        retry_errors: args.retry_errors,
        wait: args.wait,
        cancel,
        ..Default::default()
    };
    if let Some(j) = args.jobs {
        opts.jobs = j as usize;
    }
    let mut progress = ScanProgress::default();
    let summary = scan_with(&db, &args.dirs, &model, &opts, &mut |event| progress.show(event));
    progress.clear();
    let summary = summary?;
    let out = if args.json { serde_json::to_string_pretty(&summary)? + "\n" } else { scan_text(&summary) };
    write_stdout(&out)?;
    Ok(!summary.interrupted)
}

/// The scan's progress bar and notes on stderr.
#[derive(Default)]
struct ScanProgress {
    bar: Option<ProgressBar>,
}

impl ScanProgress {
    fn show(&mut self, event: ScanEvent<'_>) {
        match event {
            ScanEvent::Warning(line) => self.note(&format!("warning: {line}")),
            ScanEvent::Damaged { path, warnings } => self.note(&format!("warning: {path}: {}", warnings.join("; "))),
            ScanEvent::Failed { path, error } => self.note(&format!("error: {}", with_path(path, error))),
            ScanEvent::Started { files, bytes } => {
                let bar = progress_bar(bytes);
                bar.set_message(format!("0/{files} files"));
                self.bar = Some(bar);
            }
            ScanEvent::Progress { done, files, bytes_done } => {
                if let Some(b) = &self.bar {
                    b.set_position(bytes_done);
                    b.set_message(format!("{done}/{files} files"));
                }
            }
            ScanEvent::Finished => self.clear(),
        }
    }

    /// A line above the bar (which is redrawn below it).
    fn note(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    // Bytes, not files, so the ETA weighs a long track more than a short one.
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {percent:>3}%  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A file's error message, prefixed with its path unless it already names it.
fn with_path(path: &str, error: &str) -> String {
    if error.contains(path) {
        error.to_string()
    } else {
        format!("{path}: {error}")
    }
}

fn scan_text(s: &ScanSummary) -> String {
    let jobs = match s.jobs {
        0 => String::new(),
        1 => ", 1 job".to_string(),
        n => format!(", {n} jobs"),
    };
    let mut o = format!("{} audio files; library {} (model {}{jobs})\n", s.files, s.db, s.model);
    let redone = if s.redone > 0 { format!(" ({} redone for this model)", s.redone) } else { String::new() };
    o += &format!(
        "analysed {}{redone}, skipped {} (unchanged), renamed {}, copied {}, errors {}, missing {}{}\n",
        s.analysed,
        s.skipped,
        s.renamed,
        s.copied,
        s.errors,
        s.missing,
        if s.pruned > 0 { format!(" ({} pruned)", s.pruned) } else { String::new() }
    );
    if s.missing > 0 && s.pruned == 0 {
        o +=
            "missing files are kept, marked, and recognised by their content if they come back; --prune deletes them\n";
    }
    o += &match s.analysed {
        0 => format!("time {:.1} s\n", s.wall_s),
        _ => format!(
            "time {:.1} s for {} of audio: {:.0}x real time\n",
            s.wall_s,
            fmt_duration(s.audio_s),
            s.x_real_time
        ),
    };
    if s.interrupted {
        o += "interrupted: run the same scan again to go on\n";
    }
    o
}

fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub fn run_find(args: &FindArgs) -> Result<()> {
    // Clap makes sure there is exactly one of --genre and --other.
    let genre = args.genre.as_deref().map(parse_genre).transpose()?;
    if !(0.0..=1.0).contains(&args.min) {
        return Err(anyhow!("--min {} is outside 0 to 1", args.min));
    }
    let lib = Library::open(&args.db.path()?)?;
    let limit = args.limit.unwrap_or(if args.m3u.is_some() { usize::MAX } else { DEFAULT_FIND_LIMIT });
    let found = match genre {
        Some(g) => lib.find(g, args.min, limit)?,
        None => lib.find_other(args.min, limit)?,
    };
    if let Some(out) = &args.m3u {
        let entries: Vec<(&str, f64, String)> = found
            .tracks
            .iter()
            .map(|t| {
                (t.path.as_str(), t.duration_s, format!("{} ({} {:.1}%)", stem(&t.path), found.genre, t.p * 100.0))
            })
            .collect();
        write_m3u(out, &entries)?;
    }
    let mut o = String::new();
    if args.json {
        o = serde_json::to_string_pretty(&found)? + "\n";
    } else {
        o += &format!(
            "{} >= {:.0}%: {} track{} (model {}){}\n",
            found.genre,
            found.min_p * 100.0,
            found.matching,
            if found.matching == 1 { "" } else { "s" },
            found.model,
            if (found.tracks.len() as i64) < found.matching {
                format!(", the first {}", found.tracks.len())
            } else {
                String::new()
            }
        );
        for (i, t) in found.tracks.iter().enumerate() {
            o += &format!(
                "{:>4}  {:>5.1}%  {:>6}  {:<9}  {}\n",
                i + 1,
                t.p * 100.0,
                fmt_duration(t.duration_s),
                t.top_genre.as_deref().unwrap_or("-"),
                t.path
            );
        }
        if let Some(out) = &args.m3u {
            o += &format!("playlist: {} ({} tracks)\n", out.display(), found.tracks.len());
        }
    }
    if found.other_model_tracks > 0 {
        eprintln!(
            "note: {} tracks analysed with another model are not included: scan their folders again to redo them",
            found.other_model_tracks
        );
    }
    write_stdout(&o)
}

fn stem(path: &str) -> String {
    Path::new(path).file_stem().map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned())
}

/// Extended M3U: `#EXTM3U`, then `#EXTINF:<whole seconds>,<title>` and the absolute path per
/// track. UTF-8, as `.m3u8` players expect; line breaks in titles would end the entry, so none.
fn write_m3u(out: &Path, entries: &[(&str, f64, String)]) -> Result<()> {
    let mut text = String::from("#EXTM3U\n");
    for (path, duration_s, title) in entries {
        let title = title.replace(['\n', '\r'], " ");
        text += &format!("#EXTINF:{},{title}\n{path}\n", duration_s.round() as i64);
    }
    std::fs::write(out, text).with_context(|| format!("cannot write playlist {}", out.display()))
}

pub fn run_similar(args: &SimilarArgs) -> Result<()> {
    if !args.file.is_file() {
        return Err(anyhow!("{}: no such file", args.file.display()));
    }
    let model = resolve_model(args.model.as_deref())?;
    let lib = Library::open(&args.db.path()?)?;
    let sim = lib.similar(&args.file, &model, args.top)?;
    let o = if args.json {
        serde_json::to_string_pretty(&sim)? + "\n"
    } else {
        let mut o = format!(
            "nearest to {} (top genre {}), {} tracks compared (model {}):\n",
            sim.query,
            sim.query_top_genre.as_deref().unwrap_or("none"),
            sim.compared,
            sim.model
        );
        for (i, t) in sim.tracks.iter().enumerate() {
            o += &format!(
                "{:>4}  {:>6.3}  {:>6}  {:<9}  {}\n",
                i + 1,
                t.similarity,
                fmt_duration(t.duration_s),
                t.top_genre.as_deref().unwrap_or("-"),
                t.path
            );
        }
        o
    };
    if sim.other_model_tracks > 0 {
        eprintln!(
            "note: {} tracks analysed with another model were not compared: scan their folders again to redo them",
            sim.other_model_tracks
        );
    }
    write_stdout(&o)
}

pub fn run_stats(args: &StatsArgs) -> Result<()> {
    let lib = Library::open(&args.db.path()?)?;
    let st = lib.stats()?;
    if let Some(png) = &args.plot {
        let title = format!("{} tracks by top genre - {}", st.tracks, st.model.as_deref().unwrap_or("no model"));
        let counts: Vec<i64> = st.by_top_genre.iter().map(|g| g.tracks).collect();
        plot::draw_genre_bars(png, &title, &counts, st.other)
            .with_context(|| format!("cannot write plot {}", png.display()))?;
    }
    let o = if args.json {
        serde_json::to_string_pretty(&st)? + "\n"
    } else {
        let mut o = format!(
            "library {} ({:.1} MiB), model {}\n",
            st.db,
            st.db_bytes as f64 / (1024.0 * 1024.0),
            st.model.as_deref().unwrap_or("none")
        );
        o += &format!(
            "tracks {} ({} of audio), no verdict (silent) {}, with decoder warnings {}, errors {}, missing {}\n",
            st.tracks,
            fmt_duration(st.total_duration_s),
            st.no_verdict,
            st.with_warnings,
            st.errors,
            st.missing
        );
        if st.other_model_tracks > 0 {
            o += &format!("{} tracks analysed with another model are not counted\n", st.other_model_tracks);
        }
        o += "\ntop genre   tracks   share\n";
        for g in &st.by_top_genre {
            o += &format!(
                "{:<10} {:>7}  {:>5.1}%  {}\n",
                g.genre,
                g.tracks,
                g.share * 100.0,
                crate::bar(g.share as f32, 20)
            );
        }
        if st.other > 0 {
            // "None of these": the rest of the tracks with a verdict.
            let share = 1.0 - st.by_top_genre.iter().map(|g| g.share).sum::<f64>();
            o += &format!(
                "{:<10} {:>7}  {:>5.1}%  {}\n",
                "other",
                st.other,
                share * 100.0,
                crate::bar(share as f32, 20)
            );
        }
        if !st.error_files.is_empty() {
            o += "\nerrors:\n";
            for e in st.error_files.iter().take(20) {
                o += &format!("  {}\n", with_path(&e.path, &e.error));
            }
            if st.error_files.len() > 20 {
                o += &format!("  ... and {} more (--json lists them all)\n", st.error_files.len() - 20);
            }
        }
        if let Some(png) = &args.plot {
            o += &format!("plot: {}\n", png.display());
        }
        o
    };
    write_stdout(&o)
}
