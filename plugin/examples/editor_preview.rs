//! Opens the editor in a plain window with synthetic results, to look at the layout without a
//! host: `cargo run -p genrescope --example editor_preview` (works under Xvfb too).
//! Without a host there is no `ParamSetter`, so the controls show values read-only.
//! With the argument `error` it shows a failed model load after the same history instead.
use genrescope::editor::GenrescopeEditor;
use genrescope::params::{GenrescopeParams, EDITOR_SIZE};
use genrescope_core::labels::NUM_GENRES;
use genrescope_engine::{HistoryPoint, SharedState, Status};
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
        let (probs, top) = match script(t) {
            Some((main, second)) => (probs_for(main, second, t), Some(main)),
            None => ([0.0; NUM_GENRES], None),
        };
        last = probs;
        history.push_back(HistoryPoint { time_s: t, probs, top });
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

fn main() {
    let params = Arc::new(GenrescopeParams::default());
    let shared = Arc::new(SharedState::default());
    fill(&shared);
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
