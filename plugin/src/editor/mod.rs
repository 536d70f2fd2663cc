//! The plugin window (egui): the current genre (or "other / unsure"), ten genre meters (and an
//! out-of-set meter for a model with that class), a history timeline, the status line and the
//! parameter controls.
//!
//! Everything shown is read from [`SharedState`] (atomics, plus two briefly held mutexes); the
//! editor never blocks the audio thread. Parameter changes go through the host's
//! [`ParamSetter`](nice_plug::prelude::ParamSetter) so they are recorded as automation. This
//! module lays the parts out and talks to nice-plug-egui; the parts live beside it, and the
//! timeline's logic is plain data ([`timeline_model`]). Nothing here runs unless a window is
//! opened, so creating the plugin needs no display.
use egui::{vec2, Align, Color32, Layout, Rect, Sense, Ui};
use genrescope_core::labels::{GENRE_RGB, NO_GENRE_RGB, NUM_GENRES, OTHER_RGB};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::ResizeHint;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};
use std::sync::Arc;
use std::time::Duration;

use crate::midi::MidiConfig;
use crate::params::{GenrescopeParams, EDITOR_MIN_SIZE};
use genrescope_engine::SharedState;

mod controls;
mod meters;
mod status;
mod timeline;
pub mod timeline_model;

use meters::{MeterSmoother, OtherMeter, METER_TAU_S};
use timeline::Timeline;

/// One colour per genre (GENRES order): the palette in core, shared with the CLI's plot.
pub const GENRE_COLOURS: [Color32; NUM_GENRES] = {
    let mut c = [Color32::BLACK; NUM_GENRES];
    let mut i = 0;
    while i < NUM_GENRES {
        let [r, g, b] = GENRE_RGB[i];
        c[i] = Color32::from_rgb(r, g, b);
        i += 1;
    }
    c
};
/// Timeline colour while no genre is claimed (silence, no model).
pub const NO_GENRE_COLOUR: Color32 = Color32::from_rgb(NO_GENRE_RGB[0], NO_GENRE_RGB[1], NO_GENRE_RGB[2]);
/// The out-of-set class ("other / unsure"): headline, meter, timeline.
pub const OTHER_COLOUR: Color32 = Color32::from_rgb(OTHER_RGB[0], OTHER_RGB[1], OTHER_RGB[2]);
const ERROR_COLOUR: Color32 = Color32::from_rgb(0xff, 0x5c, 0x5c);
const DIM_TEXT: Color32 = Color32::from_rgb(0x9a, 0x9a, 0x9a);
const TRACK_FILL: Color32 = Color32::from_rgb(0x26, 0x26, 0x2a);

/// Repaint period while open: the analysis publishes every ≥0.1 s, the meters glide in between.
const FRAME_PERIOD: Duration = Duration::from_millis(33);
/// The body (meters | controls) is this many rows of this height.
const BODY_ROWS: f32 = 10.0;
const ROW_H: f32 = 21.0;

pub fn create(params: Arc<GenrescopeParams>, shared: Arc<SharedState>) -> Option<EguiEditor<GenrescopeEditor>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Genrescope")
        .with_resize_hint(
            ResizeHint::RESIZABLE.with_min_logical_size(LogicalSize::new(EDITOR_MIN_SIZE.0, EDITOR_MIN_SIZE.1)),
        )
        .with_repaint_poll_interval(FRAME_PERIOD);
    create_egui_editor(
        params.editor_state.clone(),
        RepaintNotifier::new(),
        settings,
        GenrescopeEditor::new(params, shared),
    )
}

/// The editor's GUI state; lives as long as the plugin, across window openings.
pub struct GenrescopeEditor {
    params: Arc<GenrescopeParams>,
    shared: Arc<SharedState>,
    /// Set by `build` when a window opens; only used while drawing (nice-plug-egui 0.6 never
    /// calls `editor_closed`, so it may outlive a closed window harmlessly).
    gui: Option<GuiContext>,
    meters: MeterSmoother,
    other_meter: MeterSmoother<1>,
    timeline: Timeline,
    /// Persisted window size still to be applied to a freshly opened window.
    pending_size: Option<(f32, f32)>,
    /// What the last frame laid out (tests check it fits the window).
    content: Rect,
}

impl GenrescopeEditor {
    pub fn new(params: Arc<GenrescopeParams>, shared: Arc<SharedState>) -> Self {
        Self {
            params,
            shared,
            gui: None,
            meters: MeterSmoother::new(METER_TAU_S),
            other_meter: MeterSmoother::new(METER_TAU_S),
            timeline: Timeline::default(),
            pending_size: None,
            content: Rect::NOTHING,
        }
    }

    /// The area the last `draw` laid its widgets out in.
    pub fn content_rect(&self) -> Rect {
        self.content
    }

