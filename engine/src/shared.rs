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
    /// The smoothed out-of-set probability reached the model's threshold: the music is none of
    /// the genres, or the model is unsure. No genre is claimed.
    Other = 6,
}

impl Status {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Status::Loading,
            2 => Status::Listening,
            3 => Status::Analysing,
            4 => Status::Silence,
            5 => Status::Error,
            6 => Status::Other,
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
            Status::Other => "other / unsure",
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

/// What the engine says the audio is, after smoothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This genre (index into `GENRES`): the top smoothed probability.
    Genre(usize),
    /// "Other / unsure": the smoothed out-of-set probability reached the model's threshold, so
    /// no genre is claimed. Only models with an out-of-set class say this.
    Other,
    /// Nothing: silence (the level gate), no model, or no prediction yet.
    Nothing,
}

impl Claim {
    /// The value the shared `top` atomic holds for it: the genre index, [`OTHER_TOP`], or -1.
    pub fn to_i32(self) -> i32 {
        match self {
            Claim::Genre(g) => g as i32,
            Claim::Other => OTHER_TOP,
            Claim::Nothing => -1,
        }
    }

    pub fn from_i32(v: i32) -> Self {
        match v {
            OTHER_TOP => Claim::Other,
            g if (0..NUM_GENRES as i32).contains(&g) => Claim::Genre(g as usize),
            _ => Claim::Nothing,
        }
    }

    /// The genre claimed, if any.
    pub fn genre(self) -> Option<usize> {
        match self {
            Claim::Genre(g) => Some(g),
            _ => None,
        }
    }
}

/// `SharedState::top` while the claim is "other": the class index after the ten genres.
pub const OTHER_TOP: i32 = NUM_GENRES as i32;

/// One point of the genre timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryPoint {
    /// Stream time at the end of the analysed window, in seconds.
    pub time_s: f64,
    /// Smoothed genre probabilities.
    pub probs: [f32; NUM_GENRES],
    /// Smoothed out-of-set probability (0 for a model without the class).
    pub other: f32,
    pub claim: Claim,
}

/// How many timeline points the editor can show (at 0.5 s hops: 10 minutes).
pub const HISTORY_LEN: usize = 1200;

pub struct SharedState {
    pub settings: Settings,
    /// Smoothed per-genre probabilities.
    pub probs: [AtomicF32; NUM_GENRES],
    /// Smoothed out-of-set ("other") probability; 0 for a model without the class.
    pub other: AtomicF32,
    /// The loaded model's out-of-set threshold; 0 when it has no out-of-set class (or there is
    /// no model). Thresholds are > 0 (the manifest says so).
    pub other_threshold: AtomicF32,
    /// The current [`Claim`] as [`Claim::to_i32`] stores it: the top genre's index, [`OTHER_TOP`]
    /// for "other / unsure", -1 for none (silence, no model). One atomic, so a reader never sees
    /// half of a change.
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
            other: AtomicF32::new(0.0),
            other_threshold: AtomicF32::new(0.0),
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

    /// The claimed genre; `None` for "other", silence and no model.
    pub fn top(&self) -> Option<usize> {
        self.claim().genre()
    }

    pub fn claim(&self) -> Claim {
        Claim::from_i32(self.top.load(Relaxed))
    }

    /// The smoothed out-of-set probability.
    pub fn other(&self) -> f32 {
        self.other.load(Relaxed)
    }

    /// The loaded model's out-of-set threshold, if it has the class.
    pub fn other_threshold(&self) -> Option<f32> {
        Some(self.other_threshold.load(Relaxed)).filter(|t| *t > 0.0)
    }

    /// Whether the loaded model has an out-of-set class.
    pub fn has_other(&self) -> bool {
        self.other_threshold().is_some()
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
        self.other.store(point.other, Relaxed);
        self.top.store(point.claim.to_i32(), Relaxed);
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
        self.other.store(0.0, Relaxed);
        self.top.store(-1, Relaxed);
        if let Ok(mut h) = self.history.lock() {
            h.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip_through_one_atomic() {
        let shared = SharedState::default();
        assert_eq!(shared.claim(), Claim::Nothing);
        for claim in [Claim::Genre(0), Claim::Genre(9), Claim::Other, Claim::Nothing] {
            let point = HistoryPoint { time_s: 1.0, probs: [0.1; NUM_GENRES], other: 0.0, claim };
            shared.publish(point, -20.0);
            assert_eq!(shared.claim(), claim);
            assert_eq!(shared.top(), claim.genre());
        }
        assert_eq!(Claim::Other.to_i32(), 10);
        assert_eq!(Claim::from_i32(11), Claim::Nothing);
        assert_eq!(Claim::from_i32(-7), Claim::Nothing);
        // No threshold stored: the model has no out-of-set class.
        assert!(!shared.has_other());
        shared.other_threshold.store(0.4, Relaxed);
        assert_eq!(shared.other_threshold(), Some(0.4));
        shared.clear_results();
        assert_eq!((shared.claim(), shared.other()), (Claim::Nothing, 0.0));
    }
}
