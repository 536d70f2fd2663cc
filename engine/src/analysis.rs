//! The analysis half of the engine: frames → windows → model (trunk once, members, soft vote) →
//! smoothing → level gate → published results.
//!
//! [`Analyzer`] is synchronous, so the offline driver and offline (non-realtime) host rendering run
//! exactly the same code deterministically; [`AnalysisThread`] runs it on its own thread for the
//! plugin in real time.
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use genrescope_core::features::FeatureTransform;
use genrescope_core::labels::{Probs, NUM_GENRES};
use genrescope_core::model::{top_genre, Ensemble, ManifestError, ModelError, ModelManifest, SessionOptions};
use genrescope_core::smoothing::ProbabilitySmoother;
use genrescope_core::window::WindowAssembler;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::EngineError;
use crate::queue::FrameReceiver;
use crate::settings;
use crate::shared::{Claim, HistoryPoint, SharedState, Status};

/// One prediction, as the CLI's timeline and the library see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Stream time at the end of the analysed window, seconds.
    pub time_s: f64,
    /// Frames of the stream (since the last reset) at the end of the window.
    pub frame: u64,
    /// Offline driver only (0 otherwise): the host sample at which the block after which this
    /// prediction was made starts, i.e. where the plugin sends its MIDI for it.
    pub block_start: u64,
    /// The ensemble's (calibrated) genre probabilities for this window, before smoothing; zeros
    /// when gated.
    pub raw: Probs,
    /// The window's out-of-set ("other") probability, before smoothing; 0 when gated or when the
    /// model has no out-of-set class. With `raw` it sums to 1.
    pub other: f32,
    /// The level gate was closed (silence): the model did not judge this window.
    pub gated: bool,
    pub smoothed: Probs,
    /// The out-of-set probability smoothed like the genres (same smoother, same time constant).
    pub smoothed_other: f32,
    /// "Other / unsure": `smoothed_other` reached the model's out-of-set threshold, so no genre
    /// is claimed (`top` is `None`). Never while gated; never for a model without the class.
    pub out_of_set: bool,
    /// The genre claimed: the top smoothed probability; `None` when the gate was closed
    /// (silence) or the window is out of set.
    pub top: Option<usize>,
    /// Mean input level over the window, dBFS.
    pub level_db: f32,
    /// The model's embedding of this window (its manifest's `embedding` trunk output), if any
    /// and if the window was not gated.
    pub embedding: Option<Vec<f32>>,
    /// The trunk's music-tag scores of this window ([`genrescope_core::labels::MSD_TAGS`] order),
    /// if the model has them and the window was not gated.
    pub tags: Option<Vec<f32>>,
}

impl Prediction {
    /// What this prediction claims: a genre, "other / unsure", or nothing (gated).
    pub fn claim(&self) -> Claim {
        match self.top {
            Some(g) => Claim::Genre(g),
            None if self.out_of_set => Claim::Other,
            None => Claim::Nothing,
        }
    }
}

/// Classes the analyzer smooths: the genres, then the out-of-set class (0 without one).
const SMOOTHED: usize = NUM_GENRES + 1;

/// The analysis state of one stream: the loaded model, its frame queue, the window being filled.
pub struct Analyzer {
    shared: Arc<SharedState>,
    receiver: Option<FrameReceiver>,
    model: Option<Ensemble>,
    transform: Option<FeatureTransform>,
    fps: f64,
    /// The transform runs per frame as frames arrive (a frame-causal normalization): the
    /// assembler then holds model-input frames; otherwise mel frames, transformed per window.
    per_frame: bool,
    assembler: WindowAssembler,
    smoother: ProbabilitySmoother<SMOOTHED>,
    /// The loaded model's out-of-set threshold, if it has the class.
    other_threshold: Option<f32>,
    frame: Vec<f32>,
    /// One transformed frame (per-frame transform only).
    frame_out: Vec<f32>,
    mel_window: Vec<f32>,
    window: Vec<f32>,
    /// Per-frame levels of the current window (a ring in the assembler's order).
    levels: Vec<f32>,
    level_pos: usize,
    epoch: Option<u32>,
    frames_seen: u64,
    last_prediction_frame: u64,
    /// The last published error came from inference (a later success clears it).
    inference_error: bool,
}

