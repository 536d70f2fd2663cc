//! The analysis-thread half of the engine: windows of frames → ensemble → smoothing → gate →
//! published results.
//!
//! [`Analyzer`] is synchronous so the file-analysis CLI can drive exactly the same code
//! deterministically; [`AnalysisThread`] runs it on its own thread for the plugin.
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use genrescope_core::features::FeatureConfig;
use genrescope_core::labels::NUM_GENRES;
use genrescope_core::model::Ensemble;
use genrescope_core::smoothing::{top_genre, ProbabilitySmoother};
use genrescope_core::window::WindowAssembler;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::frontend::frame_stride;
use crate::shared::{HistoryPoint, SharedState, Status};

/// One prediction, as the CLI's timeline sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Stream time at the end of the analysed window, seconds.
    pub time_s: f64,
    /// Soft-voted ensemble output for this window (before smoothing); zeros when gated.
    pub raw: [f32; NUM_GENRES],
    pub smoothed: [f32; NUM_GENRES],
    /// `None` when the gate was closed (silence).
    pub top: Option<usize>,
    /// Mean input level over the window, dBFS.
    pub level_db: f32,
}

pub struct Analyzer {
    cfg: FeatureConfig,
    consumer: rtrb::Consumer<f32>,
    shared: Arc<SharedState>,
    ensemble: Option<Ensemble>,
    assembler: WindowAssembler,
    smoother: ProbabilitySmoother,
    frame: Vec<f32>,
    window: Vec<f32>,
    /// Per-frame levels of the current window (ring, same order as the assembler).
    levels: Vec<f32>,
    level_pos: usize,
    frames_seen: u64,
    last_prediction_frame: u64,
}

impl Analyzer {
    pub fn new(cfg: &FeatureConfig, consumer: rtrb::Consumer<f32>, shared: Arc<SharedState>) -> Self {
        let hop = hop_frames(cfg, shared.settings.hop_s.load(Relaxed));
        Self {
            cfg: cfg.clone(),
            consumer,
            shared,
            ensemble: None,
            assembler: WindowAssembler::new(cfg.frame_dim(), cfg.window_frames, hop),
            smoother: ProbabilitySmoother::default(),
            frame: vec![0.0; frame_stride(cfg)],
            window: vec![0.0; cfg.window_frames * cfg.frame_dim()],
            levels: vec![-200.0; cfg.window_frames],
            level_pos: 0,
            frames_seen: 0,
            last_prediction_frame: 0,
        }
    }

    /// Loads a model folder; on failure the previous model is dropped and the error published.
    pub fn load_model(&mut self, dir: &Path) -> Result<(), String> {
        self.ensemble = None;
        self.shared.set_status(Status::Loading);
        match Ensemble::load(dir, &self.cfg) {
            Ok(e) => {
                let info = format!(
                    "{} ({} members, {})",
                    e.manifest().name,
                    e.num_members(),
                    dir.display()
                );
                if let Ok(mut m) = self.shared.model_info.lock() {
                    *m = info;
                }
                if let Ok(mut err) = self.shared.error.lock() {
                    err.clear();
                }
                self.ensemble = Some(e);
                self.shared.set_status(Status::Listening);
                Ok(())
            }
            Err(e) => {
                let msg = format!("model {}: {e}", dir.display());
                self.shared.set_error(msg.clone());
                Err(msg)
            }
        }
    }

    pub fn has_model(&self) -> bool {
        self.ensemble.is_some()
    }

    pub fn ensemble(&self) -> Option<&Ensemble> {
        self.ensemble.as_ref()
    }

    /// Forgets all audio seen so far (transport jump, new sample rate).
    pub fn reset(&mut self) {
        while let Ok(chunk) = self.consumer.read_chunk(self.consumer.slots()) {
            chunk.commit_all();
            if self.consumer.slots() == 0 {
                break;
            }
        }
        self.assembler.reset();
        self.smoother.reset();
        self.levels.fill(-200.0);
        // Same ring position as a fresh analyzer, so the level sum adds in the same order.
        self.level_pos = 0;
        self.frames_seen = 0;
        self.last_prediction_frame = 0;
        self.shared.clear_results();
        if self.ensemble.is_some() {
            self.shared.set_status(Status::Listening);
        }
    }

    /// Drains every queued frame, predicting whenever a window is due. Returns the predictions
    /// made (also published to the shared state).
    pub fn step(&mut self, mut on_prediction: impl FnMut(&Prediction)) -> usize {
        let stride = self.frame.len();
        let dim = self.cfg.frame_dim();
        let mut made = 0;
        self.assembler.set_hop_frames(hop_frames(&self.cfg, self.shared.settings.hop_s.load(Relaxed)));
        while let Ok(chunk) = self.consumer.read_chunk(stride) {
            let (a, b) = chunk.as_slices();
            self.frame[..a.len()].copy_from_slice(a);
            self.frame[a.len()..].copy_from_slice(b);
            chunk.commit_all();
            self.frames_seen += 1;
            self.levels[self.level_pos] = self.frame[dim];
            self.level_pos = (self.level_pos + 1) % self.levels.len();
            if self.assembler.push(&self.frame[..dim]) {
                if let Some(p) = self.predict() {
                    on_prediction(&p);
                    made += 1;
                }
            }
        }
        made
    }