    /// Draws one frame. `gui` is `None` outside a host (preview harness): controls are read-only.
    pub fn draw(&mut self, ui: &mut Ui) {
        if let Some((w, h)) = self.pending_size.take() {
            // The window opens at the default size (the editor is built before the host restores
            // state); ask for the saved one. Sizes here are in points, i.e. divided by the zoom.
            let zoom = ui.ctx().zoom_factor();
            let want = vec2(w, h) / zoom;
            if (ui.ctx().content_rect().size() - want).length() > 1.0 {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::InnerSize(want));
            }
        }
        let dt = ui.input(|i| i.stable_dt);
        let probs = self.meters.step(&self.shared.probs(), dt);
        let [other] = self.other_meter.step(&[self.shared.other()], dt);
        let other_meter = self.shared.other_threshold().map(|threshold| OtherMeter { p: other, threshold });
        let claim = self.shared.claim();
        let status = self.shared.status();

        let panel = egui::Frame::central_panel(ui.style()).fill(Color32::from_rgb(0x16, 0x16, 0x19));
        egui::CentralPanel::default().frame(panel).show(ui, |ui| {
            // `content` collects what every part laid out (panels fill their area, so their own
            // rects say nothing about overflow).
            let mut content = ui.horizontal(|ui| status::headline(ui, claim, &probs, other, status)).response.rect;
            ui.separator();
            // The footer first, from the bottom up, so it is whole however much it wraps; the
            // timeline takes what is left.
            let footer = egui::Panel::bottom("genrescope-status")
                .frame(egui::Frame::NONE)
                .resizable(false)
                .show(ui, |ui| {
                    status::status_lines(ui, &self.shared, status);
                    ui.min_rect()
                })
                .inner;
            content = content.union(footer);
            let body_h = BODY_ROWS * ROW_H;
            let body = ui.horizontal_top(|ui| {
                let w = ui.available_width();
                // Meters get half the width; the controls the rest, laid out to fit it.
                let meters_w = (w * 0.5).clamp(240.0, 520.0);
                let midi = MidiConfig::from_params(&self.params);
                let m = ui.allocate_ui_with_layout(vec2(meters_w, body_h), Layout::top_down(Align::Min), |ui| {
                    meters::meters(ui, &probs, claim, other_meter, midi.cc.then(|| midi.cc_base()));
                    ui.min_rect()
                });
                // Not ui.separator(): in a horizontal layout it takes all remaining height.
                let (line, _) = ui.allocate_exact_size(vec2(9.0, body_h), Sense::hover());
                ui.painter().vline(line.center().x, line.y_range(), ui.visuals().widgets.noninteractive.bg_stroke);
                let c = ui.allocate_ui_with_layout(
                    vec2(ui.available_width(), body_h),
                    Layout::top_down(Align::Min),
                    |ui| {
                        let has_other = other_meter.is_some();
                        match &self.gui {
                            Some(gui) => controls::controls(ui, &self.params, Some(&gui.param_setter()), has_other),
                            None => controls::controls(ui, &self.params, None, has_other),
                        }
                        ui.min_rect()
                    },
                );
                m.inner.union(c.inner)
            });
            content = content.union(body.inner);
            ui.separator();
            content = content.union(self.timeline.show(ui, &self.shared));
            self.content = content;
        });

        ui.ctx().request_repaint_after(FRAME_PERIOD);
    }
}