impl Analyzer {
    /// An analyzer without a model (it drains and discards frames until one is loaded).
    pub fn new(shared: Arc<SharedState>) -> Self {
        Self {
            shared,
            receiver: None,
            model: None,
            transform: None,
            fps: 1.0,
            per_frame: false,
            assembler: WindowAssembler::new(1, 1, 1),
            smoother: ProbabilitySmoother::default(),
            other_threshold: None,
            frame: Vec::new(),
            frame_out: Vec::new(),
            mel_window: Vec::new(),
            window: Vec::new(),
            levels: Vec::new(),
            level_pos: 0,
            epoch: None,
            frames_seen: 0,
            last_prediction_frame: 0,
            inference_error: false,
        }
    }

    pub fn shared(&self) -> &Arc<SharedState> {
        &self.shared
    }

    /// Loads the model a manifest describes (slow: checksums, ONNX Runtime sessions, warm-up) and
    /// takes the frame queue its front end feeds. On failure the error is returned and published
    /// (as text, for the editor), no model is left, and queued frames are discarded. Panics
    /// inside ONNX Runtime are caught ([`EngineError::LoadCrashed`]).
    pub fn load(&mut self, manifest: ModelManifest, dir: PathBuf, receiver: FrameReceiver) -> Result<(), EngineError> {
        self.load_until(manifest, dir, receiver, &|| false)
    }