    fn predict(&mut self) -> Option<Prediction> {
        let ensemble = self.ensemble.as_mut()?;
        let fps = self.cfg.frames_per_second() as f64;
        let dt = ((self.frames_seen - self.last_prediction_frame) as f64 / fps) as f32;
        self.last_prediction_frame = self.frames_seen;
        let settings = &self.shared.settings;
        let tau = settings.smoothing_s.load(Relaxed);
        let gate_db = settings.gate_db.load(Relaxed);
        // Mean power over the window, so short pauses inside music do not close the gate.
        let mean_power = self.levels.iter().map(|db| 10f32.powf(db / 10.0)).sum::<f32>()
            / self.levels.len() as f32;
        let level_db = 10.0 * mean_power.max(1e-20).log10();
        let time_s = self.frames_seen as f64 / fps;
        let (raw, smoothed, top) = if level_db < gate_db {
            self.shared.set_status(Status::Silence);
            let smoothed = self.smoother.decay(dt, tau.max(0.05));
            ([0.0; NUM_GENRES], smoothed, None)
        } else {
            self.assembler.copy_window(&mut self.window);
            match ensemble.predict(&self.window) {
                Ok(raw) => {
                    self.shared.set_status(Status::Analysing);
                    let smoothed = self.smoother.update(&raw, dt, tau);
                    (raw, smoothed, Some(top_genre(&smoothed).0))
                }
                Err(e) => {
                    self.shared.set_error(format!("inference: {e}"));
                    return None;
                }
            }
        };
        self.shared.publish(HistoryPoint { time_s, probs: smoothed, top }, level_db);
        Some(Prediction { time_s, raw, smoothed, top, level_db })
    }
}

fn hop_frames(cfg: &FeatureConfig, hop_s: f32) -> usize {
    let hop_s = if hop_s.is_finite() { hop_s.clamp(0.05, 30.0) } else { 0.5 };
    ((hop_s * cfg.frames_per_second()).round() as usize).max(1)
}

/// Messages to the analysis thread.
#[derive(Debug)]
pub enum Control {
    LoadModel(PathBuf),
    Reset,
    Shutdown,
}

/// Owns the analysis thread of one plugin instance.
pub struct AnalysisThread {
    control: Sender<Control>,
    handle: Option<JoinHandle<()>>,
}

impl AnalysisThread {
    /// Spawns the thread; it loads `model` (if any) first, off the audio thread.
    pub fn spawn(analyzer: Analyzer, model: Option<PathBuf>) -> std::io::Result<Self> {
        let (control, rx) = crossbeam_channel::unbounded();
        if let Some(dir) = model {
            let _ = control.send(Control::LoadModel(dir));
        } else {
            analyzer.shared.set_error(
                "no model found: set GENRESCOPE_MODEL_DIR or install the bundle with its model folder"
                    .into(),
            );
        }
        let handle = std::thread::Builder::new()
            .name("genrescope-analysis".into())
            .spawn(move || run(analyzer, rx))?;
        Ok(Self { control, handle: Some(handle) })
    }

    pub fn send(&self, msg: Control) {
        let _ = self.control.send(msg);
    }
}

impl Drop for AnalysisThread {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(mut analyzer: Analyzer, rx: Receiver<Control>) {
    loop {
        // Frames arrive ~43 times a second; polling every 20 ms keeps latency low without
        // the audio thread having to wake us (a syscall).
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Control::LoadModel(dir)) => {
                let _ = analyzer.load_model(&dir);
                analyzer.reset();
            }
            Ok(Control::Reset) => analyzer.reset(),
            Ok(Control::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if analyzer.shared.reset_requested.swap(false, Relaxed) {
            analyzer.reset();
        }
        // A panic in inference must not take the host down with it.
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| analyzer.step(|_| {})));
        if step.is_err() {
            analyzer.shared.set_error("analysis crashed; audio passes through".into());
            analyzer.ensemble = None;
        }
    }
}

/// Where the plugin looks for its model: `GENRESCOPE_MODEL_DIR`, then the model folder installed
/// beside the plugin binary, then the workspace's `models/` (developer builds).
pub fn default_model_dir() -> Option<PathBuf> {
    use genrescope_core::model::MANIFEST_FILE;
    let has_manifest = |d: &Path| d.join(MANIFEST_FILE).is_file();
    if let Some(dir) = std::env::var_os("GENRESCOPE_MODEL_DIR").map(PathBuf::from) {
        return Some(dir);
    }
    if let Some(dir) = genrescope_core::runtime::plugin_binary_dir() {
        let candidate = dir.join(MODEL_DIR_NAME);
        if has_manifest(&candidate) {
            return Some(candidate);
        }
    }
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    has_manifest(&dev).then_some(dev)
}

/// Name of the model folder the bundle step installs beside the plugin binary.
pub const MODEL_DIR_NAME: &str = "genrescope-model";