impl NiceEguiApp for GenrescopeEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_theme(egui::Theme::Dark);
        self.gui = Some(nice_gui_ctx);
        self.pending_size =
            self.params.editor_size.read().ok().and_then(|s| *s).filter(|&(w, h)| {
                w.is_finite() && h.is_finite() && w >= 100.0 && h >= 100.0 && w <= 8192.0 && h <= 8192.0
            });
        Ok(())
    }

    fn resized(&mut self, new_size: nice_plug_egui::baseview::WindowSize) {
        // Until the saved size is applied, resizes are the window's initial default size.
        if self.pending_size.is_none() {
            if let Ok(mut s) = self.params.editor_size.write() {
                *s = Some((new_size.logical.width as f32, new_size.logical.height as f32));
            }
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        self.draw(ui);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::pos2;
    use genrescope_core::labels::GENRES;
    use genrescope_engine::HistoryPoint;

    fn point(t: f64, top: Option<usize>, p: f32) -> HistoryPoint {
        let mut probs = [0.0; NUM_GENRES];
        if let Some(g) = top {
            probs[g] = p;
        }
        let claim = top.map_or(genrescope_engine::Claim::Nothing, genrescope_engine::Claim::Genre);
        HistoryPoint { time_s: t, probs, other: 0.0, claim }
    }

    #[test]
    fn palette_has_ten_clearly_distinct_colours() {
        let all: Vec<Color32> = GENRE_COLOURS.iter().copied().chain([NO_GENRE_COLOUR, OTHER_COLOUR]).collect();
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate().skip(i + 1) {
                let (a4, b4) = (a.to_array(), b.to_array());
                let d: f32 = (0..3).map(|k| (a4[k] as f32 - b4[k] as f32).powi(2)).sum::<f32>().sqrt();
                assert!(d > 60.0, "colours {i} and {j} too close: {a:?} {b:?} (distance {d})");
            }
        }
        assert_eq!(GENRE_COLOURS.len(), GENRES.len());
    }

    #[test]
    fn window_size_is_part_of_the_saved_state() {
        use nice_plug::prelude::Params;
        let params = GenrescopeParams::default();
        *params.editor_size.write().unwrap() = Some((900.0, 640.0));
        let fields = params.serialize_fields();
        assert!(fields.contains_key("editor-size"), "{fields:?}");
        let restored = GenrescopeParams::default();
        restored.deserialize_fields(&fields);
        assert_eq!(*restored.editor_size.read().unwrap(), Some((900.0, 640.0)));
    }

    /// A host that takes parameter changes and does nothing with them.
    struct NoHost;

    // The trait's parameter setters are `unsafe fn` by nice-plug's design; ours ignore the pointer.
    #[allow(unsafe_code)]
    impl nice_plug::context::gui::GuiContextInner for NoHost {
        fn plugin_api(&self) -> nice_plug::context::PluginApi {
            nice_plug::context::PluginApi::Clap
        }
        unsafe fn raw_begin_set_parameter(&self, _: nice_plug::params::internals::ParamPtr) {}
        unsafe fn raw_set_parameter_normalized(&self, _: nice_plug::params::internals::ParamPtr, _: f32) {}
        unsafe fn raw_end_set_parameter(&self, _: nice_plug::params::internals::ParamPtr) {}
        fn get_state(&self) -> nice_plug::plugin::PluginState {
            nice_plug::plugin::PluginState {
                version: String::new(),
                params: Default::default(),
                fields: Default::default(),
            }
        }
        fn set_state(&self, _: nice_plug::plugin::PluginState) {}
        fn request_restart(&self) {}
    }

    #[test]
    fn layout_fits_the_window_at_default_host_and_minimum_sizes() {
        use crate::params::{EDITOR_MIN_SIZE, EDITOR_SIZE};
        let long = "model /a/very/long/path/that/goes/on/and/on/genrescope-model: this build cannot compute the \
                    features this model needs: front end not supported: unknown variant `cube_root`, expected \
                    `power_to_db` or `log10_one_plus`; audio passes through unanalysed";
        // Ardour 7.3 gives the editor exactly its requested size; a wider host window too.
        // With a model that has the out-of-set class (an eleventh meter, a longer legend and
        // headline), "other / unsure" claimed.
        for (w, h) in [EDITOR_SIZE, EDITOR_MIN_SIZE, (1000.0, 700.0)] {
            for (error, other) in [(false, false), (true, false), (false, true), (true, true)] {
                let shared = Arc::new(SharedState::default());
                for i in 0..200 {
                    shared.publish(point(i as f64 * 0.5, Some(i % 10), 0.6), -20.0);
                }
                if other {
                    shared.other_threshold.store(0.5, std::sync::atomic::Ordering::Relaxed);
                    let claim = genrescope_engine::Claim::Other;
                    shared.publish(HistoryPoint { time_s: 100.0, probs: [0.03; NUM_GENRES], other: 0.7, claim }, -20.0);
                }
                shared.set_model_info(
                    "genrescope-musicnn-gtzan (trunk + 3 members, /a/long/path/to/genrescope-model)".into(),
                );
                if error {
                    shared.set_error(long.into());
                }
                let mut ed = GenrescopeEditor::new(Arc::new(GenrescopeParams::default()), shared);
                // With a (dummy) host, so the sliders are drawn as in a DAW.
                ed.gui = Some(GuiContext::new(Arc::new(NoHost)));
                let ctx = egui::Context::default();
                // Fonts and panel sizes settle over the first frames.
                for _ in 0..4 {
                    let input = egui::RawInput {
                        screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), vec2(w, h))),
                        ..Default::default()
                    };
                    let _ = ctx.run_ui(input, |ui| ed.draw(ui));
                }
                let c = ed.content_rect();
                assert!(c.is_positive(), "{w}x{h}: nothing laid out");
                assert!(
                    c.max.x <= w + 0.5 && c.max.y <= h + 0.5,
                    "{w}x{h} (error shown: {error}, other: {other}): content reaches {:?}",
                    c.max
                );
            }
        }
    }

    #[test]
    fn editor_can_be_created_without_a_display() {
        // Only opening a window needs a display; the plugin's editor() just builds this.
        let editor = create(Arc::new(GenrescopeParams::default()), Arc::new(SharedState::default()));
        assert!(editor.is_some());
    }
}