    /// [`Self::load`], given up between two loading stages once `cancelled()` is true (the
    /// plugin instance is going away); a cancelled load ([`EngineError::is_cancelled`])
    /// publishes no error.
    pub fn load_until(
        &mut self,
        manifest: ModelManifest,
        dir: PathBuf,
        receiver: FrameReceiver,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), EngineError> {
        self.model = None;
        self.transform = None;
        self.set_other_threshold(None);
        self.receiver = Some(receiver);
        self.shared.set_status(Status::Loading);
        let shown = dir.clone();
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let transform = FeatureTransform::new(&manifest.front_end).map_err(ManifestError::from)?;
            let model = Ensemble::from_manifest_until(manifest, dir, SessionOptions::default(), cancelled)?;
            Ok::<_, ModelError>((model, transform))
        }));
        let result = match loaded {
            Ok(Ok((model, transform))) => {
                self.install(model, transform);
                Ok(())
            }
            Ok(Err(ModelError::Cancelled)) => {
                return Err(EngineError::Model { dir: shown, source: ModelError::Cancelled });
            }
            Ok(Err(source)) => Err(EngineError::Model { dir: shown, source }),
            Err(_) => Err(EngineError::LoadCrashed { dir: shown }),
        };
        match &result {
            Ok(()) => {
                self.shared.clear_error();
                self.shared.set_status(Status::Listening);
            }
            Err(e) => self.shared.set_error(e.to_string()),
        }
        // Frames queued while the model loaded belong to the stream (an offline render waits for
        // the load and must not lose its first blocks): keep them.
        self.epoch = None;
        self.reset_stream();
        result
    }

    fn install(&mut self, model: Ensemble, transform: FeatureTransform) {
        let m = model.manifest();
        let (mel_dim, frames) = (m.front_end.mel_dim(), m.input.window_frames);
        self.fps = m.front_end.frames_per_second();
        self.per_frame = transform.is_frame_causal();
        let held = if self.per_frame { transform.frame_dim() } else { mel_dim };
        self.assembler =
            WindowAssembler::new(held, frames, hop_frames(self.fps, self.shared.settings.hop_s.load(Relaxed)));
        self.frame = vec![0.0; mel_dim];
        self.frame_out = vec![0.0; transform.frame_dim()];
        self.mel_window = if self.per_frame { Vec::new() } else { vec![0.0; mel_dim * frames] };
        self.window = vec![0.0; m.window_len()];
        self.levels = vec![-200.0; frames];
        let info = format!(
            "{} ({}{} member{}, {})",
            m.name,
            if m.trunk.is_some() { "trunk + " } else { "" },
            model.num_members(),
            if model.num_members() == 1 { "" } else { "s" },
            model.dir().display()
        );
        self.shared.set_model_info(info);
        self.set_other_threshold(m.out_of_set.as_ref().map(|o| o.threshold));
        self.transform = Some(transform);
        self.model = Some(model);
    }

    fn set_other_threshold(&mut self, threshold: Option<f32>) {
        self.other_threshold = threshold;
        self.shared.other_threshold.store(threshold.unwrap_or(0.0), Relaxed);
    }

    /// Takes a new frame queue for the loaded model (a new stream: everything is reset).
    pub fn attach(&mut self, receiver: FrameReceiver) {
        self.receiver = Some(receiver);
        self.reset();
    }

    pub fn model(&self) -> Option<&Ensemble> {
        self.model.as_ref()
    }

    /// Forgets all audio seen so far (a new stream; frames still queued are dropped).
    pub fn reset(&mut self) {
        if let Some(r) = self.receiver.as_mut() {
            r.clear();
        }
        self.epoch = None;
        self.reset_stream();
    }

    /// Forgets the current window and smoothing (host reset seen in the queue).
    fn reset_stream(&mut self) {
        self.assembler.reset();
        if let Some(t) = self.transform.as_mut() {
            t.reset();
        }
        if let Some(m) = self.model.as_mut() {
            m.reset_stream();
        }
        self.smoother.reset();
        self.levels.fill(-200.0);
        // Same ring position as a fresh analyzer, so the level sum adds in the same order.
        self.level_pos = 0;
        self.frames_seen = 0;
        self.last_prediction_frame = 0;
        self.shared.clear_results();
        if self.model.is_some() && self.shared.status() != Status::Error {
            self.shared.set_status(Status::Listening);
        }
    }

    /// Drains every queued frame, predicting whenever a window is due. Returns the number of
    /// predictions made (each also published to the shared state and passed to `on_prediction`),
    /// or the first inference error of this step ([`EngineError::Inference`]): a window the model
    /// failed on is skipped, published as the shared error, and the later windows are still
    /// analysed, so the stream state is the same either way.
    pub fn step(&mut self, mut on_prediction: impl FnMut(&Prediction)) -> Result<usize, EngineError> {
        let Some(mut receiver) = self.receiver.take() else { return Ok(0) };
        let mut made = 0;
        let mut failed = None;
        if self.model.is_none() {
            receiver.clear();
        } else {
            self.assembler.set_hop_frames(hop_frames(self.fps, self.shared.settings.hop_s.load(Relaxed)));
            while let Some(meta) = receiver.recv(&mut self.frame) {
                if self.epoch != Some(meta.epoch) {
                    if self.epoch.is_some() {
                        self.reset_stream();
                    }
                    self.epoch = Some(meta.epoch);
                }
                self.frames_seen += 1;
                self.levels[self.level_pos] = meta.level_db;
                self.level_pos = (self.level_pos + 1) % self.levels.len();
                let due = match self.transform.as_mut().filter(|_| self.per_frame) {
                    Some(t) => {
                        t.push_frame(&self.frame, &mut self.frame_out);
                        self.assembler.push(&self.frame_out)
                    }
                    None => self.assembler.push(&self.frame),
                };
                if due {
                    match self.predict() {
                        Ok(Some(p)) => {
                            on_prediction(&p);
                            made += 1;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    }
                }
            }
        }
        self.shared.dropped_frames.store(receiver.dropped(), Relaxed);
        self.receiver = Some(receiver);
        match failed {
            None => Ok(made),
            Some(e) => Err(e),
        }
    }

    /// One window: `Ok(None)` without a model.
    fn predict(&mut self) -> Result<Option<Prediction>, EngineError> {
        let (Some(model), Some(transform)) = (self.model.as_mut(), self.transform.as_mut()) else { return Ok(None) };
        let dt = ((self.frames_seen - self.last_prediction_frame) as f64 / self.fps) as f32;
        self.last_prediction_frame = self.frames_seen;
        let s = &self.shared.settings;
        let tau = settings::SMOOTHING_S.clamp(s.smoothing_s.load(Relaxed));
        let gate_db = settings::GATE_DB.clamp(s.gate_db.load(Relaxed));
        // Mean power over the window, so short pauses inside music do not close the gate.
        let mean_power = self.levels.iter().map(|db| 10f32.powf(db / 10.0)).sum::<f32>() / self.levels.len() as f32;
        let level_db = 10.0 * mean_power.max(1e-20).log10();
        let time_s = self.frames_seen as f64 / self.fps;
        let gated = level_db < gate_db;
        let mut other = 0.0;
        let mut tags = None;
        let (raw, state, claim, embedding) = if gated {
            self.shared.set_status(Status::Silence);
            let state = self.smoother.decay(dt, tau.max(0.05));
            ([0.0; NUM_GENRES], state, Claim::Nothing, None)
        } else {
            if self.per_frame {
                self.assembler.copy_window(&mut self.window);
            } else {
                self.assembler.copy_window(&mut self.mel_window);
                transform.apply(&self.mel_window, &mut self.window);
            }
            match model.run_at(&self.window, self.frames_seen) {
                Ok(out) => {
                    if self.inference_error {
                        self.inference_error = false;
                        self.shared.clear_error();
                    }
                    let mut classes = [0.0; SMOOTHED];
                    classes[..NUM_GENRES].copy_from_slice(&out.probs);
                    classes[NUM_GENRES] = out.other;
                    let state = self.smoother.update(&classes, dt, tau);
                    let claim = match self.other_threshold {
                        Some(t) if state[NUM_GENRES] >= t => Claim::Other,
                        _ => Claim::Genre(top_genre(&genres_of(&state)).0),
                    };
                    self.shared.set_status(if claim == Claim::Other { Status::Other } else { Status::Analysing });
                    let embedding = out.embedding(model.manifest()).map(<[f32]>::to_vec);
                    tags = out.tags(model.manifest()).map(<[f32]>::to_vec);
                    other = out.other;
                    (out.probs, state, claim, embedding)
                }
                Err(e) => {
                    let e = EngineError::Inference(e);
                    self.inference_error = true;
                    self.shared.set_error(e.to_string());
                    return Err(e);
                }
            }
        };
        let (smoothed, smoothed_other) = (genres_of(&state), state[NUM_GENRES]);
        self.shared.publish(HistoryPoint { time_s, probs: smoothed, other: smoothed_other, claim }, level_db);
        Ok(Some(Prediction {
            time_s,
            frame: self.frames_seen,
            block_start: 0,
            raw,
            other,
            gated,
            smoothed,
            smoothed_other,
            out_of_set: claim == Claim::Other,
            top: claim.genre(),
            level_db,
            embedding,
            tags,
        }))
    }
}

