//! Opens the editor in a plain window with synthetic results, to look at the layout without a
//! host: `cargo run -p genrescope --example editor_preview` (works under Xvfb too).
//! Without a host there is no `ParamSetter`, so the controls show values read-only.
//! With the argument `error` it shows a failed model load after the same history instead; with
//! `other`, a model with the out-of-set class hearing music that is none of its genres (the
//! headline says "other / unsure", the grey meter and timeline stretches show it).
use genrescope::editor::GenrescopeEditor;
use genrescope::params::{GenrescopeParams, EDITOR_SIZE};
use genrescope_core::labels::NUM_GENRES;
use genrescope_engine::{Claim, HistoryPoint, SharedState, Status, OTHER_TOP};
use nice_plug_egui::baseview::dpi::LogicalSize;
use nice_plug_egui::{App, EguiWindow, EguiWindowSettings, Frame};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

struct Preview(GenrescopeEditor);

impl App for Preview {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        self.0.draw(ui);
    }
}

/// Probabilities leaning towards `main` (and a little towards `second`), wobbling with `t`.
fn probs_for(main: usize, second: usize, t: f64) -> [f32; NUM_GENRES] {
    let mut p: [f32; NUM_GENRES] = std::array::from_fn(|g| 0.03 + 0.02 * ((t * 0.3 + g as f64).sin() as f32 + 1.0));
    p[main] += 0.55 + 0.1 * (t * 0.1).sin() as f32;
    p[second] += 0.2 + 0.08 * (t * 0.17).cos() as f32;
    let sum: f32 = p.iter().sum();
    p.map(|x| x / sum)
}

fn fill(shared: &SharedState) {
    // Three minutes at 0.5 s hops: rock, a pause, jazz, then rock with some metal.
    let script = |t: f64| match t {
        t if t < 55.0 => Some((9, 6)),
        t if t < 63.0 => None,
        t if t < 120.0 => Some((5, 0)),
        _ => Some((9, 6)),
    };
    let mut history = shared.history.lock().unwrap();
    let mut last = [0.0; NUM_GENRES];
    for i in 1..=360 {
        let t = i as f64 * 0.5;
        let (probs, claim) = match script(t) {
            Some((main, second)) => (probs_for(main, second, t), Claim::Genre(main)),
            None => ([0.0; NUM_GENRES], Claim::Nothing),
        };
        last = probs;
        history.push_back(HistoryPoint { time_s: t, probs, other: 0.0, claim });
    }
    for (a, p) in shared.probs.iter().zip(last) {
        a.store(p, Relaxed);
    }
    shared.top.store(9, Relaxed);
    shared.set_status(Status::Analysing);
    shared.level_db.store(-17.3, Relaxed);
    shared.predictions.store(360, Relaxed);
    *shared.model_info.lock().unwrap() = "preview: synthetic data, no model".to_owned();
}

/// The out-of-set probability of an electronic stretch at `t`: well above the threshold, wobbling.
fn other_at(t: f64) -> f32 {
    0.68 + 0.1 * (t * 0.21).sin() as f32
}

/// Three minutes with a model that has the out-of-set class (threshold 0.5): jazz, then electronic
/// music ("other / unsure"), a pause, rock, electronic again up to now.
fn fill_other(shared: &SharedState) {
    let threshold = 0.5;
    let script = |t: f64| match t {
        t if t < 50.0 => Some(Some((5, 0))),
        t if t < 95.0 => Some(None),
        t if t < 102.0 => None,
        t if t < 140.0 => Some(Some((9, 6))),
        _ => Some(None),
    };
    let mut history = shared.history.lock().unwrap();
    let (mut last, mut last_other) = ([0.0; NUM_GENRES], 0.0);
    for i in 1..=360 {
        let t = i as f64 * 0.5;
        let (probs, other, claim) = match script(t) {
            // A genre: the model is fairly sure it is not out of set.
            Some(Some((main, second))) => {
                let other = 0.06 + 0.03 * (t * 0.3).sin() as f32;
                (probs_for(main, second, t).map(|p| p * (1.0 - other)), other, Claim::Genre(main))
            }
            // Out of set: disco and hiphop get what is left, no genre is claimed.
            Some(None) => {
                let other = other_at(t);
                (probs_for(3, 4, t).map(|p| p * (1.0 - other)), other, Claim::Other)
            }
            None => ([0.0; NUM_GENRES], 0.0, Claim::Nothing),
        };
        (last, last_other) = (probs, other);
        history.push_back(HistoryPoint { time_s: t, probs, other, claim });
    }
    for (a, p) in shared.probs.iter().zip(last) {
        a.store(p, Relaxed);
    }
    shared.other.store(last_other, Relaxed);
    shared.other_threshold.store(threshold, Relaxed);
    shared.top.store(OTHER_TOP, Relaxed);
    shared.set_status(Status::Other);
    shared.level_db.store(-14.1, Relaxed);
    shared.predictions.store(360, Relaxed);
    *shared.model_info.lock().unwrap() = "preview: synthetic data, out-of-set class".to_owned();
}

fn main() {
    let params = Arc::new(GenrescopeParams::default());
    let shared = Arc::new(SharedState::default());
    if std::env::args().nth(1).as_deref() == Some("other") {
        fill_other(&shared);
    } else {
        fill(&shared);
    }
    if std::env::args().nth(1).as_deref() == Some("error") {
        shared.top.store(-1, Relaxed);
        for a in &shared.probs {
            a.store(0.0, Relaxed);
        }
        shared.set_status(Status::Error);
        *shared.error.lock().unwrap() = "model: cannot load genrescope-model/manifest.json: no such file".to_owned();
    }
    let settings = EguiWindowSettings::new()
        .with_title("Genrescope editor preview")
        .with_size(LogicalSize::new(EDITOR_SIZE.0 as f64, EDITOR_SIZE.1 as f64));
    let window = EguiWindow::create(settings, Preview(GenrescopeEditor::new(params, shared)))
        .expect("cannot open a window (no display?)");
    window.run_until_closed().expect("window loop failed");
}
