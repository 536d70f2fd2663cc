//! `scan`, `import`, `find`, `similar`, `radio`, `tags`, `stats` and `analyze --jsonl`: the
//! command-line face of `genrescope-library`.
use anyhow::{anyhow, Context, Result};
use genrescope_core::labels::{tag_slug, MSD_TAGS, NUM_TAGS};
use genrescope_library::{
    default_db_path, import, list_audio_files, map_files, parse_genre, parse_style, parse_tag, scan_with, FindQuery,
    ImportOptions, ImportSummary, Library, ScanEvent, ScanOptions, ScanSummary, Style,
};
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
    /// Only print the audio files the scan would look at (canonical paths, one per line, sorted):
    /// the file list for `analyze --jsonl` on a cluster. Needs no library or model.
    #[arg(long)]
    list: bool,
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
    /// Keep a similarity index (approximate nearest neighbours) once the model has this many tracks;
    /// below, `similar` compares every track.
    #[arg(long, value_name = "N", default_value_t = genrescope_library::ann::MIN_ROWS)]
    index_min_rows: usize,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["style", "genre", "tag", "other"])))]
pub struct FindArgs {
    /// A genre (blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock) or else a
    /// music tag (`Genrescope tags --list`).
    #[arg(value_name = "GENRE_OR_TAG")]
    style: Option<String>,
    /// The genre, as a flag.
    #[arg(long, value_name = "G", conflicts_with = "style")]
    genre: Option<String>,
    /// A music tag (style, mood, era, voice: chillout, mellow, 80s, female-vocalists...); repeat
    /// for several. Tracks rank by the geometric mean of the genre's probability and the tags' scores.
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    /// Instead of a genre or tags: the tracks judged "other / unsure" (none of the genres), by
    /// their out-of-set probability (needs a model with an out-of-set class).
    #[arg(long, conflicts_with_all = ["style", "genre", "tag"])]
    other: bool,
    /// Lowest score (the genre's probability, or the geometric mean with tags; with --other the
    /// out-of-set probability), 0 to 1.
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
pub struct RadioArgs {
    /// The track to start from (in the library, or any audio file: then it is analysed).
    seed: PathBuf,
    /// Tracks in the playlist, the seed included.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Write the playlist as an extended M3U file.
    #[arg(long, value_name = "OUT")]
    m3u: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArg,
    /// Model folder, for a seed that is not in the library [default: as for scan].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Allow two tracks of one folder in a row (for a library kept in one flat folder).
    #[arg(long)]
    any_folder: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Files of rows from `Genrescope analyze --jsonl` (JSON lines); `-` reads standard input.
    #[arg(required = true, value_name = "ROWS")]
    rows: Vec<PathBuf>,
    #[command(flatten)]
    db: DbArg,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// If another scan or import is writing the library, wait for it instead of refusing.
    #[arg(long)]
    wait: bool,
    /// Keep a similarity index (approximate nearest neighbours) once the model has this many tracks;
    /// below, `similar` compares every track.
    #[arg(long, value_name = "N", default_value_t = genrescope_library::ann::MIN_ROWS)]
    index_min_rows: usize,
}

#[derive(clap::Args)]
pub struct TagsArgs {
    /// Audio file to analyse.
    #[arg(required_unless_present = "list")]
    file: Option<PathBuf>,
    /// List the tag names instead.
    #[arg(long, conflicts_with = "file")]
    list: bool,
    /// How many tags to show, highest first [text output; JSON has all].
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    #[arg(long)]
    json: bool,
    /// Model folder [default: as for scan].
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
    if args.list {
        let (files, notes) = list_audio_files(&args.dirs)?;
        for n in notes {
            eprintln!("warning: {n}");
        }
        write_stdout(&files.iter().map(|f| format!("{f}\n")).collect::<String>())?;
        return Ok(true);
    }
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
        index_min_rows: args.index_min_rows,
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
    let mut q = FindQuery { min: args.min, ..Default::default() };
    match (&args.style, &args.genre) {
        (Some(word), _) => match parse_style(word)? {
            Style::Genre(g) => q.genre = Some(g),
            Style::Tag(t) => q.tags.push(t),
        },
        (None, Some(g)) => q.genre = Some(parse_genre(g)?),
        (None, None) => {}
    }
    for t in &args.tag {
        let t = parse_tag(t)?;
        if !q.tags.contains(&t) {
            q.tags.push(t);
        }
    }
    if !(0.0..=1.0).contains(&args.min) {
        return Err(anyhow!("--min {} is outside 0 to 1", args.min));
    }
    let lib = Library::open(&args.db.path()?)?;
    q.limit = args.limit.unwrap_or(if args.m3u.is_some() { usize::MAX } else { DEFAULT_FIND_LIMIT });
    let found = if args.other { lib.find_other(args.min, q.limit)? } else { lib.find_by(&q)? };
    let what = found.what();
    if let Some(out) = &args.m3u {
        let entries: Vec<(&str, f64, String)> = found
            .tracks
            .iter()
            .map(|t| (t.path.as_str(), t.duration_s, format!("{} ({what} {:.1}%)", stem(&t.path), t.p * 100.0)))
            .collect();
        write_m3u(out, &entries)?;
    }
    let mut o = String::new();
    if args.json {
        o = serde_json::to_string_pretty(&found)? + "\n";
    } else {
        o += &format!(
            "{what} >= {:.0}%: {} track{} (model {}){}\n",
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

/// `analyze --jsonl`: the map step. Rows go to stdout one per line, in input order; a file that
/// cannot be analysed is a row with its error, so only a model that does not load (or a closed
/// output) fails the command.
pub fn run_map(files: &[PathBuf], model: Option<&Path>, jobs: Option<u32>) -> Result<bool> {
    use std::io::{BufRead, Write};
    let model = resolve_model(model)?;
    let from_stdin = files.is_empty() || (files.len() == 1 && files[0].as_os_str() == "-");
    let paths: Box<dyn Iterator<Item = String> + Send> = if from_stdin {
        Box::new(
            std::io::BufReader::new(std::io::stdin())
                .lines()
                .map_while(std::result::Result::ok)
                .filter(|l| !l.trim().is_empty()),
        )
    } else {
        Box::new(files.iter().map(|f| f.to_string_lossy().into_owned()).collect::<Vec<_>>().into_iter())
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let settings = genrescope_engine::OfflineSettings::default();
    let result = map_files(&model, &settings, paths, jobs.unwrap_or(1) as usize, &mut |row| {
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
        // One row at a time reaches a pipe's reader (a cluster task streaming to a file).
        out.flush()
    });
    match result {
        Err(genrescope_library::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(true)
        }
        r => r.map(|()| true).map_err(Into::into),
    }
}

pub fn run_import(args: &ImportArgs) -> Result<()> {
    let db = args.db.path()?;
    let s = import(&db, &args.rows, &ImportOptions { wait: args.wait, index_min_rows: args.index_min_rows })?;
    let o = if args.json { serde_json::to_string_pretty(&s)? + "\n" } else { import_text(&s) };
    write_stdout(&o)
}

fn import_text(s: &ImportSummary) -> String {
    let mut o = format!(
        "{} rows into {}: added {}, updated {}, unchanged {}, errors {}, not found {}, invalid {}\n",
        s.rows, s.db, s.added, s.updated, s.unchanged, s.errors, s.not_found, s.invalid
    );
    if !s.models.is_empty() {
        o += &format!("model {}\n", s.models.join(", "));
    }
    for l in &s.invalid_lines {
        o += &format!("invalid: {l}\n");
    }
    o += &format!("time {:.1} s ({:.0} rows/s)\n", s.wall_s, s.rows_per_s);
    o
}

pub fn run_tags(args: &TagsArgs) -> Result<()> {
    if args.list {
        let list: Vec<String> = (0..NUM_TAGS).map(tag_slug).collect();
        let o = if args.json { serde_json::to_string_pretty(&MSD_TAGS[..])? + "\n" } else { list.join("\n") + "\n" };
        return write_stdout(&o);
    }
    let file = args.file.as_deref().ok_or_else(|| anyhow!("no FILE given"))?;
    if !file.is_file() {
        return Err(anyhow!("{}: no such file", file.display()));
    }
    let model = resolve_model(args.model.as_deref())?;
    let t = genrescope_library::file_tags(file, &model)?;
    let o = if args.json {
        serde_json::to_string_pretty(&t)? + "\n"
    } else {
        let mut o = format!("{} (model {}, {} windows, {} gated)\n", t.file, t.model, t.windows, t.gated_windows);
        match &t.tags {
            None => {
                o += "no tags: every window is below the level gate (silence) or the file is shorter than one window\n"
            }
            Some(tags) => {
                for t in tags.iter().take(args.top) {
                    o += &format!("{:<18} {:>5.1}%  {}\n", t.tag, t.p * 100.0, crate::bar(t.p, 20));
                }
            }
        }
        o
    };
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
        let how = if sim.search == "index" { "searched through the index" } else { "compared" };
        let mut o = format!(
            "nearest to {} (top genre {}), {} tracks {how} (model {}):\n",
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

pub fn run_radio(args: &RadioArgs) -> Result<()> {
    if !args.seed.is_file() {
        return Err(anyhow!("{}: no such file", args.seed.display()));
    }
    let lib = Library::open(&args.db.path()?)?;
    // The model is needed only for a seed outside the library; a missing default is not an error yet.
    let model = resolve_model(args.model.as_deref()).unwrap_or_default();
    let radio = lib.radio(&args.seed, &model, args.count as usize, args.any_folder)?;
    if let Some(out) = &args.m3u {
        let entries: Vec<(&str, f64, String)> = radio
            .tracks
            .iter()
            .map(|t| {
                let genre = t.top_genre.as_deref().map(|g| format!(" ({g})")).unwrap_or_default();
                (t.path.as_str(), t.duration_s, format!("{}{genre}", stem(&t.path)))
            })
            .collect();
        write_m3u(out, &entries)?;
    }
    let o = if args.json {
        serde_json::to_string_pretty(&radio)? + "\n"
    } else {
        let mut o = format!("radio from {} ({} tracks, model {})\n", radio.seed, radio.tracks.len(), radio.model);
        o += &format!("rule: {}\n", radio.rule);
        o += "   #   to prev  to seed  length  genre      path\n";
        for (i, t) in radio.tracks.iter().enumerate() {
            o += &format!(
                "{:>4}   {:>6.3}   {:>6.3}  {:>6}  {:<9}  {}\n",
                i + 1,
                t.similarity_to_previous,
                t.similarity_to_seed,
                fmt_duration(t.duration_s),
                t.top_genre.as_deref().unwrap_or("-"),
                t.path
            );
        }
        if let Some(why) = &radio.ended_early {
            o += &format!("ended early: {why}\n");
        }
        if let Some(out) = &args.m3u {
            o += &format!("playlist: {} ({} tracks)\n", out.display(), radio.tracks.len());
        }
        o
    };
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