fn genres_of(state: &[f32; SMOOTHED]) -> Probs {
    let mut p = [0.0; NUM_GENRES];
    p.copy_from_slice(&state[..NUM_GENRES]);
    p
}

fn hop_frames(fps: f64, hop_s: f32) -> usize {
    ((settings::HOP_S.clamp(hop_s) as f64 * fps).round() as usize).max(1)
}

enum Control {
    Load { manifest: Box<ModelManifest>, dir: PathBuf, receiver: FrameReceiver },
    Attach(FrameReceiver),
    Shutdown,
}

/// Owns the analysis thread of one plugin instance.
pub struct AnalysisThread {
    analyzer: Arc<Mutex<Analyzer>>,
    control: Sender<Control>,
    thread: std::thread::Thread,
    handle: Option<JoinHandle<()>>,
    /// Disconnects when the thread has left [`run`] (its sender is dropped): a join with a deadline.
    exited: Receiver<()>,
    /// Set by `drop`: a load in progress gives up at its next stage.
    stop: Arc<AtomicBool>,
    /// Loads sent and not finished yet.
    loading: Arc<AtomicUsize>,
    /// Offline rendering: the host's thread steps the analyzer (`step_blocking`), this one only
    /// loads models.
    offline: Arc<AtomicBool>,
    /// Loads sent so far, and the count at which `step_blocking` last gave up waiting for one.
    loads_sent: AtomicUsize,
    gave_up_on: AtomicUsize,
}

