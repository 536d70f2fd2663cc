//! State shared between the audio thread, the analysis thread and the editor (or the CLI).
//!
//! Everything the audio thread touches is an atomic. The mutex-guarded fields (error text,
//! model info, history) are written by the analysis thread and read by the editor only.
use atomic_float::AtomicF32;
use genrescope_core::labels::NUM_GENRES;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use crate::settings;

/// What the engine is doing, as shown in the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// No model loaded (none found, or not loaded yet).
    NoModel = 0,
    Loading = 1,
    /// Model loaded, collecting the first window of audio.
    Listening = 2,
    Analysing = 3,
    /// Input below the gate: no genre is claimed.
    Silence = 4,
    /// Loading or inference failed; audio still passes through.
    Error = 5,
}

impl Status {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Status::Loading,
            2 => Status::Listening,
            3 => Status::Analysing,
            4 => Status::Silence,
            5 => Status::Error,
            _ => Status::NoModel,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::NoModel => "no model",
            Status::Loading => "loading model",
            Status::Listening => "listening",
            Status::Analysing => "analysing",
            Status::Silence => "silence",
            Status::Error => "error",
        }
    }
}

/// Analysis settings; set from the plugin parameters (or the CLI), read by the analysis thread.
pub struct Settings {
    /// Smoothing time constant in seconds (0 = none).
    pub smoothing_s: AtomicF32,
    /// Seconds between predictions.
    pub hop_s: AtomicF32,
    /// Level gate in dBFS: below it no genre is claimed.
    pub gate_db: AtomicF32,
}

/// One point of the genre timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryPoint {
    /// Stream time at the end of the analysed window, in seconds.
    pub time_s: f64,
    pub probs: [f32; NUM_GENRES],
    /// Top genre, or `None` while gated.
    pub top: Option<usize>,
}

/// How many timeline points the editor can show (at 0.5 s hops: 10 minutes).
pub const HISTORY_LEN: usize = 1200;

pub struct SharedState {
    pub settings: Settings,
    /// Smoothed per-genre probabilities.
    pub probs: [AtomicF32; NUM_GENRES],
    /// Top genre index, -1 for none (silence, no model).
    pub top: AtomicI32,
    status: AtomicU8,
    /// Input level of the last analysed window, dBFS.
    pub level_db: AtomicF32,
    pub predictions: AtomicU64,
    /// Frames the audio thread could not queue because the analysis thread lagged.
    pub dropped_frames: AtomicU64,
    pub error: Mutex<String>,
    pub model_info: Mutex<String>,
    pub history: Mutex<VecDeque<HistoryPoint>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            smoothing_s: AtomicF32::new(settings::SMOOTHING_S.default),
            hop_s: AtomicF32::new(settings::HOP_S.default),
            gate_db: AtomicF32::new(settings::GATE_DB.default),
        }
    }
}

impl Default for SharedState {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            probs: std::array::from_fn(|_| AtomicF32::new(0.0)),
            top: AtomicI32::new(-1),
            status: AtomicU8::new(Status::NoModel as u8),
            level_db: AtomicF32::new(-200.0),
            predictions: AtomicU64::new(0),
            dropped_frames: AtomicU64::new(0),
            error: Mutex::new(String::new()),
            model_info: Mutex::new(String::new()),
            history: Mutex::new(VecDeque::with_capacity(HISTORY_LEN)),
        }
    }
}

impl SharedState {
    pub fn status(&self) -> Status {
        Status::from_u8(self.status.load(Relaxed))
    }

    pub fn set_status(&self, s: Status) {
        self.status.store(s as u8, Relaxed);
    }

    pub fn top(&self) -> Option<usize> {
        usize::try_from(self.top.load(Relaxed)).ok()
    }

    pub fn probs(&self) -> [f32; NUM_GENRES] {
        std::array::from_fn(|i| self.probs[i].load(Relaxed))
    }

    pub fn error_text(&self) -> String {
        self.error.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Analysis thread (or whoever loads the model) only.
    pub fn set_error(&self, msg: String) {
        if let Ok(mut e) = self.error.lock() {
            *e = msg;
        }
        self.set_status(Status::Error);
    }

    pub fn publish(&self, point: HistoryPoint, level_db: f32) {
        for (a, p) in self.probs.iter().zip(point.probs) {
            a.store(p, Relaxed);
        }
        self.top.store(point.top.map_or(-1, |t| t as i32), Relaxed);
        self.level_db.store(level_db, Relaxed);
        self.predictions.fetch_add(1, Relaxed);
        if let Ok(mut h) = self.history.lock() {
            if h.len() == HISTORY_LEN {
                h.pop_front();
            }
            h.push_back(point);
        }
    }

    /// The error text, if the last error is still current, goes; the status is left as is.
    pub fn clear_error(&self) {
        if let Ok(mut e) = self.error.lock() {
            e.clear();
        }
    }

    pub fn set_model_info(&self, info: String) {
        if let Ok(mut m) = self.model_info.lock() {
            *m = info;
        }
    }

    pub fn model_info(&self) -> String {
        self.model_info.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub(crate) fn clear_results(&self) {
        for a in &self.probs {
            a.store(0.0, Relaxed);
        }
        self.top.store(-1, Relaxed);
        if let Ok(mut h) = self.history.lock() {
            h.clear();
        }
    }
}