/// How long dropping an [`AnalysisThread`] waits for its thread (the host's main thread blocks
/// meanwhile). A load stops at its next stage, so one ONNX Runtime session build is the longest
/// step it normally waits for: 25 ms median, 80 ms at most with the shipped model on 2 busy cores
/// (BENCHMARKS.md, "Teardown"). Past this, a stage that hangs (a stalled disk) must not hang the host.
pub const JOIN_LIMIT: Duration = Duration::from_secs(1);

/// How long a declared offline render ([`AnalysisThread::step_blocking`]) waits for a model load:
/// the shipped model loads in about 0.1 s, the largest admitted model in seconds; past this the
/// load is stalled and the export goes on without waiting for it.
pub const LOAD_WAIT: Duration = Duration::from_secs(30);

/// How often the thread looks for frames (they arrive every ~16–23 ms); the audio thread never
/// has to wake it (a syscall).
const POLL: Duration = Duration::from_millis(20);

impl AnalysisThread {
    pub fn spawn(shared: Arc<SharedState>) -> std::io::Result<Self> {
        let analyzer = Arc::new(Mutex::new(Analyzer::new(shared)));
        let (control, rx) = crossbeam_channel::unbounded();
        let (exit_tx, exited) = crossbeam_channel::bounded::<()>(0);
        let loading = Arc::new(AtomicUsize::new(0));
        let offline = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let flags = Flags { loading: loading.clone(), offline: offline.clone(), stop: stop.clone() };
        let a = analyzer.clone();
        let handle = std::thread::Builder::new().name("genrescope-analysis".into()).spawn(move || {
            // Dropped when `run` returns or unwinds: `exited` then disconnects.
            let _exit = exit_tx;
            run(a, rx, flags)
        })?;
        let thread = handle.thread().clone();
        Ok(Self {
            analyzer,
            control,
            thread,
            handle: Some(handle),
            exited,
            stop,
            loading,
            offline,
            loads_sent: AtomicUsize::new(0),
            gave_up_on: AtomicUsize::new(usize::MAX),
        })
    }

    /// Loads a model on the analysis thread (returns at once); frames go to `receiver`.
    pub fn load(&self, manifest: ModelManifest, dir: PathBuf, receiver: FrameReceiver) {
        self.loading.fetch_add(1, SeqCst);
        self.loads_sent.fetch_add(1, SeqCst);
        let _ = self.control.send(Control::Load { manifest: Box::new(manifest), dir, receiver });
        self.thread.unpark();
    }

    /// A new frame queue for the model already loaded (or loading): a new stream.
    pub fn attach(&self, receiver: FrameReceiver) {
        let _ = self.control.send(Control::Attach(receiver));
        self.thread.unpark();
    }

    /// Whether a model load is in progress.
    pub fn is_loading(&self) -> bool {
        self.loading.load(SeqCst) > 0
    }

    /// The host's declared offline (non-realtime) render: analyses what is queued on the calling
    /// thread, first waiting for a model load in progress (up to [`LOAD_WAIT`]), so an export's
    /// results do not depend on timing; while it is used, the analysis thread leaves the stepping
    /// to it. A load still running after [`LOAD_WAIT`] (a stalled disk) is not waited for again:
    /// later calls behave like [`Self::try_step`] until it ends. Returns whether it analysed.
    /// Never call it from a real-time audio thread: it may wait.
    pub fn step_blocking(&self) -> bool {
        self.step_waiting(LOAD_WAIT)
    }

    fn step_waiting(&self, limit: Duration) -> bool {
        let waited_out = self.gave_up_on.load(SeqCst) == self.loads_sent.load(SeqCst);
        let analysed = self.step_within(if waited_out { Duration::ZERO } else { limit });
        if !analysed && self.is_loading() {
            self.gave_up_on.store(self.loads_sent.load(SeqCst), SeqCst);
        }
        analysed
    }

    /// A render the host did not declare but that runs much faster than real time: analyses what
    /// is queued on the calling thread only if no model load is in progress and the analyzer is
    /// free at once (`try_lock`); otherwise skips, and the frames stay queued for the next call
    /// (the queue holds [`genrescope_core::limits::QUEUE_SECONDS`] of audio, so a render that
    /// starts during a load loses only what overflows it). Never waits: the "render" may be a
    /// real-time host after all. Returns whether it analysed.
    pub fn try_step(&self) -> bool {
        self.step_within(Duration::ZERO)
    }

    fn step_within(&self, wait: Duration) -> bool {
        self.offline.store(true, Relaxed);
        let deadline = Instant::now() + wait;
        loop {
            if !self.is_loading() {
                let guard = match self.analyzer.try_lock() {
                    Ok(g) => Some(g),
                    Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                    Err(TryLockError::WouldBlock) => None,
                };
                if let Some(mut a) = guard {
                    if catch_unwind(AssertUnwindSafe(|| a.step(|_| {}))).is_err() {
                        crashed(&mut a);
                    }
                    return true;
                }
            }
            if wait.is_zero() || Instant::now() >= deadline {
                return false;
            }
            // The load message may not have been picked up yet.
            self.thread.unpark();
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

impl Drop for AnalysisThread {
    /// Stops the thread and joins it, so that once the plugin is destroyed no thread of ours is
    /// inside ONNX Runtime: a host that exits right after destroying us (plugin scanners do) runs
    /// ORT's static destructors, and a load still running then crashes the process. A load in
    /// progress gives up at its next stage, so this waits for at most one stage (one session
    /// build). Only past [`JOIN_LIMIT`] is the thread left to finish alone, with this module
    /// pinned so its code stays mapped.
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        let _ = self.control.send(Control::Shutdown);
        self.thread.unpark();
        if let Some(h) = self.handle.take() {
            match self.exited.recv_timeout(JOIN_LIMIT) {
                Err(RecvTimeoutError::Timeout) => {
                    genrescope_core::runtime::pin_this_module();
                    drop(h);
                }
                _ => {
                    let _ = h.join();
                }
            }
        }
    }
}

fn lock(a: &Mutex<Analyzer>) -> MutexGuard<'_, Analyzer> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

fn crashed(a: &mut Analyzer) {
    a.shared.set_error("analysis crashed; audio passes through".into());
    a.model = None;
    a.set_other_threshold(None);
}

/// Back to real time: the analysis thread steps again.
impl AnalysisThread {
    pub fn set_realtime(&self) {
        self.offline.store(false, Relaxed);
    }
}

/// The thread's share of the [`AnalysisThread`]'s flags.
struct Flags {
    loading: Arc<AtomicUsize>,
    offline: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

fn run(analyzer: Arc<Mutex<Analyzer>>, rx: Receiver<Control>, flags: Flags) {
    let Flags { loading, offline, stop } = flags;
    loop {
        loop {
            if stop.load(SeqCst) {
                return;
            }
            match rx.try_recv() {
                Ok(Control::Load { manifest, dir, receiver }) => {
                    let mut a = lock(&analyzer);
                    let _ = a.load_until(*manifest, dir, receiver, &|| stop.load(SeqCst));
                    loading.fetch_sub(1, SeqCst);
                }
                Ok(Control::Attach(receiver)) => lock(&analyzer).attach(receiver),
                Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
        if !offline.load(Relaxed) {
            let mut a = lock(&analyzer);
            // A panic in inference must not take the host down with it; inference errors are
            // published by `step` (the editor shows them), nothing else to do with them here.
            if catch_unwind(AssertUnwindSafe(|| a.step(|_| {}))).is_err() {
                crashed(&mut a);
            }
        }
        std::thread::park_timeout(POLL);
    }
}

/// Where a model is looked for when none is given: `GENRESCOPE_MODEL_DIR`, then the model folder
/// installed beside the plugin (or CLI) binary, then (`dev-paths` feature only: tests, developer
/// builds) the workspace's `models/`.
pub fn default_model_dir() -> Option<PathBuf> {
    let has_manifest = |d: &Path| d.join(genrescope_core::model::MANIFEST_FILE).is_file();
    if let Some(dir) = std::env::var_os("GENRESCOPE_MODEL_DIR").filter(|v| !v.is_empty()).map(PathBuf::from) {
        return Some(dir);
    }
    if let Some(dir) = genrescope_core::runtime::plugin_binary_dir() {
        let candidate = dir.join(genrescope_core::runtime::MODEL_DIR_NAME);
        if has_manifest(&candidate) {
            return Some(candidate);
        }
    }
    #[cfg(feature = "dev-paths")]
    {
        let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        if has_manifest(&dev) {
            return Some(dev);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a model load does to the thread's state: counts itself and holds the analyzer.
    fn fake_load(t: &AnalysisThread) -> MutexGuard<'_, Analyzer> {
        t.loading.fetch_add(1, SeqCst);
        t.loads_sent.fetch_add(1, SeqCst);
        lock(&t.analyzer)
    }

    #[test]
    fn a_detected_render_never_waits_for_a_load() {
        let t = AnalysisThread::spawn(Arc::new(SharedState::default())).unwrap();
        let held = fake_load(&t);
        let start = Instant::now();
        for _ in 0..100 {
            assert!(!t.try_step());
        }
        assert!(start.elapsed() < Duration::from_millis(20), "{:?}", start.elapsed());
        // The lock free but the load not finished: still no analysis on the caller's thread.
        drop(held);
        assert!(!t.try_step());
        t.loading.fetch_sub(1, SeqCst);
        assert!(t.try_step());
    }

    #[test]
    fn a_declared_render_waits_for_a_load_but_not_forever() {
        let t = AnalysisThread::spawn(Arc::new(SharedState::default())).unwrap();
        let held = fake_load(&t);
        let start = Instant::now();
        assert!(!t.step_waiting(Duration::from_millis(100)));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(2), "{waited:?}");
        // The same stalled load is not waited for again.
        let start = Instant::now();
        assert!(!t.step_waiting(Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_millis(50), "{:?}", start.elapsed());
        drop(held);
        t.loading.fetch_sub(1, SeqCst);
        assert!(t.step_waiting(Duration::from_millis(100)));
        // A new load is waited for again, and analysed as soon as it ends.
        t.loading.fetch_add(1, SeqCst);
        t.loads_sent.fetch_add(1, SeqCst);
        let release = std::thread::scope(|s| {
            let (held_tx, held) = crossbeam_channel::bounded(0);
            let t = &t;
            s.spawn(move || {
                let g = lock(&t.analyzer);
                held_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(30));
                drop(g);
                t.loading.fetch_sub(1, SeqCst);
            });
            held.recv().unwrap();
            let start = Instant::now();
            assert!(t.step_waiting(Duration::from_secs(5)));
            start.elapsed()
        });
        assert!(release >= Duration::from_millis(25) && release < Duration::from_secs(2), "{release:?}");
    }
}
